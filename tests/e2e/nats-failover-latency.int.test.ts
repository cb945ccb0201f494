import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names, partitionOf } from '@telecare/contracts';
import type { SimulatedDevice } from '@telecare/simulators';
import { OwnNatsCluster, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * How long a press takes to reach the helpline when it is made just after the node leading a
 * stream is killed (SIGKILL) on a three-node cluster with R3 streams: the leader election is
 * unavoidable, but nothing of the platform's may add to it. EVENTS' leader is killed for triage's
 * side (the gateway's publish and triage's alarm lanes), ALERTS' for the helpline's (its P1 loop).
 */

/** TELECARE_PARTITIONS as the platform runs here: a press per partition, each on lanes of its own. */
const PARTITIONS = 4;
/** A press this long after the kill: the election is under way, the clients not yet moved. */
const PRESS_AFTER_MS = 300;
/**
 * What a press may take beyond the new leaders of all it passes through: a busy two-core machine
 * runs every service and three servers.
 */
const MARGIN_MS = 3_000;

let cluster: OwnNatsCluster;
let platform: RunningPlatform;
let nc: NatsConnection;
let jsm: JetStreamManager;
/** Asks about the leader while there is none: a short timeout, so the new one is seen soon. */
let polling: JetStreamManager;
/** Two pendants per partition: one pressed through each failover. */
const devices: Array<{ residentId: string; partition: number; device: SimulatedDevice }> = [];

beforeAll(async () => {
  cluster = await OwnNatsCluster.start(3);
  platform = await startPlatform('failover', {
    NATS_URL: cluster.url,
    TELECARE_STREAM_REPLICAS: '3',
    TELECARE_PARTITIONS: String(PARTITIONS),
  });
  nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  jsm = await jetstreamManager(nc, { timeout: 1_000 });
  polling = await jetstreamManager(nc, { timeout: 500 });
  const stamp = Date.now().toString(36).toUpperCase();
  const perPartition = new Array<number>(PARTITIONS).fill(0);
  for (let i = 0; perPartition.some((count) => count < 2); i++) {
    if (i >= 100) throw new Error('residents do not spread over the partitions');
    // Registered all the same: the resident's id, and so its partition, is known only once made.
    const { residentId, device } = await addPendantHome(platform, `FOV-${stamp}-${i}`, {
      resendMs: 1_000,
      resendMaxMs: 2_000,
    });
    const partition = partitionOf(residentId, PARTITIONS);
    if ((perPartition[partition] ?? 0) >= 2) {
      await device.close();
      continue;
    }
    perPartition[partition] = (perPartition[partition] ?? 0) + 1;
    devices.push({ residentId, partition, device });
  }
}, 120_000);

afterAll(async () => {
  for (const { device } of devices) await device.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await platform?.stop().catch(() => undefined);
  await cluster?.destroy();
}, 90_000);

const openCases = async (): Promise<Case[]> => platform.helplineGet<Case[]>('/api/cases?state=open');

interface Failover {
  /** From the kill to the last new leader of what a press passes through (see `pressThroughFailover`). */
  readonly electedMs: number;
  /** From the kill to the last of the presses' cases on `/api/cases`. */
  readonly caseMs: number;
  /** From the kill to each new leader, by stream (and consumer): which election came last. */
  readonly leaders: string;
}

/**
 * Moves the leader of `stream` to the node named `node`: a stepdown has the others elect one of
 * themselves, so it is asked until the one wanted is elected.
 */
async function leadOn(stream: string, node: string): Promise<void> {
  for (let tries = 0; tries < 12; tries++) {
    const leader = await waitFor(() => leaderOf(jsm, { stream }), {
      what: `a leader of ${stream}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    if (leader === node) return;
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 5_000 });
    await waitFor(async () => ((await leaderOf(jsm, { stream })) ?? leader) !== leader, {
      what: `another leader of ${stream}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  }
  throw new Error(`${node} was not elected leader of ${stream}`);
}

/** A stream, or a consumer of it, that a press passes through: its leader may be elected anew. */
interface Raft {
  readonly stream: string;
  readonly consumer?: string;
}

const leaderOf = async (manager: JetStreamManager, { stream, consumer }: Raft) =>
  (consumer ? await manager.consumers.info(stream, consumer) : await manager.streams.info(stream)).cluster
    ?.leader;

/**
 * Kills the node leading `stream`, presses a pendant in every partition a moment later (each is
 * read by lanes of its own, and a lane stuck on the failover shows in its partition alone), and
 * times from the kill the last case and the last new leader among `stream` and `needed` (triage's
 * lease bucket, as a partition is read only under its lease; the alarm lanes' consumers; the
 * helpline's P1 consumer), each of which elects its own. Then starts the node again and waits until
 * it is current. `round` picks the pendants (one per partition and round); `colocate` moves the
 * leaders of the streams in `needed` to the node first.
 */
async function pressThroughFailover(
  stream: string,
  round: number,
  needed: readonly Raft[],
  colocate: boolean,
): Promise<Failover> {
  const pressed = Array.from({ length: PARTITIONS }, (_, partition) => {
    const found = devices.filter((d) => d.partition === partition)[round];
    if (!found) throw new Error(`no pendant ${round} in partition ${partition}`);
    return found;
  });
  const before = await jsm.streams.info(stream);
  const leaderName = before.cluster?.leader ?? '';
  const leader = cluster.indexOf(leaderName);
  expect(leader).toBeGreaterThanOrEqual(0);
  if (colocate) for (const other of needed) if (!other.consumer) await leadOn(other.stream, leaderName);

  await cluster.killNode(leader);
  const killedAt = performance.now();
  const waiting = new Set<Raft>([{ stream }, ...needed]);
  const electedAt = new Map<string, number>();
  const elected = waitFor(
    async () => {
      // Asked together: one without a leader waits out its timeout without holding up the others.
      await Promise.allSettled(
        [...waiting].map(async (raft) => {
          const now = await leaderOf(polling, raft);
          if (now && now !== leaderName) {
            waiting.delete(raft);
            electedAt.set(raft.consumer ?? raft.stream, performance.now() - killedAt);
          }
        }),
      );
      return waiting.size === 0 ? performance.now() - killedAt : undefined;
    },
    // A loaded two-core machine has taken over 40 s to elect them all.
    { what: 'new leaders of all a press passes through', timeoutMs: 120_000, intervalMs: 20 },
  );
  // Awaited once the presses are sent: a failure meanwhile is not an unhandled rejection.
  elected.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, PRESS_AFTER_MS));
  const acked = Promise.all(pressed.map(({ device }) => device.send('pendant.pressed')));
  // The elections first: a press cannot pass a stream or a consumer with no leader, so a case that
  // does not come is told apart from an election that did not end.
  const electedMs = await elected;
  const caseMs = await waitFor(
    async () => {
      const open = new Set((await openCases()).map((c) => c.residentId));
      return pressed.every((d) => open.has(d.residentId)) ? performance.now() - killedAt : undefined;
    },
    {
      what: `the cases of the presses made during the failover (new leaders after ${electedMs.toFixed(0)} ms)`,
      timeoutMs: MARGIN_MS + 30_000,
      intervalMs: 50,
    },
  );
  await acked;
  const leaders = [...electedAt]
    .sort(([, a], [, b]) => a - b)
    .map(
      ([raft, ms]) => `${raft.replace(new RegExp(`${platform.namespace}[-_]?`, 'i'), '')} ${ms.toFixed(0)}`,
    )
    .join(', ');

  await cluster.startNode(leader);
  await waitFor(
    async () => {
      const replicas = (await jsm.streams.info(stream)).cluster?.replicas ?? [];
      return replicas.length === 2 && replicas.every((r) => r.current) ? true : undefined;
    },
    { what: 'the restarted node to be current again', timeoutMs: 60_000, intervalMs: 250 },
  );
  return { electedMs, caseMs, leaders };
}

describe('a press made during a NATS cluster failover', () => {
  // The node leading EVENTS is made to lead triage's lease bucket too: its election is the leases'.
  it.each([
    ['EVENTS', 'events', 0, true],
    ['ALERTS', 'alerts', 1, false],
  ] as const)(
    'reaches the helpline within a few seconds of the new leader of %s',
    async (label, stream, round, colocate) => {
      const n = names(platform.namespace);
      const { electedMs, caseMs, leaders } = await pressThroughFailover(
        n.streams[stream],
        round,
        [
          // Every press is stored on EVENTS: its node may lead it too when ALERTS' leader is killed.
          ...(stream === 'events' ? [] : [{ stream: n.streams.events }]),
          { stream: `KV_${n.kv.triageLeases}` },
          ...Array.from({ length: PARTITIONS }, (_, p) => ({
            stream: n.streams.events,
            consumer: `triage-alarm-p${p}-pendant-pressed`,
          })),
          { stream: n.streams.alerts, consumer: 'helpline-p1' },
        ],
        colocate,
      );
      console.log(
        `${label} failover: new leaders after ${electedMs.toFixed(0)} ms, last case after ${caseMs.toFixed(0)} ms (${leaders})`,
      );
      expect(caseMs).toBeLessThan(Math.max(electedMs, PRESS_AFTER_MS) + MARGIN_MS);
    },
    300_000,
  );
});

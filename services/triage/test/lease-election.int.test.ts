import { names, partitionOf } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  ensureStreams,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
  sleep,
} from '@telecare/platform';
import { cleanupNamespace, OwnNatsCluster, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle } from '../src/index.ts';
import { LEASE_RULES, makeEvent, publishEvent, T0 } from './support.ts';

/**
 * Two triage instances share the partitions on a three-node cluster (R3 streams and buckets), and
 * the node leading the lease bucket is killed (SIGKILL). The bucket's election (nats-server 2.9: 4
 * to 9 s after the kill, longer under load) outlasts the renewals of a 4 s lease, and mostly the
 * lease too. Nobody can write the bucket meanwhile, so nobody can take another's lease: the
 * partitions go on being evaluated through it, and once the bucket answers again the instances
 * settle who holds what, a partition listed by both for a moment at most.
 */
const PARTITIONS = 2;
const LEASE_S = 4;
/**
 * Events published this long after the kill: a lease of 4 s renewed every 250 ms was given up by
 * then, when it was still given up after three renewal intervals and a drain (2.75 s).
 */
const PUBLISH_AFTER_MS = 3_000;
/** How long a partition may be listed by both instances once the bucket answers: a round or two. */
const OVERLAP_MS = 1_500;

const logger = createLogger('triage-lease-election-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ns = uniqueNamespace('leaseelect');
const n = names(ns);
let cluster: OwnNatsCluster;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Asks about leaders while there may be none: a short timeout. */
let polling: JetStreamManager;
const instances: TriageHandle[] = [];
/** When each resident's first alert reached ALERTS, as the test's own connection heard it. */
const alertedAt = new Map<string, number>();

beforeAll(async () => {
  cluster = await OwnNatsCluster.start(3);
  nc = await connectNats({ url: cluster.url, name: 'lease-election-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc, { timeout: 2_000 });
  polling = await jetstreamManager(nc, { timeout: 500 });
  // Just started, the cluster may not place three replicas yet ("no suitable peers").
  await waitFor(
    () =>
      ensureStreams(jsm, n, ['events'], { replicas: 3 }).then(
        () => true,
        () => undefined,
      ),
    { what: 'the cluster placing R3 streams', timeoutMs: 60_000, intervalMs: 250 },
  );
  nc.subscribe(n.subjects.allAlerts, {
    callback: (_err, msg) => {
      const resident = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
      if (!alertedAt.has(resident)) alertedAt.set(resident, performance.now());
    },
  });
  const config = loadTriageConfig(
    serviceEnv(ns, {
      NATS_URL: cluster.url,
      TELECARE_STREAM_REPLICAS: '3',
      TELECARE_PARTITIONS: String(PARTITIONS),
      TRIAGE_PORT: '0',
      TRIAGE_RETRY_DELAY_MS: '100',
      TRIAGE_LEASE_TTL_S: String(LEASE_S),
      TRIAGE_LEASE_RENEW_MS: '250',
      // Fewer consumers to keep off the node killed: the leases are what is tested.
      TRIAGE_ALARM_LANE: 'false',
    }),
  );
  for (let i = 0; i < 2; i++)
    instances.push(await startTriage(config, { logger, clock: new ManualClock(T0), ruleSet: LEASE_RULES }));
}, 120_000);

afterAll(async () => {
  for (const triage of instances) await triage.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await cluster?.destroy();
  await cleanupNamespace(ns);
}, 90_000);

const partitionsOf = async (triage: TriageHandle): Promise<number[]> =>
  ((await (await fetch(`${triage.url}/readyz`)).json()) as { partitions: number[] }).partitions;

const leaderOf = async (manager: JetStreamManager, stream: string, consumer?: string) =>
  (consumer ? await manager.consumers.info(stream, consumer) : await manager.streams.info(stream)).cluster
    ?.leader;

/** Steps the leader of a stream (or a consumer) down until it is not on `node`. */
async function leadOff(node: string, stream: string, consumer?: string): Promise<void> {
  const api = consumer
    ? `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${consumer}`
    : `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`;
  for (let tries = 0; tries < 12; tries++) {
    const leader = await waitFor(() => leaderOf(jsm, stream, consumer), {
      what: `a leader of ${consumer ?? stream}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    if (leader !== node) return;
    await nc.request(api, undefined, { timeout: 5_000 });
    await waitFor(async () => ((await leaderOf(jsm, stream, consumer)) ?? leader) !== leader, {
      what: `another leader of ${consumer ?? stream}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  }
  throw new Error(`the leader of ${consumer ?? stream} stays on ${node}`);
}

/** A resident whose events go to `partition`. */
const residentOn = (partition: number, tag: string): string => {
  for (let i = 0; ; i++)
    if (partitionOf(`res_${tag}_${i}`, PARTITIONS) === partition) return `res_${tag}_${i}`;
};

describe('partition leases through an election of their bucket', () => {
  it('the partitions are evaluated while the lease bucket elects a leader for longer than the lease', async () => {
    const [a, b] = instances as [TriageHandle, TriageHandle];
    await waitFor(
      async () => {
        const [ofA, ofB] = await Promise.all([partitionsOf(a), partitionsOf(b)]);
        return ofA.length === 1 && ofB.length === 1 && ofA[0] !== ofB[0] ? true : undefined;
      },
      { what: 'the instances to split the partitions', timeoutMs: 30_000, intervalMs: 100 },
    );
    // Everything else the partitions need is led from the other nodes: the bucket's election is
    // the only one.
    const bucket = `KV_${n.kv.triageLeases}`;
    const node = (await leaderOf(jsm, bucket)) ?? '';
    for (const stream of await jsm.streams.names().next()) {
      if (stream === bucket) continue;
      await leadOff(node, stream);
      // The watches' ordered consumers have one replica and no election: each starts again by itself.
      for (const consumer of await jsm.consumers.list(stream).next())
        if (consumer.config.durable_name) await leadOff(node, stream, consumer.name);
    }
    expect(await leaderOf(jsm, bucket)).toBe(node);

    const killed = cluster.indexOf(node);
    let electedAt: number | undefined;
    // The bucket's new leader as JetStream advises it, on a link to a node that stays up: asked
    // for, it is seen later (a question waits up to its timeout while there is none), and the
    // instances settling who holds what once it answers would count as during the election.
    const advised = await connectNats({ url: cluster.urlOf((killed + 1) % 3), name: 'advisories', logger });
    advised.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${bucket}`, {
      callback: () => {
        electedAt ??= performance.now();
      },
    });
    await advised.flush();
    await cluster.killNode(killed);
    const killedAt = performance.now();
    const samples: Array<{ at: number; owners: number[][] }> = [];
    let sampling = true;
    const sampled = Promise.all([
      (async () => {
        while (sampling) {
          samples.push({
            at: performance.now(),
            owners: await Promise.all([partitionsOf(a), partitionsOf(b)]),
          });
          await sleep(50);
        }
      })(),
      (async () => {
        while (sampling && electedAt === undefined) {
          const leader = await leaderOf(polling, bucket).catch(() => undefined);
          if (leader && leader !== node) electedAt = performance.now();
          else await sleep(20);
        }
      })(),
    ]);
    const residents = Array.from({ length: PARTITIONS }, (_, p) => residentOn(p, `${ns}_${p}`));
    let publishedAt = 0;
    let duringElection = false;
    try {
      await sleep(PUBLISH_AFTER_MS);
      publishedAt = performance.now();
      duringElection = electedAt === undefined;
      for (const [i, residentId] of residents.entries())
        await publishEvent(
          js,
          n,
          makeEvent({ residentId, type: 'flood.detected', deviceEventId: `le-${i}`, partitions: PARTITIONS }),
        );
      await waitFor(() => residents.every((r) => alertedAt.has(r)), {
        what: 'the alerts of the events published during the election',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      await waitFor(() => electedAt, {
        what: 'a new leader of the lease bucket',
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      // Settled: each partition held by one instance.
      await waitFor(
        async () => {
          const all = (await Promise.all([partitionsOf(a), partitionsOf(b)])).flat();
          return all.length === PARTITIONS && new Set(all).size === PARTITIONS ? true : undefined;
        },
        { what: 'the instances to hold each partition once', timeoutMs: 30_000, intervalMs: 100 },
      );
      await sleep(1_000);
    } finally {
      sampling = false;
      await sampled;
      await advised.close();
      await cluster.startNode(killed);
    }
    const elected = electedAt ?? 0;

    console.log(
      `${duringElection ? '' : '(election over before the events) '}lease bucket elected ${(elected - killedAt).toFixed(0)} ms after the kill; events published after ${(
        publishedAt - killedAt
      ).toFixed(
        0,
      )} ms, alerted after ${residents.map((r) => ((alertedAt.get(r) ?? 0) - killedAt).toFixed(0)).join(', ')} ms`,
    );
    // Evaluated while the bucket had no leader (unless it was quicker than the test's events).
    if (duringElection)
      for (const resident of residents) expect(alertedAt.get(resident)).toBeLessThan(elected);
    // The instances kept their partitions through it.
    for (const { at, owners } of samples)
      if (at < elected) expect(new Set(owners.flat()).size, `partitions held at ${at - killedAt} ms`).toBe(2);
    // After it, a partition is listed by both instances for a moment at most.
    for (let p = 0; p < PARTITIONS; p++) {
      let since: number | undefined;
      for (const { at, owners } of samples) {
        const both = owners.every((held) => held.includes(p));
        if (both) since ??= at;
        else since = undefined;
        if (since !== undefined)
          expect(at - since, `partition ${p} held by both at ${at - killedAt} ms`).toBeLessThan(OVERLAP_MS);
      }
    }
  }, 180_000);
});

import { Alert, names } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
  sleep,
} from '@telecare/platform';
import {
  cleanupNamespace,
  OwnNatsCluster,
  serviceEnv,
  stepDownUntil,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle } from '../src/index.ts';
import { LEASE_RULES, makeEvent, publishEvent, T0 } from './support.ts';

/**
 * Triage on a three-node cluster (R3 streams) whose node leading ALERTS is killed (SIGKILL), all
 * else led from the nodes that live. Events read meanwhile cannot have their alerts stored: each
 * is tried again after the retry delay (2 s here), on the alarm lanes and the partition lane alike.
 * The advisory of ALERTS' new leader ends those waits: every alert is stored within moments of it.
 */
const ns = uniqueNamespace('alertelect');
const n = names(ns);
const logger = createLogger('triage-alert-leader-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** Residents, each with an event of their own: presses (alarm lanes) and floods (the partition lane). */
const RESIDENTS = 6;
/** From the advisory to an alert stored: tens of ms; a loaded two-core machine's margin. */
const STORED_WITHIN_MS = 600;
/** The node everything of the test's own connects to; ALERTS is led elsewhere. */
const STAYS = 0;

let cluster: OwnNatsCluster;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let triage: TriageHandle | undefined;

beforeAll(async () => {
  cluster = await OwnNatsCluster.start(3);
  nc = await connectNats({ url: cluster.urlOf(STAYS), name: 'alert-leader-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc, { timeout: 2_000 });
  const config = loadTriageConfig(
    serviceEnv(ns, {
      NATS_URL: cluster.urlOf(STAYS),
      TELECARE_STREAM_REPLICAS: '3',
      TELECARE_PARTITIONS: '1',
      TRIAGE_PORT: '0',
      TRIAGE_RETRY_DELAY_MS: '2000',
    }),
  );
  // Just started, the cluster may not place three replicas yet.
  triage = await waitFor(
    () =>
      startTriage(config, { logger, clock: new ManualClock(T0), ruleSet: LEASE_RULES }).catch(
        () => undefined,
      ),
    { what: 'triage started on the R3 streams', timeoutMs: 60_000, intervalMs: 500 },
  );
  await waitFor(
    async () =>
      ((await (await fetch(`${triage?.url}/readyz`)).json()) as { partitions: number[] }).partitions
        .length === 1
        ? true
        : undefined,
    { what: 'triage to hold the partition', timeoutMs: 30_000, intervalMs: 100 },
  );
}, 120_000);

afterAll(async () => {
  await triage?.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await cluster?.destroy();
  await cleanupNamespace(ns);
}, 60_000);

describe('triage while ALERTS elects a new leader', () => {
  it('stores the alerts it could not store meanwhile as soon as ALERTS has one', async () => {
    const stays = `node-${STAYS + 1}`;
    const lost = await stepDownUntil(nc, (leader) => leader !== stays, n.streams.alerts);
    // ALERTS' election is the only one: everything else is led from the nodes that live.
    for (const stream of await jsm.streams.names().next()) {
      if (stream === n.streams.alerts) continue;
      await stepDownUntil(nc, (leader) => leader !== lost, stream);
      for (const consumer of await jsm.consumers.list(stream).next())
        if (consumer.config.durable_name)
          await stepDownUntil(nc, (leader) => leader !== lost, stream, consumer.name);
    }

    let electedAt: number | undefined;
    nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${n.streams.alerts}`, {
      callback: () => {
        electedAt ??= Date.now();
      },
    });
    await nc.flush();
    await cluster.killNode(cluster.indexOf(lost));
    const killedAt = Date.now();
    try {
      await sleep(300);
      // One after another, so their retries are out of step.
      for (let i = 0; i < RESIDENTS; i++) {
        await publishEvent(
          js,
          n,
          makeEvent({
            residentId: `res_${ns}_${i}`,
            type: i % 2 === 0 ? 'pendant.pressed' : 'flood.detected',
            deviceEventId: `ae-${i}`,
            partitions: 1,
          }),
        );
        await sleep(300);
      }
      const elected = await waitFor(() => electedAt, {
        what: 'the advisory of the new leader',
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      // When ALERTS stored each resident's first alert (its own clock, as the advisory's).
      const storedAt = await waitFor(
        async () => {
          const info = await jsm.streams.info(n.streams.alerts);
          const first = new Map<string, number>();
          for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
            const msg = await jsm.streams.getMessage(n.streams.alerts, { seq });
            const alert = Alert.parse(msg?.json());
            if (msg && !first.has(alert.residentId)) first.set(alert.residentId, msg.time.getTime());
          }
          return first.size === RESIDENTS ? [...first.values()] : undefined;
        },
        { what: 'an alert of every resident stored', timeoutMs: 60_000, intervalMs: 100 },
      );
      const after = storedAt.map((at) => at - elected);
      console.log(
        `ALERTS elected ${elected - killedAt} ms after the kill; alerts stored after it: ${after.join(', ')} ms`,
      );
      // Read during the election: none stored before it.
      for (const ms of after) expect(ms).toBeGreaterThanOrEqual(0);
      for (const ms of after) expect(ms).toBeLessThan(STORED_WITHIN_MS);
    } finally {
      await cluster.startNode(cluster.indexOf(lost));
    }
  }, 120_000);
});

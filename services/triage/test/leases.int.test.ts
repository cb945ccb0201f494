import type { ChildProcess } from 'node:child_process';
import { type EventType, names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle, timerBucket } from '../src/index.ts';
import {
  makeEvent as buildEvent,
  drained,
  LEASE_RULES,
  metricValue,
  publishEvent,
  readAlerts,
  scrape,
  spawnTriage,
  T0,
} from './support.ts';

const ns = uniqueNamespace('leases');
const n = names(ns);
const PARTITIONS = 6;
const logger = createLogger('triage-leases-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const clock = new ManualClock(T0);
/** Short leases: a crashed instance's partitions are free within 3 s; rounds every 500 ms. */
const env = serviceEnv(ns, {
  TRIAGE_PORT: '0',
  TELECARE_PARTITIONS: String(PARTITIONS),
  TRIAGE_RETRY_DELAY_MS: '100',
  TRIAGE_ACK_WAIT_S: '2',
  TRIAGE_LEASE_TTL_S: '3',
});
const config = loadTriageConfig(env);

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const running = new Set<TriageHandle>();
let child: ChildProcess | undefined;

const start = async (): Promise<TriageHandle> => {
  const triage = await startTriage(config, { logger, clock, ruleSet: LEASE_RULES });
  running.add(triage);
  return triage;
};
const stop = async (triage: TriageHandle): Promise<void> => {
  running.delete(triage);
  await triage.close();
};

/** A triage instance in a process of its own, to be killed. */
async function startChild(): Promise<{ url: string; kill(): void }> {
  const spawned = await spawnTriage(env, clock.now());
  child = spawned.process;
  return spawned;
}

interface Owned {
  readonly instance: string;
  readonly partitions: number[];
  readonly area: boolean;
}
const ownedBy = async (url: string): Promise<Owned> =>
  (await fetch(`${url}/readyz`)).json() as Promise<Owned>;

/** Waits until the instances hold every partition once, each its fair share or less, one the area lanes. */
async function waitForSplit(urls: readonly string[], what: string): Promise<Owned[]> {
  const fair = Math.ceil(PARTITIONS / urls.length);
  return waitFor(
    async () => {
      const owned = await Promise.all(urls.map(ownedBy));
      const all = owned.flatMap((o) => o.partitions);
      const split =
        all.length === PARTITIONS &&
        new Set(all).size === PARTITIONS &&
        owned.every((o) => o.partitions.length <= fair) &&
        owned.filter((o) => o.area).length === 1;
      return split ? owned : undefined;
    },
    { what, timeoutMs: 15_000, intervalMs: 100 },
  );
}

/** `count` resident ids whose events go to `partition`. */
function residentsOn(partition: number, count: number, tag: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const id = `res_${tag}_${i}`;
    if (partitionOf(id, PARTITIONS) === partition) out.push(id);
  }
  return out;
}

let seq = 0;
const event = (residentId: string, type: EventType): TelecareEvent => ({
  ...buildEvent({
    residentId,
    type,
    deviceEventId: `ls-${++seq}`,
    partitions: PARTITIONS,
    serial: `DV-${seq}`,
  }),
  time: new Date(clock.now() - 1_000).toISOString(),
});

/** Alerts of a type per resident: each resident must appear once. */
async function alertCounts(type: EventType): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { alert } of await readAlerts(jsm, n))
    if (alert.type === type) counts.set(alert.residentId, (counts.get(alert.residentId) ?? 0) + 1);
  return counts;
}

async function waitForAlertsOnce(type: EventType, residents: readonly string[], what: string): Promise<void> {
  const counts = await waitFor(
    async () => {
      const counts = await alertCounts(type);
      return residents.every((r) => counts.has(r)) ? counts : undefined;
    },
    { what, timeoutMs: 15_000, intervalMs: 100 },
  );
  for (const resident of residents) expect(counts.get(resident), resident).toBe(1);
}

const sumOf = async (urls: readonly string[], line: RegExp): Promise<number> => {
  let sum = 0;
  for (const url of urls) sum += metricValue(await scrape(url), line);
  return sum;
};

const EVALUATED = /^triage_events_evaluated_total\{/;
const DUPLICATES = /^triage_events_duplicate_total\{/;
const DEDUPLICATED = /^triage_alerts_deduplicated_total\{/;

let a: TriageHandle;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-leases-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  child?.kill('SIGKILL');
  for (const triage of running) await triage.close();
  await openBucket(nc, timerBucket(n))
    .then((kv) => kv.destroy())
    .catch(() => undefined);
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('partition leases: several triage instances in one namespace', () => {
  it('two instances split the partitions, and each event on every partition alerts exactly once', async () => {
    a = await start();
    // Alone, it takes everything at start-up.
    expect(await ownedBy(a.url)).toMatchObject({ partitions: [0, 1, 2, 3, 4, 5], area: true });
    const b = await start();
    const [ownedA, ownedB] = await waitForSplit([a.url, b.url], 'the second instance to get its share');
    expect(await (await fetch(`${b.url}/readyz`)).json()).toMatchObject({
      status: 'ready',
      checks: { leases: true, partitions: true },
    });
    expect(ownedA?.partitions).toHaveLength(3);
    expect(ownedB?.partitions).toHaveLength(3);
    expect(ownedA?.instance).not.toBe(ownedB?.instance);

    const floods = Array.from({ length: PARTITIONS }, (_, p) => residentsOn(p, 2, 'split')).flat();
    const presses = Array.from({ length: PARTITIONS }, (_, p) => residentsOn(p, 1, 'press')).flat();
    for (const resident of floods) await publishEvent(js, n, event(resident, 'flood.detected'));
    for (const resident of presses) await publishEvent(js, n, event(resident, 'pendant.pressed'));
    await drained(jsm, n, PARTITIONS);
    await waitForAlertsOnce('flood.detected', floods, 'a flood alert per resident');
    await waitForAlertsOnce('pendant.pressed', presses, 'a press alert per resident');

    // Each event evaluated once, in one instance: a press by its alarm lane, then seen again (a
    // duplicate) by its partition lane; no alert was published twice.
    const urls = [a.url, b.url];
    expect(await sumOf(urls, EVALUATED)).toBe(floods.length + presses.length);
    expect(await sumOf(urls, DUPLICATES)).toBe(presses.length);
    expect(await sumOf(urls, DEDUPLICATED)).toBe(0);
    for (const url of urls) expect(metricValue(await scrape(url), EVALUATED)).toBeGreaterThan(0);
    expect(metricValue(await scrape(b.url), /^triage_partitions_owned\{/)).toBe(3);

    // A graceful stop: B drains and gives its leases back; A takes them at once (no lease time).
    const duePerPartition = Array.from({ length: PARTITIONS }, (_, p) => residentsOn(p, 1, 'dose')).flat();
    for (const resident of duePerPartition) await publishEvent(js, n, event(resident, 'medication.due'));
    await drained(jsm, n, PARTITIONS);
    const stoppedAt = Date.now();
    await stop(b);
    await waitForSplit([a.url], 'A to take the stopped instance’s partitions');
    expect(Date.now() - stoppedAt).toBeLessThan(2_500);

    // The pending timers of every partition, B's included, fire from A.
    clock.advance(11 * 60_000);
    await waitForAlertsOnce('medication.missed', duePerPartition, 'every medication timer to fire');

    // Dozens of rounds by now, and the lease bucket holds a watch per instance, not a consumer
    // per round (the server keeps each for five minutes, and recovers them all at a restart).
    let consumers = 0;
    for await (const _ of jsm.consumers.list(`KV_${n.kv.triageLeases}`)) consumers++;
    expect(consumers).toBeLessThanOrEqual(2);
  });

  it('a crashed instance’s partitions are taken over once its leases expire, with their timers', async () => {
    const c = await startChild();
    const [, ownedC] = await waitForSplit([a.url, c.url], 'the child instance to get its share');
    const partitionsOfC = ownedC?.partitions ?? [];
    expect(partitionsOfC).toHaveLength(3);

    // Timers set by C, for residents of C's partitions.
    const doses = partitionsOfC.flatMap((p) => residentsOn(p, 1, 'crashdose'));
    for (const resident of doses) await publishEvent(js, n, event(resident, 'medication.due'));
    await drained(jsm, n, PARTITIONS);

    c.kill();
    const killedAt = Date.now();
    // Events for C's partitions while nobody runs them wait in EVENTS.
    const floods = partitionsOfC.flatMap((p) => residentsOn(p, 2, 'crashflood'));
    for (const resident of floods) await publishEvent(js, n, event(resident, 'flood.detected'));

    await waitForSplit([a.url], 'A to take the crashed instance’s partitions');
    // Nothing was given back: A waited for the leases to expire (3 s after C's last renewal).
    expect(Date.now() - killedAt).toBeGreaterThan(2_000);
    await waitForAlertsOnce('flood.detected', floods, 'the waiting events to alert');

    clock.advance(11 * 60_000);
    await waitForAlertsOnce('medication.missed', doses, 'the crashed instance’s timers to fire');
    expect(
      metricValue(await scrape(a.url), /^triage_leases_taken_total\{lease="partition"/),
    ).toBeGreaterThanOrEqual(PARTITIONS + 3);
  });

  it('a second and a third instance joining mid-stream rebalance with no alert lost or repeated', async () => {
    const before = await scrape(a.url);
    const residents = Array.from({ length: 240 }, (_, i) => `res_stream_${i}`);
    let b: TriageHandle | undefined;
    let c: TriageHandle | undefined;
    for (const [i, resident] of residents.entries()) {
      await publishEvent(js, n, event(resident, 'flood.detected'));
      if (i === 40) b = await start();
      if (i === 120) c = await start();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (!b || !c) throw new Error('not started');
    const urls = [a.url, b.url, c.url];
    const owned = await waitForSplit(urls, 'three instances to share the partitions');
    expect(owned.map((o) => o.partitions.length)).toEqual([2, 2, 2]);
    await drained(jsm, n, PARTITIONS);
    await waitForAlertsOnce('flood.detected', residents, 'a flood alert per resident');

    // Evaluated once each across the three instances, through two handovers.
    const evaluatedByA = metricValue(await scrape(a.url), EVALUATED) - metricValue(before, EVALUATED);
    const evaluatedByOthers = await sumOf([b.url, c.url], EVALUATED);
    expect(evaluatedByA + evaluatedByOthers).toBe(residents.length);
    expect(metricValue(await scrape(a.url), DUPLICATES) - metricValue(before, DUPLICATES)).toBe(0);
    expect(await sumOf([b.url, c.url], DUPLICATES)).toBe(0);
    expect(
      metricValue(await scrape(a.url), /^triage_leases_released_total\{lease="partition"/),
    ).toBeGreaterThan(0);
    await stop(c);
    await stop(b);
  }, 60_000);

  it('a lease taken from under an instance stops that partition at once; it is taken back once free', async () => {
    await waitForSplit([a.url], 'A alone again');
    const leases = await openBucket(nc, n.kv.triageLeases);
    // Another writer moves the key on: A's next renewal (compare-and-set) is refused.
    await leases.put('partition.0', JSON.stringify({ owner: 'someone-else' }));
    await waitFor(async () => !(await ownedBy(a.url)).partitions.includes(0), {
      what: 'A to stop partition 0',
      timeoutMs: 2_000,
    });
    expect(metricValue(await scrape(a.url), /^triage_leases_lost_total\{lease="partition"/)).toBe(1);
    const [resident = ''] = residentsOn(0, 1, 'lost');
    await publishEvent(js, n, event(resident, 'flood.detected'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await alertCounts('flood.detected')).has(resident)).toBe(false);
    // The foreign lease is not renewed: it expires and A takes partition 0 again.
    await waitForSplit([a.url], 'A to take partition 0 back');
    await waitForAlertsOnce('flood.detected', [resident], 'the event that waited');
  });
});

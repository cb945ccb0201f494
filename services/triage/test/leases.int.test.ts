import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
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
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
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
/** What the instances in this process said of their leases: why one was lost, which were given back. */
const leaseLog: Array<{ instance?: string; lease?: string; why?: string; msg: string }> = [];
const logger = createLogger('triage-leases-test', 'info', {
  write: (line: string) => {
    if (line.includes('"component":"leases"')) leaseLog.push(JSON.parse(line));
  },
});
/**
 * How long a wait may take before the test calls it stuck. Every wait here is for a condition, so
 * a quiet machine never spends it; on a busy one a lease round, a drain or a process start may
 * take many times its quiet time.
 */
const PATIENCE_MS = 45_000;
/** A test's own bound: past the waits it makes, so that a wait that fails says what it waited for. */
const TEST_TIMEOUT_MS = 4 * PATIENCE_MS;
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

/**
 * What the instances own, once they hold every partition once, each its fair share or less, and
 * one of them the area lanes.
 */
async function split(urls: readonly string[]): Promise<Owned[] | undefined> {
  const fair = Math.ceil(PARTITIONS / urls.length);
  const owned = await Promise.all(urls.map(ownedBy));
  const all = owned.flatMap((o) => o.partitions);
  const whole =
    all.length === PARTITIONS &&
    new Set(all).size === PARTITIONS &&
    owned.every((o) => o.partitions.length <= fair) &&
    owned.filter((o) => o.area).length === 1;
  return whole ? owned : undefined;
}

const waitForSplit = (urls: readonly string[], what: string): Promise<Owned[]> =>
  waitFor(() => split(urls), { what, timeoutMs: PATIENCE_MS, intervalMs: 100 });

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

/** The residents with any alert in ALERTS: one request however many alerts there are. */
async function residentsAlerted(): Promise<Set<string>> {
  const info = await jsm.streams.info(n.streams.alerts, { subjects_filter: n.subjects.allAlerts });
  return new Set(Object.keys(info.state.subjects ?? {}).map((s) => s.slice(s.lastIndexOf('.') + 1)));
}

/** Alerts of a type per resident: each resident must appear once. */
async function alertCounts(type: EventType): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { alert } of await readAlerts(jsm, n))
    if (alert.type === type) counts.set(alert.residentId, (counts.get(alert.residentId) ?? 0) + 1);
  return counts;
}

/** Waits until every resident has an alert, then reads them all: one of the type each. */
async function waitForAlertsOnce(type: EventType, residents: readonly string[], what: string): Promise<void> {
  await waitFor(
    async () => {
      const alerted = await residentsAlerted();
      return residents.every((r) => alerted.has(r));
    },
    { what, timeoutMs: PATIENCE_MS, intervalMs: 100 },
  );
  const counts = await alertCounts(type);
  for (const resident of residents) expect(counts.get(resident), resident).toBe(1);
}

const sumOf = async (urls: readonly string[], line: RegExp): Promise<number> => {
  let sum = 0;
  for (const url of urls) sum += metricValue(await scrape(url), line);
  return sum;
};

const EVALUATED = /^triage_events_evaluated_total\{/;
const LOST = /^triage_leases_lost_total\{lease="partition"/;
const LOST_MSG = 'lease lost: its work stops now';
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

describe('partition leases: several triage instances in one namespace', { timeout: TEST_TIMEOUT_MS }, () => {
  it('two instances split the partitions, and each event on every partition alerts exactly once', async () => {
    a = await start();
    // Alone, it takes everything (in its first round, unless a take's answer is late on a busy machine).
    expect(await waitForSplit([a.url], 'A alone to take everything')).toMatchObject([
      { partitions: [0, 1, 2, 3, 4, 5], area: true },
    ]);
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

    // A graceful stop: B drains and gives its leases back, free at once rather than a lease time
    // later; A takes them.
    const duePerPartition = Array.from({ length: PARTITIONS }, (_, p) => residentsOn(p, 1, 'dose')).flat();
    for (const resident of duePerPartition) await publishEvent(js, n, event(resident, 'medication.due'));
    await drained(jsm, n, PARTITIONS);
    await stop(b);
    // B gave back (deleted) every lease once drained rather than leaving them to run out.
    const givenBack = leaseLog
      .filter((r) => r.instance === ownedB?.instance && r.msg === 'lease released')
      .map((r) => r.lease);
    const heldByB = [
      ...(ownedB?.partitions ?? []).map((p) => `partition.${p}`),
      ...(ownedB?.area ? ['area'] : []),
    ];
    expect(givenBack.sort()).toEqual(heldByB.sort());
    await waitForSplit([a.url], 'A to take the stopped instance’s partitions');

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
    // Killed whatever happens, so that a failure here leaves the next test A and its own instances.
    onTestFinished(() => c.kill());
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
    // Counted from here: whatever an earlier test left in EVENTS is evaluated first.
    await drained(jsm, n, PARTITIONS);
    const before = await scrape(a.url);
    const residents: string[] = [];
    /**
     * Publishes a flood a resident, 10 ms apart, until `settled` holds (checked every ten) and
     * `after` more have gone: the stream runs on through each handover however long it takes.
     */
    const publishUntil = async (settled: () => Promise<unknown>, after: number, what: string) => {
      const deadline = Date.now() + PATIENCE_MS;
      let past = -1;
      for (let i = 0; past < after; i++) {
        const resident = `res_stream_${residents.length}`;
        residents.push(resident);
        await publishEvent(js, n, event(resident, 'flood.detected'));
        await sleep(10);
        if (past >= 0) past++;
        else if (i % 10 === 9 && (await settled().catch(() => undefined))) past = 0;
        else if (Date.now() > deadline) throw new Error(`timed out publishing until ${what}`);
      }
    };
    await publishUntil(async () => true, 30, 'the first events');
    const b = await start();
    onTestFinished(() => stop(b));
    await publishUntil(() => split([a.url, b.url]), 40, 'A and B to share the partitions');
    const c = await start();
    onTestFinished(() => stop(c));
    await publishUntil(() => split([a.url, b.url, c.url]), 40, 'three instances to share the partitions');
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
  });

  it('a lease taken from under an instance stops that partition at once; it is taken back once free', async () => {
    const { instance } = await waitForSplit([a.url], 'A alone again').then(([o]) => o ?? { instance: '' });
    const lostBefore = metricValue(await scrape(a.url), LOST);
    const logged = leaseLog.length;
    const leases = await openBucket(nc, n.kv.triageLeases);
    // Another writer moves the key on: A's next renewal (compare-and-set) is refused. It renews
    // that lease until the test lets it go, so A cannot take it back however slowly this runs.
    const foreign = JSON.stringify({ owner: 'someone-else' });
    await leases.put('partition.0', foreign);
    let holding = true;
    const renewing = (async () => {
      while (holding) {
        await sleep(250);
        if (holding) await leases.put('partition.0', foreign);
      }
    })();
    onTestFinished(() => {
      holding = false;
      return renewing;
    });
    await waitFor(async () => !(await ownedBy(a.url)).partitions.includes(0), {
      what: 'A to stop partition 0',
      timeoutMs: PATIENCE_MS,
    });
    // At the refused renewal or, should A's rounds be starved meanwhile, by its watchdog once it
    // could no longer be sure of the lease: one loss of partition 0 either way.
    const lost = leaseLog.slice(logged).filter((r) => r.instance === instance && r.msg === LOST_MSG);
    expect(lost.filter((r) => r.lease === 'partition.0')).toHaveLength(1);
    expect(metricValue(await scrape(a.url), LOST) - lostBefore).toBe(lost.length);

    // While the other holds it, A runs every partition but 0: an event on 1 alerts, one on 0 waits.
    const [resident = ''] = residentsOn(0, 1, 'lost');
    const [elsewhere = ''] = residentsOn(1, 1, 'kept');
    await publishEvent(js, n, event(resident, 'flood.detected'));
    await publishEvent(js, n, event(elsewhere, 'flood.detected'));
    await waitForAlertsOnce('flood.detected', [elsewhere], 'the event on a partition A still runs');
    await sleep(500);
    expect((await alertCounts('flood.detected')).has(resident)).toBe(false);
    // The foreign lease is no longer renewed: it expires and A takes partition 0 again.
    holding = false;
    await renewing;
    await waitForSplit([a.url], 'A to take partition 0 back');
    await waitForAlertsOnce('flood.detected', [resident], 'the event that waited');
  });
});

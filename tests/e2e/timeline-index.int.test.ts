import { names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import {
  connectNats,
  createLogger,
  createRedis,
  ensureStreams,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import {
  cleanupNamespace,
  pendantEvent,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { consumerName, loadTriageConfig, startTriage, type TriageHandle } from '@telecare/triage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A case's device events timeline at a real partition's traffic: the resident's own events come
// from triage's per-resident index, however many other events their partition carries; without
// triage (or with an index that began inside the window) the partition is scanned, bounded.
// Real triage, helpline, NATS, Redis and PostgreSQL.

const PARTITIONS = 8;
/**
 * The most a scan reads, lowered from 20,000 so the test stays quick: the partition then carries
 * several times what a scan reads, as a real one carries several times 20,000 in a day.
 */
const SCAN = 1_000;
const OTHERS = 3 * SCAN;
const NEIGHBOURS = 300;
const HELPLINE_TRIAGE_TOKEN = 'test-helpline-triage-token-0123456789';

const ns = uniqueNamespace('timelineidx');
const n = names(ns);
const logger = createLogger('timeline-index-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const env = serviceEnv(ns, {
  TRIAGE_PORT: '0',
  HELPLINE_PORT: '0',
  TELECARE_PARTITIONS: String(PARTITIONS),
  HELPLINE_TRIAGE_TOKEN,
  HELPLINE_TIMELINE_SCAN: String(SCAN),
});
const admin = env.TELECARE_ADMIN_TOKEN as string;

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
let triage: TriageHandle | undefined;
let helpline: HelplineHandle;

/** Resident ids that share a partition with `of`. */
function samePartition(of: string, prefix: string, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++)
    if (partitionOf(`${prefix}${i}`, PARTITIONS) === partitionOf(of, PARTITIONS)) out.push(`${prefix}${i}`);
  return out;
}

let counter = 0;
const deviceEvent = (residentId: string, type: string, testmode = false): TelecareEvent =>
  pendantEvent({
    residentId,
    serial: `PEN-${residentId}`,
    type,
    key: `${ns}-${++counter}`,
    partitions: PARTITIONS,
    testmode,
    data: { n: counter },
  });

/** Stores the events in bulk (many publishes in flight), in order of their ids. */
async function store(events: readonly TelecareEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1_000)
    await Promise.all(
      events
        .slice(i, i + 1_000)
        .map((e) => js.publish(n.subjects.event(e.partition, e.type), JSON.stringify(e), { msgID: e.id })),
    );
}

/** Triage's partition lane of `residentId` has read everything stored. */
async function triageRead(residentId: string): Promise<void> {
  await waitFor(
    async () => {
      const info = await jsm.consumers.info(
        n.streams.events,
        consumerName(partitionOf(residentId, PARTITIONS)),
      );
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { what: 'triage to read the partition', timeoutMs: 120_000, intervalMs: 250 },
  );
}

async function helplineGet<T>(path: string): Promise<T> {
  const response = await fetch(`${helpline.url}${path}`, { headers: { authorization: `Bearer ${admin}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface Timeline {
  events: Array<{ id: string; type: string; serial: string; testMode: boolean }>;
  complete: boolean;
  source: 'index' | 'scan';
  reason?: string;
  message?: string;
  from: string;
  to: string;
}

/** The open case of the resident (their pendant press raised it through triage). */
async function caseOf(residentId: string): Promise<string> {
  const found = await waitFor(
    async () =>
      (await helplineGet<Array<{ id: string; residentId: string }>>('/api/cases?state=open')).find(
        (c) => c.residentId === residentId,
      ),
    { what: `the case of ${residentId}`, timeoutMs: 30_000 },
  );
  return found.id;
}

/** Starts triage and answers its URL (a new port each time). */
const startTriageHere = async (): Promise<string> => {
  const started = await startTriage(loadTriageConfig(env), { logger });
  triage = started;
  return started.url;
};

const RESIDENT = 'res_tl_rose';
/** Rose's own events, oldest first: published before the partition's traffic. */
const own: TelecareEvent[] = [];
let caseId: string;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'timeline-index-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'timeline-index-test' });
  await ensureStreams(jsm, n, ['events']);
  const triageUrl = await startTriageHere();
  helpline = await startHelpline(loadHelplineConfig({ ...env, TRIAGE_URL: triageUrl }), { logger });
  own.push(
    deviceEvent(RESIDENT, 'heartbeat'),
    deviceEvent(RESIDENT, 'motion'),
    deviceEvent(RESIDENT, 'test.manual', true),
    deviceEvent(RESIDENT, 'pendant.pressed'),
  );
  await store(own);
  caseId = await caseOf(RESIDENT);
}, 120_000);

afterAll(async () => {
  await helpline?.close();
  await triage?.close();
  redis?.disconnect();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe("the case view's device events timeline at a real partition's traffic", () => {
  it(`shows the resident's own events of the window, complete, after ${OTHERS} other events on their partition`, async () => {
    const neighbours = samePartition(RESIDENT, 'res_tl_n', NEIGHBOURS);
    await store(
      Array.from({ length: OTHERS }, (_, i) => deviceEvent(neighbours[i % NEIGHBOURS] as string, 'motion')),
    );
    own.push(deviceEvent(RESIDENT, 'heartbeat'));
    await store(own.slice(-1));
    await triageRead(RESIDENT);

    const timeline = await helplineGet<Timeline>(`/api/cases/${caseId}/timeline?hours=24`);
    expect(timeline).toMatchObject({ source: 'index', complete: true });
    expect(timeline.message).toBeUndefined();
    expect(Date.parse(timeline.to) - Date.parse(timeline.from)).toBe(24 * 3600_000);
    expect(timeline.events.map((e) => e.id)).toEqual(own.map((e) => e.id));
    // A test-mode event keeps its flag.
    expect(timeline.events.map((e) => e.testMode)).toEqual(own.map((e) => e.testmode));
  }, 180_000);

  it("one device's flood on the partition does not shorten a neighbour's timeline; its own stays bounded", async () => {
    const [attacker] = samePartition(RESIDENT, 'res_tl_flood', 1);
    const flood = Array.from({ length: SCAN + 200 }, () => deviceEvent(attacker as string, 'motion'));
    await store(flood);
    own.push(deviceEvent(RESIDENT, 'motion'));
    await store(own.slice(-1));
    await triageRead(RESIDENT);

    const timeline = await helplineGet<Timeline>(`/api/cases/${caseId}/timeline`);
    expect(timeline).toMatchObject({ source: 'index', complete: true });
    expect(timeline.events.map((e) => e.id)).toEqual(own.map((e) => e.id));
    // The flooding resident's own timeline: their newest 500, whole.
    await store([deviceEvent(attacker as string, 'pendant.pressed')]);
    const floodCase = await caseOf(attacker as string);
    await triageRead(RESIDENT);
    const theirs = await helplineGet<Timeline>(`/api/cases/${floodCase}/timeline`);
    expect(theirs).toMatchObject({ source: 'index', complete: true });
    expect(theirs.events).toHaveLength(500);
    expect(theirs.events.at(-1)?.type).toBe('pendant.pressed');
  }, 180_000);

  it('without triage the partition is scanned, bounded, and the answer says so; with it back the index is read again', async () => {
    await triage?.close();
    triage = undefined;
    const scanned = await helplineGet<Timeline>(`/api/cases/${caseId}/timeline`);
    expect(scanned.source).toBe('scan');
    // More events of the partition in the window than a scan reads: only a part could be read.
    expect(scanned.complete).toBe(false);
    expect(scanned.reason).toMatch(/triage not answering/);
    expect(scanned.message).toMatch(/only the events since/);
    expect(scanned.events.length).toBeLessThan(own.length);
    // The partition's traffic came in a burst: the part read is its newest, with the resident's
    // newest event (a scan that took the rate for even read the burst's oldest part and missed it).
    expect(scanned.events.at(-1)?.id).toBe(own.at(-1)?.id);

    // Back on another port: the helpline is told its URL, as a deployment's would be.
    const triageUrl = await startTriageHere();
    await helpline.close();
    helpline = await startHelpline(loadHelplineConfig({ ...env, TRIAGE_URL: triageUrl }), { logger });
    const indexed = await helplineGet<Timeline>(`/api/cases/${caseId}/timeline`);
    expect(indexed).toMatchObject({ source: 'index', complete: true });
    expect(indexed.events.map((e) => e.id)).toEqual(own.map((e) => e.id));
  }, 180_000);

  it('scans when the index began inside the window (events from before it), and shows them all', async () => {
    // On another partition than the busy one: its scan reads it whole.
    let late = 'res_tl_late0';
    for (let i = 1; partitionOf(late, PARTITIONS) === partitionOf(RESIDENT, PARTITIONS); i++)
      late = `res_tl_late${i}`;
    const [other] = samePartition(late, 'res_tl_lo', 1);
    const early = [deviceEvent(late, 'heartbeat'), deviceEvent(late, 'pendant.pressed')];
    await store([...early, deviceEvent(other as string, 'motion')]);
    const lateCase = await caseOf(late);
    await triageRead(late);
    // As if these events were stored before triage kept an index: none for them, and the
    // partition's index begins after them.
    const partition = partitionOf(late, PARTITIONS);
    await redis.del(`${n.redisPrefix}triage:events:${late}`);
    await redis.hdel(`${n.redisPrefix}triage:events-since`, String(partition));
    const after = deviceEvent(late, 'heartbeat');
    await store([after]);
    await triageRead(late);

    const timeline = await helplineGet<Timeline>(`/api/cases/${lateCase}/timeline`);
    expect(timeline.source).toBe('scan');
    expect(timeline).toMatchObject({
      complete: true,
      reason: expect.stringMatching(/index began after the start of the window/),
    });
    expect(timeline.message).toBeUndefined();
    expect(timeline.events.map((e) => e.id)).toEqual([...early, after].map((e) => e.id));
  }, 120_000);

  it('scans when the index has a gap in the window (a write Redis did not take in time), and shows them all', async () => {
    let gapped = 'res_tl_gap0';
    for (let i = 1; partitionOf(gapped, PARTITIONS) === partitionOf(RESIDENT, PARTITIONS); i++)
      gapped = `res_tl_gap${i}`;
    const events = [
      deviceEvent(gapped, 'pendant.pressed'),
      deviceEvent(gapped, 'motion'),
      deviceEvent(gapped, 'heartbeat'),
    ];
    await store(events.slice(0, 1));
    const gappedCase = await caseOf(gapped);
    await store(events.slice(1));
    await triageRead(gapped);
    // As triage leaves it when Redis did not take the motion's write in time: not in the list,
    // and the resident's gap at its sequence.
    const key = `${n.redisPrefix}triage:events:${gapped}`;
    const [, motion] = await redis.lrange(key, 0, -1);
    await redis.lrem(key, 1, motion as string);
    await redis.set(`${n.redisPrefix}triage:events-gap:${gapped}`, motion as string);

    const timeline = await helplineGet<Timeline>(`/api/cases/${gappedCase}/timeline`);
    expect(timeline).toMatchObject({
      source: 'scan',
      complete: true,
      reason: expect.stringMatching(/index has a gap in the window/),
    });
    expect(timeline.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
  }, 120_000);
});

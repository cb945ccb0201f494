import { DeadLetter, type EventType, names, type TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import type { ResidentState } from '@telecare/rules';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle } from '../src/index.ts';
import { StateStore } from '../src/state-store.ts';
import {
  makeEvent as buildEvent,
  metricValue,
  publishEvent as publish,
  readAlerts,
  scrape,
  T0,
  drained as waitDrained,
} from './support.ts';

const ns = uniqueNamespace('triage');
const n = names(ns);
const PARTITIONS = 2;
const logger = createLogger('triage-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const clock = new ManualClock(T0);
const config = loadTriageConfig(
  serviceEnv(ns, { TRIAGE_PORT: '0', TELECARE_PARTITIONS: String(PARTITIONS), TRIAGE_RETRY_DELAY_MS: '100' }),
);

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
let triage: TriageHandle;

const makeEvent = (spec: Omit<Parameters<typeof buildEvent>[0], 'partitions'>) =>
  buildEvent({ ...spec, partitions: PARTITIONS });
const publishEvent = (event: TelecareEvent, msgID?: string) => publish(js, n, event, msgID);
const alerts = () => readAlerts(jsm, n);
const drained = () => waitDrained(jsm, n, PARTITIONS);
const stateKey = (residentId: string) => new StateStore(redis, n.redisPrefix, logger).key(residentId);
/** A resident's state as Redis holds it (read by a store that holds nothing in memory). */
async function storedState(residentId: string): Promise<ResidentState> {
  const state = await new StateStore(redis, n.redisPrefix, logger).load(residentId);
  if (!state) throw new Error(`no state stored for ${residentId}`);
  return state;
}

const start = () => startTriage(config, { logger, clock });
const restart = async () => {
  await triage.close();
  triage = await start();
};

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'triage-test' });
  triage = await start();
});

afterAll(async () => {
  await triage?.close();
  await nc?.close();
  redis?.disconnect();
  await cleanupNamespace(ns);
});

describe('triage against real NATS and Redis', () => {
  it('creates the streams and one durable consumer per partition, several events in hand', async () => {
    for (const stream of [n.streams.events, n.streams.alerts]) {
      expect((await jsm.streams.info(stream)).config.name).toBe(stream);
    }
    for (let p = 0; p < PARTITIONS; p++) {
      const info = await jsm.consumers.info(n.streams.events, `triage-p${p}`);
      expect(info.config.filter_subject).toBe(n.subjects.eventsOfPartition(p));
      expect(info.config.ack_policy).toBe('explicit');
      // TRIAGE_LANE_CONCURRENCY: residents side by side, each in order (the lane's loop keeps it).
      expect(info.config.max_ack_pending).toBe(16);
    }
  });

  const press = makeEvent({
    residentId: 'res_alpha',
    type: 'pendant.pressed',
    deviceEventId: 'press-000001',
    location: 'hallway',
  });

  it('turns a pendant press into one P1 alert that explains itself', async () => {
    await publishEvent(press);
    const [stored] = await waitFor(async () => {
      const all = await alerts();
      return all.length > 0 && all;
    });
    expect(stored?.subject).toBe(n.subjects.alert(1, 'res_alpha'));
    expect(stored?.msgId).toBe(stored?.alert.id);
    expect(stored?.alert).toMatchObject({
      residentId: 'res_alpha',
      priority: 1,
      type: 'pendant.pressed',
      raisedAt: new Date(T0).toISOString(),
      rule: { id: 'trigger.pendant', version: 2 },
      evidence: [press.id],
      thresholds: { lateAfterS: 300 },
      late: false,
      testMode: false,
      deviceSerial: 'PX-1000',
      deviceKind: 'pendant',
      reason: 'Lifeline pendant pressed: pendant in hallway (rule trigger.pendant v2)',
    });
    await drained();
    expect(await alerts()).toHaveLength(1);
  });

  it('raises nothing more when the same event is delivered again, even with the state cache lost', async () => {
    await publishEvent(press, `${press.id}-redelivered`);
    await drained();
    expect(await alerts()).toHaveLength(1);

    // Redis is only a cache: without it the core raises the same alert id, and ALERTS collapses it.
    // The copy triage holds in memory is dropped too, as at a restart or a lease handover.
    expect(await redis.del(stateKey('res_alpha'))).toBe(1);
    await restart();
    await publishEvent(press, `${press.id}-after-cache-loss`);
    await drained();
    expect(await alerts()).toHaveLength(1);
    expect(await redis.exists(stateKey('res_alpha'))).toBe(1);
  });

  it('records a heartbeat in the resident state and raises nothing', async () => {
    const beat = makeEvent({ residentId: 'res_alpha', type: 'heartbeat', deviceEventId: 'beat-000001' });
    await publishEvent(beat);
    await drained();
    expect(await alerts()).toHaveLength(1);
    const state = await storedState('res_alpha');
    expect(state.recent.map((seen) => seen.id)).toContain(beat.id);
  });

  it('follows a resident through a declared away period from the registry’s bucket', async () => {
    const bucket = await openBucket(nc, n.kv.residentAway);
    await bucket.put(
      'res_away',
      JSON.stringify({
        residentId: 'res_away',
        periods: [
          {
            id: 'awy_int0001',
            from: new Date(T0 - 3600_000).toISOString(),
            until: new Date(T0 + 86_400_000).toISOString(),
            reason: 'holiday',
          },
        ],
        updatedAt: new Date(T0).toISOString(),
      }),
    );
    // The watch hands the entry to triage's memory; an event before it would see no period.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const at = (ms: number) => ({ time: new Date(ms).toISOString(), receivedat: new Date(ms).toISOString() });
    const door = {
      ...makeEvent({
        residentId: 'res_away',
        type: 'door.closed',
        deviceEventId: 'door-000001',
        serial: 'DC-2000',
        devicekind: 'door-contact',
        location: 'front door',
      }),
      ...at(T0 - 1800_000),
    };
    const back = {
      ...makeEvent({
        residentId: 'res_away',
        type: 'motion',
        deviceEventId: 'move-000001',
        serial: 'PIR-2000',
        devicekind: 'pir',
        location: 'kitchen',
      }),
      ...at(T0 - 60_000),
    };
    await publishEvent(door);
    await drained();
    await publishEvent(back);
    await drained();
    const state = await storedState('res_away');
    expect(state.away).toEqual({ id: 'awy_int0001', out: true, back: T0 - 60_000 });
  });

  it('reads the declared away periods whole at start-up, before its lanes take the events waiting', async () => {
    // Declared and the events stored while triage is down: at start-up they are read at once.
    await triage.close();
    const bucket = await openBucket(nc, n.kv.residentAway);
    await bucket.put(
      'res_away2',
      JSON.stringify({
        residentId: 'res_away2',
        periods: [
          {
            id: 'awy_int0002',
            from: new Date(T0 - 3600_000).toISOString(),
            until: new Date(T0 + 86_400_000).toISOString(),
            reason: 'hospital',
          },
        ],
        updatedAt: new Date(T0).toISOString(),
      }),
    );
    const at = (ms: number) => ({ time: new Date(ms).toISOString(), receivedat: new Date(ms).toISOString() });
    await publishEvent({
      ...makeEvent({
        residentId: 'res_away2',
        type: 'door.closed',
        deviceEventId: 'door-000002',
        serial: 'DC-2001',
        devicekind: 'door-contact',
        location: 'front door',
      }),
      ...at(T0 - 1800_000),
    });
    triage = await start();
    await drained();
    const state = await storedState('res_away2');
    expect(state.away).toEqual({ id: 'awy_int0002', out: true });
  });

  it('dead-letters an invalid event with its reason and keeps going', async () => {
    const good = makeEvent({
      residentId: 'res_beta',
      type: 'smoke.detected',
      deviceEventId: 'smoke-000001',
      serial: 'SM-2000',
      devicekind: 'smoke-detector',
      location: 'kitchen',
    });
    const subject = n.subjects.event(good.partition, 'pendant.pressed');
    await js.publish(subject, JSON.stringify({ ...good, id: 'evt_not-an-id', type: 'pendant.squeezed' }), {
      msgID: 'bad-schema-1',
    });
    await js.publish(subject, 'this is not json', { msgID: 'bad-json-1' });
    await publishEvent(good);

    const smoke = await waitFor(async () => (await alerts()).find((a) => a.alert.type === 'smoke.detected'));
    expect(smoke.alert).toMatchObject({ residentId: 'res_beta', priority: 1, evidence: [good.id] });
    expect(smoke.alert.reason).toBe('Smoke detected: smoke detector in kitchen (rule trigger.smoke v1)');

    const schema = await jsm.streams.getMessage(n.streams.deadletter, {
      last_by_subj: n.subjects.deadletter('triage', 'schema'),
    });
    const letter = DeadLetter.parse(schema?.json());
    expect(letter.service).toBe('triage');
    expect(letter.detail).toContain('id');
    expect(letter.detail).toContain('type');
    expect(letter.origin).toContain(subject);
    const notJson = await jsm.streams.getMessage(n.streams.deadletter, {
      last_by_subj: n.subjects.deadletter('triage', 'not-json'),
    });
    expect(Buffer.from(DeadLetter.parse(notJson?.json()).rawBase64, 'base64').toString()).toBe(
      'this is not json',
    );
    await drained();
  });

  it('loses and repeats nothing across a stop and restart mid-stream, keeping each resident’s events of a type in order', async () => {
    const before = (await alerts()).length;
    // Not the pendant: presses of one resident within five minutes of the first merge into one alert.
    // Nor a limited rule's type (mains, battery, flood…): one device's reports beyond its limit in
    // the rule's window are suppressed as a flapping sensor's. Two of these are below P1, read on
    // the partition lanes.
    const types: EventType[] = [
      'smoke.detected',
      'fall.detected',
      'medication.missed',
      'bogus-caller.pressed',
      'epilepsy.seizure',
    ];
    const residents = Array.from({ length: 8 }, (_, i) => `res_stream${i}`);
    const events = Array.from({ length: 240 }, (_, i) =>
      makeEvent({
        residentId: residents[i % residents.length] as string,
        type: types[i % types.length] as EventType,
        deviceEventId: `stream-${String(i).padStart(6, '0')}`,
        serial: `SR-${i % residents.length}`,
      }),
    );
    const firstHalf = events.slice(0, 160);
    const secondHalf = events.slice(160);

    for (const event of firstHalf) await publishEvent(event);
    await waitFor(async () => (await alerts()).length >= before + 10, {
      what: 'some alerts before the stop',
    });
    await triage.close();
    const atStop = (await alerts()).length;
    expect(atStop).toBeLessThan(before + events.length);

    for (const event of secondHalf) await publishEvent(event);
    triage = await start();
    await waitFor(async () => (await alerts()).length >= before + events.length, {
      what: 'every alert after the restart',
      timeoutMs: 30_000,
    });
    await drained();

    const fresh = (await alerts()).slice(before);
    expect(fresh).toHaveLength(events.length);
    expect(new Set(fresh.map((a) => a.alert.id)).size).toBe(events.length);
    expect(fresh.map((a) => a.alert.evidence[0]).sort()).toEqual(events.map((e) => e.id).sort());
    // In order per resident and type: alarms (P1) have a lane of their own and may overtake
    // the rest of their partition, by design.
    for (const resident of residents) {
      for (const type of types) {
        const published = events.filter((e) => e.residentid === resident && e.type === type).map((e) => e.id);
        const raised = fresh
          .filter((a) => a.alert.residentId === resident && a.alert.type === type)
          .map((a) => a.alert.evidence[0]);
        expect(raised, `${resident} ${type}`).toEqual(published);
      }
    }
  });

  it('refuses an invalid rule set with the path and reason of each error, and keeps the running rules', async () => {
    const put = (body: unknown, token = 'test-admin-token-0123456789') =>
      fetch(`${triage.url}/api/rules`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    expect((await put({ version: 9, rules: [] }, 'wrong-token-0123456789')).status).toBe(401);
    const refused = await put({
      version: 9,
      rules: [
        { id: 'trigger.pendant', version: 2, kind: 'trigger', on: ['pendant.squeezed'], reason: '{what}' },
        {
          id: 'cold',
          version: 1,
          kind: 'sustained',
          type: 'temperature.low',
          condition: { reading: 'temperature' },
          forS: 0,
          reason: '{name}',
        },
      ],
    });
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as {
      inForce: number;
      issues: Array<{ path: string; message: string }>;
    };
    expect(body.inForce).toBe(1);
    expect(body.issues).toEqual(
      expect.arrayContaining([
        {
          path: 'rules.0.on.0',
          message: 'unknown event type "pendant.squeezed" (see TAXONOMY in @telecare/contracts)',
        },
        expect.objectContaining({ path: 'rules.1.forS' }),
        expect.objectContaining({
          path: 'rules.1.reason',
          message: expect.stringContaining('unknown placeholder {name}'),
        }),
      ]),
    );
    // The rules in force still run.
    const press = makeEvent({
      residentId: 'res_rules1',
      type: 'pendant.pressed',
      deviceEventId: 'rules-press-1',
    });
    await publishEvent(press);
    const first = await waitFor(async () => (await alerts()).find((a) => a.alert.evidence[0] === press.id));
    expect(first.alert.rule).toEqual({ id: 'trigger.pendant', version: 2 });

    // A valid set goes in force for the next event.
    const accepted = await put({
      version: 2,
      rules: [
        {
          id: 'trigger.pendant',
          version: 3,
          kind: 'trigger',
          on: ['pendant.pressed'],
          reason: '{what} (v3)',
        },
      ],
    });
    expect(accepted.status).toBe(200);
    const next = makeEvent({
      residentId: 'res_rules2',
      type: 'pendant.pressed',
      deviceEventId: 'rules-press-2',
    });
    await publishEvent(next);
    const second = await waitFor(async () => (await alerts()).find((a) => a.alert.evidence[0] === next.id));
    expect(second.alert.rule).toEqual({ id: 'trigger.pendant', version: 3 });
    await drained();
    // Back to the default rules for the tests that follow: a version never goes back, so v3.
    const { DEFAULT_RULE_SET } = await import('@telecare/rules');
    expect((await put({ ...DEFAULT_RULE_SET, version: 3 })).status).toBe(200);
  });

  it.each([
    ['in the order the pendant sent them', ['press-1', 'cancel', 'press-2']],
    ['with the cancel stored after the second press', ['press-1', 'press-2', 'cancel']],
  ])('press, cancel, press %s: the second press is never lost in the cancelled alert', async (_, order) => {
    // The alarm lane may evaluate the second press before the partition lane reaches the cancel
    // (and the second order forces it): either way the set of alerts is the in-order one.
    const resident = `res_again_${order.join('')}`.replace(/-/g, '');
    const at = (seconds: number) => new Date(T0 - seconds * 1000).toISOString();
    const event = (type: EventType, id: string, secondsAgo: number): TelecareEvent => ({
      ...makeEvent({ residentId: resident, type, deviceEventId: `${resident}-${id}` }),
      time: at(secondsAgo),
    });
    const sent = {
      'press-1': event('pendant.pressed', 'press-1', 90),
      cancel: event('alarm.cancelled', 'cancel', 70),
      'press-2': event('pendant.pressed', 'press-2', 40),
    } as const;
    for (const name of order) await publishEvent(sent[name as keyof typeof sent]);
    await drained();
    const mine = await waitFor(async () => {
      const found = (await alerts()).map((stored) => stored.alert).filter((a) => a.residentId === resident);
      return found.length >= 3 && found;
    });
    const presses = mine.filter((a) => a.type === 'pendant.pressed' && !a.repeats);
    expect(presses.map((a) => a.evidence[0]).sort()).toEqual([sent['press-1'].id, sent['press-2'].id].sort());
    const [first, second] = [sent['press-1'].id, sent['press-2'].id].map(
      (id) => presses.find((a) => a.evidence[0] === id)?.id,
    );
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    const closing = mine.filter((a) => a.closes);
    expect(closing.map((a) => a.closes)).toEqual([{ alertId: first, outcome: 'false-alarm' }]);
    // Evaluated before the cancel (forced by the second order; possible in the first, through the
    // alarm lane), the second press first merged: it reached the helpline then, as a repeat of the
    // first alert, and its own alert came when the cancel split the group.
    const repeats = mine.filter((a) => a.repeats);
    expect(repeats.length).toBe(order[1] === 'press-2' ? 1 : repeats.length);
    expect(repeats.length).toBeLessThanOrEqual(1);
    for (const repeat of repeats)
      expect(repeat).toMatchObject({ evidence: [sent['press-2'].id], repeats: { alertId: first } });
    expect(mine).toHaveLength(3 + repeats.length);
  });

  it('serves health, readiness and metrics', async () => {
    expect((await fetch(`${triage.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${triage.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { nats: true, redis: true, partitions: true } });
    const before = await scrape(triage.url);
    await publishEvent(
      makeEvent({ residentId: 'res_gamma', type: 'co.detected', deviceEventId: 'co-000001' }),
    );
    await drained();
    const metrics = await scrape(triage.url);
    const grew = (pattern: RegExp) => metricValue(metrics, pattern) - metricValue(before, pattern);
    expect(grew(/^triage_events_evaluated_total\{[^}]*type="co.detected"/)).toBe(1);
    expect(grew(/^triage_alerts_published_total\{[^}]*priority="p1"/)).toBe(1);
    // An alarm is taken twice, by its own lane and by its partition's; evaluated once.
    expect(grew(/^triage_evaluation_seconds_count\{/)).toBe(2);
    expect(grew(/^triage_events_duplicate_total/)).toBe(1);
    expect(metrics).toContain('triage_deadletters_total');
  });
});

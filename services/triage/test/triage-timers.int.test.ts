import { type DeviceMapEntry, type EventType, names, type TelecareEvent } from '@telecare/contracts';
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
  openDeviceMap,
  type Redis,
} from '@telecare/platform';
import { parseRuleSet } from '@telecare/rules';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerName, loadTriageConfig, startTriage, type TriageHandle, timerBucket } from '../src/index.ts';
import {
  makeEvent as buildEvent,
  drained,
  MEDICATION_RULE,
  metricValue,
  publishEvent,
  readAlerts,
  scrape,
  T0,
} from './support.ts';

const ns = uniqueNamespace('triagetimers');
const n = names(ns);
const PARTITIONS = 2;
const logger = createLogger('triage-timers-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const clock = new ManualClock(T0);
const config = loadTriageConfig(
  serviceEnv(ns, { TRIAGE_PORT: '0', TELECARE_PARTITIONS: String(PARTITIONS), TRIAGE_RETRY_DELAY_MS: '100' }),
);

/** Short windows so a test runs in seconds; the clock is a ManualClock anyway. */
const RULES = parseRuleSet({
  version: 1,
  rules: [
    { id: 'trigger.pendant', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' },
    {
      id: 'sustained.chair',
      version: 1,
      kind: 'sustained',
      type: 'chair.too-long',
      condition: { starts: ['chair.occupied'], ends: ['chair.vacated'] },
      forS: 600,
      reason: '{what}: {detail}',
    },
    MEDICATION_RULE,
    {
      id: 'absence.supervision',
      version: 1,
      kind: 'absence',
      type: 'supervision.lost',
      expect: ['heartbeat'],
      window: { kind: 'supervision', defaultIntervalS: 300 },
      reason: '{what}: {detail}',
    },
  ],
});

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
let triage: TriageHandle | undefined;

let seq = 0;
const event = (residentId: string, type: EventType, at: number, serial = 'DEV-1'): TelecareEvent => {
  const e = buildEvent({
    residentId,
    type,
    deviceEventId: `tm-${++seq}-${type}`,
    partitions: PARTITIONS,
    serial,
  });
  return { ...e, time: new Date(at).toISOString() };
};
const start = () => startTriage(config, { logger, clock, ruleSet: RULES });
const alertsOf = async (type: EventType) => (await readAlerts(jsm, n)).filter((a) => a.alert.type === type);

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-timers-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'triage-timers-test' });
  triage = await start();
});

afterAll(async () => {
  await triage?.close();
  await openBucket(nc, timerBucket(n))
    .then((kv) => kv.destroy())
    .catch(() => undefined);
  await cleanupNamespace(ns);
  await redis?.quit();
  await nc?.close();
});

describe('durable timers against real NATS and Redis', () => {
  it('fires a timer on time with no further event, and counts the record written and removed', async () => {
    const written = async (op: string) =>
      metricValue(
        await scrape(triage?.url ?? ''),
        new RegExp(`^triage_timer_writes_total\\{[^}]*op="${op}"[^}]*rule="absence.medication"`),
      );
    const due = event('res_timer_a', 'medication.due', T0 - 1_000, 'MD-A');
    await publishEvent(js, n, due);
    await drained(jsm, n, PARTITIONS);
    expect(await alertsOf('medication.missed')).toEqual([]);
    expect(await written('put')).toBe(1);
    expect(await written('purge')).toBe(0);
    clock.advance(11 * 60_000); // past the 10 min window and the 30 s reorder grace
    const missed = await waitFor(async () => (await alertsOf('medication.missed'))[0], {
      what: 'the medication timer to fire',
      timeoutMs: 5_000,
    });
    expect(missed.alert).toMatchObject({ residentId: 'res_timer_a', evidence: [due.id], late: false });
    // Removed once its tick is stored.
    await waitFor(async () => ((await written('purge')) === 1 ? true : undefined), {
      what: 'the fired timer removed',
    });
    expect(await written('put')).toBe(1);
  });

  it('keeps timers across a restart (and the loss of the Redis index), fires each once, flagged late', async () => {
    const now = clock.now();
    const chair = event('res_timer_b', 'chair.occupied', now - 1_000, 'CS-B');
    const beat = event('res_timer_c', 'heartbeat', now - 1_000, 'HB-C');
    const dose = event('res_timer_d', 'medication.due', now - 1_000, 'MD-D');
    for (const e of [chair, beat, dose]) await publishEvent(js, n, e);
    await drained(jsm, n, PARTITIONS);
    const kv = await openBucket(nc, timerBucket(n));
    const stored: string[] = [];
    for await (const key of await kv.keys()) stored.push(Buffer.from(key, 'base64url').toString());
    expect(stored).toEqual(
      expect.arrayContaining([
        `sustained.chair:${chair.id}`,
        `absence.medication:${dose.id}`,
        // A device's one check, moved by each heartbeat.
        `absence.supervision:res_timer_c:HB-C`,
      ]),
    );

    await triage?.close();
    triage = undefined;
    // Redis loses the index while triage is down; the durable records rebuild it.
    for (let p = 0; p < PARTITIONS; p++) await redis.del(`${n.redisPrefix}triage:timers:p${p}`);
    clock.advance(20 * 60_000);
    triage = await start();

    const raised = await waitFor(
      async () => {
        const [c, s, m] = await Promise.all([
          alertsOf('chair.too-long'),
          alertsOf('supervision.lost'),
          alertsOf('medication.missed'),
        ]);
        return c.length >= 1 && s.length >= 1 && m.length >= 2 ? { c, s, m } : undefined;
      },
      { what: 'every pending timer to fire after the restart', timeoutMs: 8_000 },
    );
    expect(raised.c.map((a) => a.alert.evidence)).toEqual([[chair.id]]);
    expect(raised.s.map((a) => a.alert.evidence)).toEqual([[beat.id]]);
    expect(raised.m.filter((a) => a.alert.residentId === 'res_timer_d')).toHaveLength(1);
    // Decided while triage was down: still raised, flagged late.
    expect(raised.c[0]?.alert.late).toBe(true);
    expect(raised.c[0]?.alert.reason).toMatch(/late: decided \d+ min before triage$/);

    // Fired once: more time and another restart raise nothing again.
    clock.advance(60 * 60_000);
    await triage.close();
    triage = await start();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await alertsOf('chair.too-long')).toHaveLength(1);
    expect(await alertsOf('supervision.lost')).toHaveLength(1);

    // The next heartbeat restores supervision and closes the loss.
    const back = event('res_timer_c', 'heartbeat', clock.now() - 500, 'HB-C');
    await publishEvent(js, n, back);
    const restored = await waitFor(async () => (await alertsOf('supervision.restored'))[0], {
      what: 'supervision.restored',
    });
    expect(restored.alert).toMatchObject({
      evidence: [back.id],
      priority: 5,
      closes: { alertId: raised.s[0]?.alert.id, outcome: 'restored' },
    });
  });

  it('a Redis flush while running loses no pending check: the index is rebuilt at once and the state loss does not hide a silent device', async () => {
    const beat = event('res_timer_flush', 'heartbeat', clock.now() - 1_000, 'HB-FLUSH');
    await publishEvent(js, n, beat);
    await drained(jsm, n, PARTITIONS);

    // Everything this namespace keeps in Redis is gone (FLUSHALL, or a restart without persistence).
    const keys = await redis.keys(`${n.redisPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);

    clock.advance(6 * 60_000); // past the 5 min interval and the reorder grace
    const lost = await waitFor(
      async () => (await alertsOf('supervision.lost')).find((a) => a.alert.residentId === 'res_timer_flush'),
      {
        what: 'supervision.lost for the device whose only heartbeat came before the flush',
        timeoutMs: 10_000,
      },
    );
    expect(lost.alert.evidence).toEqual([beat.id]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const forThisDevice = (await alertsOf('supervision.lost')).filter(
      (a) => a.alert.residentId === 'res_timer_flush',
    );
    expect(forThisDevice).toHaveLength(1);
  });

  it('JetStream losing the timer bucket while running loses no timer set before: each still fires, and the records are written back', async () => {
    const beat = event('res_timer_lost_a', 'heartbeat', clock.now() - 1_000, 'HB-LOST');
    const dose = event('res_timer_lost_b', 'medication.due', clock.now() - 1_000, 'MD-LOST');
    for (const e of [beat, dose]) await publishEvent(js, n, e);
    await drained(jsm, n, PARTITIONS);
    const stream = `KV_${timerBucket(n)}`;
    const before = (await jsm.streams.info(stream)).created;
    await jsm.streams.delete(stream);

    // Made again empty by the service's bucket check; the timers set before are written back to it.
    const stored = await waitFor(
      async () => {
        const info = await jsm.streams.info(stream).catch(() => undefined);
        if (!info || info.created === before) return undefined;
        const kv = await openBucket(nc, timerBucket(n));
        const ids: string[] = [];
        for await (const key of await kv.keys()) ids.push(Buffer.from(key, 'base64url').toString());
        return ids.length >= 2 ? ids : undefined;
      },
      { what: 'the timer records written back to the bucket made again', timeoutMs: 10_000 },
    );
    expect(stored).toEqual(
      expect.arrayContaining([
        `absence.supervision:res_timer_lost_a:HB-LOST`,
        `absence.medication:${dose.id}`,
      ]),
    );

    clock.advance(11 * 60_000); // past the 5 min interval, the 10 min window and the reorder grace
    const raised = await waitFor(
      async () => {
        const lost = (await alertsOf('supervision.lost')).filter(
          (a) => a.alert.residentId === 'res_timer_lost_a',
        );
        const missed = (await alertsOf('medication.missed')).filter(
          (a) => a.alert.residentId === 'res_timer_lost_b',
        );
        return lost.length >= 1 && missed.length >= 1 ? { lost, missed } : undefined;
      },
      { what: 'both timers set before the loss to fire', timeoutMs: 10_000 },
    );
    expect(raised.lost.map((a) => a.alert.evidence)).toEqual([[beat.id]]);
    expect(raised.missed.map((a) => a.alert.evidence)).toEqual([[dose.id]]);
  });

  it('a timer that comes due before the lost timer bucket is made again still fires', async () => {
    const dose = event('res_timer_lost_c', 'medication.due', clock.now() - 1_000, 'MD-LOST-C');
    await publishEvent(js, n, dose);
    await drained(jsm, n, PARTITIONS);
    await jsm.streams.delete(`KV_${timerBucket(n)}`);
    // Due at once: the partition loop finds it before the bucket check runs.
    clock.advance(11 * 60_000);
    const missed = await waitFor(
      async () =>
        (await alertsOf('medication.missed')).find((a) => a.alert.residentId === 'res_timer_lost_c'),
      { what: 'the timer due while its bucket is lost to fire', timeoutMs: 10_000 },
    );
    expect(missed.alert.evidence).toEqual([dose.id]);
  });

  it('a lost timer bucket does not hold up its partition: events behind a due timer are evaluated and acked in well under the 5 s a read of the lost bucket held them', async () => {
    const resident = 'res_timer_lost_e';
    const dose = event(resident, 'medication.due', clock.now() - 1_000, 'MD-LOST-E');
    await publishEvent(js, n, dose);
    await drained(jsm, n, PARTITIONS);
    // Lost, and lost again each time the service's bucket check makes it again, for a few seconds:
    // the lane's timer rounds surely read the due timer's record while the bucket is missing.
    const stream = `KV_${timerBucket(n)}`;
    let losing = true;
    const lose = (async () => {
      while (losing) {
        await jsm.streams.delete(stream).catch(() => false);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    // Due at once: each timer round of the partition's lane reads its record.
    clock.advance(11 * 60_000);
    /** How long an event that sets no timer takes from being stored to being acked by its lane. */
    const ackedIn = async (serial: string): Promise<number> => {
      const e = event(resident, 'motion', clock.now() - 500, serial);
      const stored = await js.publish(n.subjects.event(e.partition, e.type), JSON.stringify(e), {
        msgID: e.id,
      });
      const started = performance.now();
      await waitFor(
        async () => {
          const info = await jsm.consumers.info(n.streams.events, consumerName(e.partition));
          return info.ack_floor.stream_seq >= stored.seq ? true : undefined;
        },
        { what: 'the event acked', timeoutMs: 10_000, intervalMs: 20 },
      );
      return performance.now() - started;
    };
    const took: number[] = [];
    try {
      const until = performance.now() + 3_000;
      while (performance.now() < until) {
        took.push(await ackedIn(`PIR-LOST-E${took.length}`));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      losing = false;
      await lose;
    }
    expect(took.length).toBeGreaterThan(2);
    // A few hundred milliseconds alone; the bound leaves room for the files beside it, and is half
    // of what a read of the lost bucket held each event (its 5 s request timeout).
    expect(Math.max(...took)).toBeLessThan(2_500);
    // Nothing is lost: once the bucket is made again, the timer fires.
    const missed = await waitFor(
      async () => (await alertsOf('medication.missed')).find((a) => a.alert.residentId === resident),
      { what: 'the timer due while its bucket was lost to fire', timeoutMs: 10_000 },
    );
    expect(missed.alert.evidence).toEqual([dose.id]);
  });

  it('a storm of low-priority events on a partition does not delay a pendant press', async () => {
    const resident = 'res_storm_e';
    const storm = Array.from({ length: 600 }, (_, i) => ({
      ...event(resident, 'motion', clock.now() - 60_000 + i, 'PIR-E'),
    }));
    // Published in parallel batches: the storm is queued before the press.
    for (let i = 0; i < storm.length; i += 100)
      await Promise.all(storm.slice(i, i + 100).map((e) => publishEvent(js, n, e)));
    const press = event(resident, 'pendant.pressed', clock.now() - 100, 'PX-E');
    await publishEvent(js, n, press);
    const partition = press.partition;
    const alert = await waitFor(
      async () => (await alertsOf('pendant.pressed')).find((a) => a.alert.evidence[0] === press.id),
      { what: 'the press to alert', timeoutMs: 10_000, intervalMs: 20 },
    );
    const info = await jsm.consumers.info(n.streams.events, consumerName(partition));
    // The partition lane is still working through the storm when the alarm is already stored.
    expect(info.num_pending).toBeGreaterThan(50);
    expect(alert.alert.priority).toBe(1);
    await drained(jsm, n, PARTITIONS);
    expect((await alertsOf('pendant.pressed')).filter((a) => a.alert.evidence[0] === press.id)).toHaveLength(
      1,
    );
  }, 30_000);
});

describe('a supervised device that leaves the home while its check is due', () => {
  it('raises no loss at the home it left (re-paired, or decommissioned), while one that stayed is lost', async () => {
    const map = await openDeviceMap(nc, n);
    const entry = (serial: string, residentId: string): DeviceMapEntry => ({
      serial,
      deviceId: `dev_${serial.toLowerCase()}`,
      residentId,
      kind: 'pendant',
      protocol: 'mqtt',
      location: 'hall',
      supervisionIntervalS: 300,
      state: 'installed',
      testMode: false,
      postcodeDistrict: null,
      updatedAt: new Date().toISOString(),
    });
    const homes = { moved: 'res_left_moved', gone: 'res_left_gone', stayed: 'res_left_stayed' };
    const serials = { moved: 'HB-MOVED', gone: 'HB-GONE', stayed: 'HB-STAYED' };
    for (const key of ['moved', 'gone', 'stayed'] as const)
      await map.put(serials[key], JSON.stringify(entry(serials[key], homes[key])));
    for (const key of ['moved', 'gone', 'stayed'] as const)
      await publishEvent(js, n, event(homes[key], 'heartbeat', clock.now() - 1_000, serials[key]));
    await drained(jsm, n, PARTITIONS);
    // The installer re-pairs one pendant to another resident and decommissions another (the
    // registry removes it from the map); triage's mirror follows the bucket by a watch.
    await map.put(serials.moved, JSON.stringify(entry(serials.moved, 'res_left_elsewhere')));
    await map.delete(serials.gone);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    clock.advance(6 * 60_000); // past the 300 s interval and the grace
    const lost = await waitFor(
      async () => {
        const all = await alertsOf('supervision.lost');
        return all.some((a) => a.alert.residentId === homes.stayed) ? all : undefined;
      },
      { what: 'the device that stayed to be lost', timeoutMs: 8_000 },
    );
    await drained(jsm, n, PARTITIONS);
    const residents = lost.map((a) => a.alert.residentId).filter((id) => id.startsWith('res_left_'));
    expect(residents).toEqual([homes.stayed]);
  });
});

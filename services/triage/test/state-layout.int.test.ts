import { type Alert, type EventType, eventIdFor, type TelecareEvent } from '@telecare/contracts';
import { createLogger, createRedis, type Redis } from '@telecare/platform';
import {
  DEFAULT_RULE_SET,
  decodeState,
  encodeState,
  evaluate,
  initialState,
  type ResidentState,
  type Timer,
  type TimerCommand,
} from '@telecare/rules';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../src/state-store.ts';

/**
 * Same alerts whichever way the states are kept: a day of homes through the rules core with each
 * resident's state kept in memory (what the core itself returns), against the same day with every
 * state saved to Redis as triage saves it (an event's change) and read back from Redis before the
 * next input; with the version before's stored form for the first half; and with every state lost
 * part-way. `STATE_PROOF_EVENTS` and `STATE_PROOF_HOMES` set the size. What the size is for is the
 * events a home, not the homes: 200 a home on average, `keepEvents`, so about half the homes trim a
 * full `recent` and half never fill it. Twenty homes give that mix, and the ids of test-mode
 * (home 0 and 17) and location-less homes, in half the time of forty; a bigger day is
 * `STATE_PROOF_EVENTS=100000 STATE_PROOF_HOMES=500`.
 */
const EVENTS = Number(process.env.STATE_PROOF_EVENTS ?? 4_000);
const HOMES = Number(process.env.STATE_PROOF_HOMES ?? 20);
/** Each run of the day: about 4 ms an event on a busy machine, every state read back from Redis. */
const PROOF_TIMEOUT_MS = Math.max(600_000, EVENTS * 20);
const ns = uniqueNamespace('statelayout');
const prefix = `${ns}:`;
const logger = createLogger('state-layout-test', 'silent');
const START = Date.parse('2026-11-22T00:00:00.000Z');
let redis: Redis;

beforeAll(async () => {
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'state-layout-test' });
});
afterAll(async () => {
  await emptyStates();
  redis?.disconnect();
  await cleanupNamespace(ns);
});

async function emptyStates(): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}

/** A seeded day of homes: heartbeats, movement, sensors, some alarms; a third of it 45 s late. */
function day(count: number, homes: number): Array<{ event: TelecareEvent; arrival: number }> {
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const mix: Array<[EventType, string, number]> = [
    ['heartbeat', 'home-unit', 20],
    ['motion', 'pir', 35],
    ['temperature', 'temperature-sensor', 10],
    ['door.opened', 'door-contact', 6],
    ['door.closed', 'door-contact', 6],
    ['bed.vacated', 'bed-sensor', 4],
    ['bed.occupied', 'bed-sensor', 4],
    ['chair.occupied', 'chair-sensor', 5],
    ['chair.vacated', 'chair-sensor', 5],
    ['medication.due', 'medication-dispenser', 2],
    ['medication.taken', 'medication-dispenser', 2],
    ['pendant.pressed', 'pendant', 0.5],
    ['alarm.cancelled', 'pendant', 0.3],
    ['battery.low', 'pendant', 0.2],
  ];
  const total = mix.reduce((sum, [, , weight]) => sum + weight, 0);
  const spanMs = 24 * 3600_000;
  const out = Array.from({ length: count }, (_, i) => {
    let pick = random() * total;
    let chosen = mix[0] as [EventType, string, number];
    for (const entry of mix) {
      pick -= entry[2];
      if (pick <= 0) {
        chosen = entry;
        break;
      }
    }
    const [type, devicekind] = chosen;
    const home = Math.floor(random() * homes);
    const residentid = `res_day${home}`;
    const serial = `${devicekind.slice(0, 3).toUpperCase()}-${home}`;
    const at = START + Math.floor((i * spanMs) / count);
    const time = new Date(at).toISOString();
    const late = random() < 1 / 3 ? 45_000 : 0;
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdFor(serial, `d-${i}`, time, type),
      source: '/proof',
      type,
      subject: serial,
      time,
      datacontenttype: 'application/json',
      residentid,
      devicekind,
      deviceeventid: `d-${i}`,
      partition: 0,
      receivedat: time,
      testmode: home % 17 === 0,
      ...(home % 5 === 0 ? {} : { location: 'hall' }),
      data:
        type === 'temperature'
          ? { celsius: 12 + Math.floor(random() * 22) }
          : type.startsWith('medication.')
            ? { doseId: `dose-${home}` }
            : {},
    };
    return { event, arrival: at + late };
  });
  return out.sort((a, b) => a.arrival - b.arrival);
}

interface Keeping {
  load(residentId: string): Promise<ResidentState | undefined>;
  save(before: ResidentState, after: ResidentState): Promise<void>;
  /** Every state lost (Redis emptied; memory too, for a keeping without Redis). */
  lose(): Promise<void>;
}

function inMemory(): Keeping {
  const states = new Map<string, ResidentState>();
  return {
    load: async (id) => states.get(id),
    save: async (_before, after) => {
      states.set(after.residentId, after);
    },
    lose: async () => states.clear(),
  };
}

/** As triage keeps them: the store, holding `cache` states in memory. */
function inRedis(cache: number, counts: { change: number; whole: number }): Keeping {
  const store = new StateStore(redis, prefix, logger, { cache });
  return {
    load: (id) => store.load(id),
    save: async (before, after) => {
      const pipeline = redis.pipeline();
      const then = store.saveIn(pipeline, before, after);
      const queued = (pipeline as unknown as { _queue: Array<{ args: unknown[] }> })._queue;
      if (queued[0]?.args.includes('change')) counts.change++;
      else counts.whole++;
      const replies = await pipeline.exec();
      await then(replies?.[0] ?? [null, null]);
      store.remember(after);
    },
    lose: emptyStates,
  };
}

/** As the version before kept them: one JSON value per resident. */
function asBefore(): Keeping {
  const store = new StateStore(redis, prefix, logger);
  return {
    load: async (id) => {
      const text = await redis.get(store.legacyKey(id));
      return text === null ? undefined : decodeState(text);
    },
    save: async (_before, after) => {
      await redis.set(store.legacyKey(after.residentId), encodeState(after));
    },
    lose: emptyStates,
  };
}

/**
 * The day through the core as triage feeds it: each input loads its resident's state, evaluates,
 * and saves it when it changed; timers fire at their due time. `keeping(i)` says how states are
 * kept from input i on; `loseAt` lists the inputs before which every state is lost.
 */
async function run(
  inputs: ReadonlyArray<{ event: TelecareEvent; arrival: number }>,
  keeping: (i: number) => Keeping,
  loseAt: readonly number[] = [],
): Promise<{ alerts: Alert[]; states: Map<string, ResidentState> }> {
  const alerts: Alert[] = [];
  const timers = new Map<string, Timer>();
  const heap: Timer[] = [];
  const push = (timer: Timer) => {
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  };
  const pop = (): Timer | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l] as Timer, heap[m] as Timer)) m = l;
        if (r < heap.length && before(heap[r] as Timer, heap[m] as Timer)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer];
        i = m;
      }
    }
    return top;
  };
  const apply = (commands: readonly TimerCommand[]) => {
    for (const command of commands)
      if (command.op === 'set') {
        timers.set(command.timer.id, command.timer);
        push(command.timer);
      } else timers.delete(command.id);
  };
  const seen = new Set<string>();
  const step = async (kept: Keeping, residentId: string, input: Parameters<typeof evaluate>[1]) => {
    const state = (await kept.load(residentId)) ?? initialState(residentId);
    const result = evaluate(state, input, DEFAULT_RULE_SET);
    alerts.push(...result.alerts);
    apply(result.timers);
    if (result.state !== state) await kept.save(state, result.state);
    seen.add(residentId);
  };
  for (let i = 0; i < inputs.length; i++) {
    const kept = keeping(i);
    if (loseAt.includes(i)) await kept.lose();
    const { event, arrival } = inputs[i] as (typeof inputs)[number];
    for (let due = heap[0]; due !== undefined && due.dueAt <= arrival; due = heap[0]) {
      pop();
      if (timers.get(due.id) !== due) continue;
      timers.delete(due.id);
      await step(kept, due.residentId, { kind: 'tick', timer: due, now: due.dueAt });
    }
    await step(kept, event.residentid, {
      kind: 'event',
      event,
      now: arrival,
      device: { supervisionIntervalS: 3600 },
    });
  }
  const last = keeping(inputs.length);
  const states = new Map<string, ResidentState>();
  for (const id of seen) states.set(id, (await last.load(id)) ?? initialState(id));
  return { alerts, states };
}

const before = (a: Timer, b: Timer) => a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.id < b.id);

describe('the same alerts whichever way the states are kept', () => {
  const inputs = day(EVENTS, HOMES);
  let reference: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    const memory = inMemory();
    reference = await run(inputs, () => memory);
  }, PROOF_TIMEOUT_MS);

  it(
    'with every state saved to Redis as its change and read back before the next input',
    async () => {
      await emptyStates();
      const counts = { change: 0, whole: 0 };
      const redisKept = inRedis(0, counts);
      const through = await run(inputs, () => redisKept);
      expect(through.alerts).toEqual(reference.alerts);
      expect(through.states).toEqual(reference.states);
      expect(counts.whole).toBe(reference.states.size);
      expect(counts.change).toBeGreaterThan(EVENTS / 2);
      logger.info({ alerts: reference.alerts.length, ...counts }, 'saved as changes');
      console.log(
        `${inputs.length} events of ${HOMES} homes: ${reference.alerts.length} alerts, the same; ${counts.change} saves as changes, ${counts.whole} whole`,
      );
    },
    PROOF_TIMEOUT_MS,
  );

  it(
    'with the first half stored as the version before stored it',
    async () => {
      await emptyStates();
      const old = asBefore();
      const counts = { change: 0, whole: 0 };
      const next = inRedis(0, counts);
      const half = Math.floor(inputs.length / 2);
      const through = await run(inputs, (i) => (i < half ? old : next));
      expect(through.alerts).toEqual(reference.alerts);
      expect(through.states).toEqual(reference.states);
      console.log(`version change at ${half}: ${through.alerts.length} alerts, the same`);
    },
    PROOF_TIMEOUT_MS,
  );

  it(
    'with every state lost part-way: held in memory, it is written whole again; not held, rebuilt as in memory',
    async () => {
      const loseAt = [Math.floor(inputs.length * 0.3), Math.floor(inputs.length * 0.45)];
      await emptyStates();
      const holding = inRedis(1_000_000, { change: 0, whole: 0 });
      const held = await run(inputs, () => holding, loseAt);
      expect(held.alerts).toEqual(reference.alerts);

      const memory = inMemory();
      const lost = await run(inputs, () => memory, loseAt);
      await emptyStates();
      const cold = inRedis(0, { change: 0, whole: 0 });
      const through = await run(inputs, () => cold, loseAt);
      expect(through.alerts).toEqual(lost.alerts);
      expect(through.states).toEqual(lost.states);
      console.log(
        `states lost at ${loseAt.join(' and ')}: held ${held.alerts.length} alerts (as none lost), not held ${through.alerts.length} (as in memory)`,
      );
    },
    PROOF_TIMEOUT_MS,
  );
});

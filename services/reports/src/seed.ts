import { createHash } from 'node:crypto';
import {
  Alert,
  alertIdFor,
  CaseEvent,
  type EventType,
  eventIdOfKey,
  type Outcome,
  type Priority,
  TelecareEvent,
} from '@telecare/contracts';
import { z } from 'zod';
import { alertRecord, type CaseStep, caseStep, deviceActivity } from './records.ts';
import type { ReportsStore } from './store.ts';

/**
 * A simulated stretch of activity for a demonstration: residents in postcode districts, their
 * devices' heartbeats and faults, alarm calls with answer times, responder visits, falls and
 * outcomes. Every message is a contract value (parsed by the same schemas as the streams) and goes
 * through the same read-model writes as the streams' messages. It is written straight into the
 * read model, not onto the streams, so the live helpline and triage never see month-old alarms.
 * Seeded: the same options give the same figures, so the options are recorded (`rp_seeds`) and
 * `reports rebuild` writes the same activity again after emptying the read model.
 */
export interface SeedOptions {
  readonly from: Date;
  readonly to: Date;
  readonly residents: number;
  readonly districts: readonly string[];
  readonly seed: number;
  /**
   * The residents to simulate, by id and district (the registry's, so the figures, the episode
   * export and the before/after cohorts are the same people); absent: `residents` made-up ones
   * spread over `districts`.
   */
  readonly people?: readonly { readonly residentId: string; readonly district: string }[];
}

/** Seed options as recorded in `rp_seeds` (JSON): checked when a rebuild reads them back. */
export const RecordedSeed = z.object({
  from: z.coerce.date(),
  to: z.coerce.date(),
  residents: z.number().int().min(1),
  districts: z.array(z.string()).min(1),
  seed: z.number().int(),
  people: z.array(z.object({ residentId: z.string(), district: z.string() })).optional(),
});

/** The id a seed is recorded under: the same options, the same id. */
export const seedIdOf = (options: SeedOptions): string => `seed_${hex(JSON.stringify(options))}`;

export interface SeedMessages {
  readonly events: TelecareEvent[];
  readonly alerts: Alert[];
  readonly steps: CaseEvent[];
}

/** mulberry32: a small seeded generator, enough for a demonstration's spread. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

function pick<T>(rand: () => number, weighted: readonly (readonly [T, number])[]): T {
  const total = weighted.reduce((s, [, w]) => s + w, 0);
  let r = rand() * total;
  for (const [value, weight] of weighted) {
    r -= weight;
    if (r <= 0) return value;
  }
  return (weighted[weighted.length - 1] as readonly [T, number])[0];
}

const CALL_TYPES: readonly (readonly [EventType, number])[] = [
  ['pendant.pressed', 70],
  ['fall.detected', 16],
  ['pullcord.pulled', 8],
  ['smoke.detected', 2],
  ['bogus-caller.pressed', 1],
  ['inactivity.no-wake', 3],
];
const OUTCOMES: readonly (readonly [Outcome, number])[] = [
  ['false-alarm', 28],
  ['reassurance-given', 34],
  ['responder-visit', 22],
  ['ambulance', 10],
  ['admitted-to-hospital', 4],
  ['no-action-needed', 2],
];

/** Answer seconds: most within half a minute, a few slow, very few over three minutes. */
const answerSeconds = (rand: () => number): number => {
  const r = rand();
  if (r < 0.96) return 5 + Math.floor(rand() * 45);
  if (r < 0.993) return 61 + Math.floor(rand() * 110);
  return 185 + Math.floor(rand() * 200);
};

export function seedMessages(options: SeedOptions): SeedMessages {
  const rand = random(options.seed);
  const span = options.to.getTime() - options.from.getTime();
  const days = Math.ceil(span / 86_400_000);
  const events: TelecareEvent[] = [];
  const alerts: Alert[] = [];
  const steps: CaseEvent[] = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  // Ids depend on the seed and the period: another month's seed adds to this one, never collides.
  const tag = `${options.seed}/${options.from.toISOString()}`;

  const event = (
    serial: string,
    residentId: string,
    kind: string,
    type: EventType,
    at: number,
    district: string,
  ) => {
    events.push(
      TelecareEvent.parse({
        specversion: '1.0',
        id: eventIdOfKey(serial, `${type}-${at}`),
        source: '/reports-seed',
        type,
        subject: serial,
        time: iso(at),
        datacontenttype: 'application/json',
        residentid: residentId,
        devicekind: kind,
        deviceeventid: `${type}-${at}`.slice(0, 64),
        partition: 0,
        receivedat: iso(at),
        testmode: false,
        postcodedistrict: district,
        data: {},
      }),
    );
  };

  const people = options.people?.length ?? options.residents;
  for (let i = 0; i < people; i++) {
    const person = options.people?.[i];
    // Districts of unequal size: the first ones are busier.
    const district =
      person?.district ?? (options.districts[Math.floor(rand() ** 1.6 * options.districts.length)] as string);
    const index = Math.max(0, options.districts.indexOf(district));
    const residentId = person?.residentId ?? `res_seed${hex(`${tag}/${i}`).slice(0, 16)}`;
    const devices: [string, string][] = [
      [`HUB-S${i}`, 'home-unit'],
      [`PEN-S${i}`, 'pendant'],
    ];
    if (rand() < 0.4) devices.push([`FALL-S${i}`, 'fall-detector']);
    if (rand() < 0.25) devices.push([`SMK-S${i}`, 'smoke-detector']);
    // A heartbeat a week per device marks it active; some residents joined part-way through.
    const joined = rand() < 0.1 ? Math.floor(rand() * days) : 0;
    for (const [serial, kind] of devices)
      for (let d = joined; d < days; d += 7)
        event(
          serial,
          residentId,
          kind,
          'heartbeat',
          options.from.getTime() + d * 86_400_000 + 3_600_000,
          district,
        );
    if (rand() < 0.08)
      event(
        `HUB-S${i}`,
        residentId,
        'home-unit',
        'mains.lost',
        options.from.getTime() + rand() * span,
        district,
      );
    if (rand() < 0.05)
      event(
        `PEN-S${i}`,
        residentId,
        'pendant',
        'battery.low',
        options.from.getTime() + rand() * span,
        district,
      );

    const calls = Math.floor(rand() * rand() * 5 * (days / 30));
    for (let c = 0; c < calls; c++) {
      const raisedMs = options.from.getTime() + (joined * 86_400_000 + rand() * (span - joined * 86_400_000));
      const type = devices.some(([, k]) => k === 'fall-detector')
        ? pick(rand, CALL_TYPES)
        : 'pendant.pressed';
      const priority: Priority = type === 'inactivity.no-wake' || type === 'bogus-caller.pressed' ? 2 : 1;
      const alertId = alertIdFor('seed', residentId, `${tag}/${c}`);
      alerts.push(
        Alert.parse({
          id: alertId,
          residentId,
          priority,
          type,
          raisedAt: iso(raisedMs),
          rule: { id: 'seed', version: 1 },
          evidence: [eventIdOfKey(`PEN-S${i}`, `${c}`)],
          thresholds: {},
          reason: 'simulated',
          late: rand() < 0.01,
          testMode: false,
        }),
      );
      const caseId = `case_seed${hex(`${tag}/${i}/${c}`).slice(0, 20)}`;
      let stepNo = 0;
      const step = (kind: CaseEvent['kind'], atMs: number, data: Record<string, unknown> = {}) =>
        steps.push(
          CaseEvent.parse({
            id: `cev_${hex(`${caseId}/${++stepNo}`)}`,
            caseId,
            at: iso(atMs),
            actor: 'usr_seed',
            kind,
            data,
          }),
        );
      step('opened', raisedMs + 500, { alertId, priority, type });
      const accepted = raisedMs + answerSeconds(rand) * 1000;
      step('accepted', accepted);
      const fall = type === 'fall.detected' || (type === 'pendant.pressed' && rand() < 0.12);
      let outcome = pick(rand, OUTCOMES);
      if (fall && outcome === 'false-alarm') outcome = 'responder-visit';
      const fact = (data: Record<string, unknown>) =>
        step('fact-recorded', Math.min(Date.parse(String(data.at)) + 60_000, options.to.getTime() - 1), data);
      if (fall)
        fact({
          fact: 'found-on-floor',
          at: iso(accepted + 60_000),
          onFloorMinutes: Math.floor(5 + rand() * (rand() < 0.15 ? 240 : 55)),
          source: pick(rand, [
            ['resident', 3],
            ['responder', 2],
            ['sensor', 1],
          ] as const),
        });
      if (outcome === 'responder-visit' || outcome === 'ambulance' || outcome === 'admitted-to-hospital') {
        const called = accepted + 90_000;
        step('responder-called', called);
        // Farther districts wait longer: the last ones often miss 45 minutes.
        const minutes = 12 + rand() * 25 + (index / options.districts.length) * 30 * rand();
        fact({ fact: 'responder-arrived', at: iso(called + minutes * 60_000) });
      }
      if (outcome === 'ambulance' || outcome === 'admitted-to-hospital') {
        fact({ fact: 'ambulance-requested', at: iso(accepted + 120_000) });
        fact({ fact: 'ambulance-attended', at: iso(accepted + (30 + rand() * 90) * 60_000) });
        if (outcome === 'admitted-to-hospital' || rand() < 0.5)
          fact({ fact: 'ambulance-conveyed', at: iso(accepted + 150 * 60_000) });
        if (outcome === 'admitted-to-hospital') fact({ fact: 'admitted', at: iso(accepted + 240 * 60_000) });
      }
      step('resolved', accepted + (5 + rand() * 60) * 60_000, { outcome });
    }
    if (rand() < 0.06) {
      const raisedMs = options.from.getTime() + rand() * span;
      const alertId = alertIdFor('seed-supervision', residentId, tag);
      alerts.push(
        Alert.parse({
          id: alertId,
          residentId,
          priority: 3,
          type: 'supervision.lost',
          raisedAt: iso(raisedMs),
          rule: { id: 'seed', version: 1 },
          evidence: [eventIdOfKey(`PEN-S${i}`, 'supervision')],
          thresholds: {},
          reason: 'simulated',
          late: false,
          testMode: false,
          deviceSerial: `PEN-S${i}`,
          // Every fourth silent device a smoke detector: the losses by kind have more than one.
          deviceKind: i % 4 === 0 ? 'smoke-detector' : 'pendant',
        }),
      );
    }
  }
  return { events, alerts, steps };
}

/** Writes the simulated activity of `options` and records them, so a rebuild writes it again. */
export async function applySeed(store: ReportsStore, options: SeedOptions, now: Date): Promise<SeedMessages> {
  const messages = seedMessages(options);
  await writeSeed(store, messages);
  await store.recordSeed(seedIdOf(options), options, now);
  return messages;
}

/** Writes again every simulated activity recorded (after a rebuild emptied the read model). */
export async function reapplySeeds(store: ReportsStore): Promise<number> {
  const recorded = await store.seeds();
  for (const options of recorded) await writeSeed(store, seedMessages(RecordedSeed.parse(options)));
  return recorded.length;
}

/** Writes seeded messages through the read model's own writes, many to a transaction. */
export async function writeSeed(store: ReportsStore, messages: SeedMessages): Promise<void> {
  const chunks = <T>(items: readonly T[], size: number): T[][] =>
    Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
  const activity = messages.events.flatMap((e) => deviceActivity(e) ?? []);
  for (const part of chunks(activity, 2000)) await store.applyActivities(part);
  for (const part of chunks(messages.alerts.map(alertRecord), 500)) await store.applyMany(part, []);
  // Whole cases to a transaction, so one case's steps stay in order.
  const byCase = new Map<string, CaseStep[]>();
  for (const step of messages.steps.map(caseStep))
    byCase.set(step.caseId, [...(byCase.get(step.caseId) ?? []), step]);
  for (const part of chunks([...byCase.values()], 200)) await store.applyMany([], part.flat());
}

/** The demonstration's districts: twelve of Gloucester and around, adjacent by number. */
export const DEMO_DISTRICTS = [
  'GL1',
  'GL2',
  'GL3',
  'GL4',
  'GL5',
  'GL6',
  'GL7',
  'GL8',
  'GL9',
  'GL10',
  'GL11',
  'GL12',
];

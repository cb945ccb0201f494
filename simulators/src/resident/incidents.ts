import type { EventType } from '@telecare/contracts';
import type { Actor, Expectation, SimEvent } from './events.ts';
import { byTime } from './events.ts';
import { type DeviceKey, deviceSpec } from './household.ts';
import { PROFILES } from './profiles.ts';
import { carerTag, DAY, dayPlan, doseIdOf, HOUR, MINUTE, type Timeline } from './routine.ts';

export const INCIDENT_KINDS = [
  'fall.detector',
  'fall.detector-and-press',
  'fall.press-only',
  'fall.silent-day',
  'fall.silent-night',
  'pendant.true',
  'pendant.false',
  'pendant.cancelled',
  'pendant.repeated',
  'not-up',
  'night-exit',
  'night-exit.door-open',
  'cold-home',
  'smoke',
  'heat',
  'co',
  'fire.trouble',
  'medication.missed',
  'carer.no-show',
  'device.silent',
  'area.mains-lost',
  'collapse.after-getup',
  'never-up',
  'out.not-back',
] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/** One incident to inject: which home(s), which day and (where it matters) what time of day. */
export interface IncidentSpec {
  readonly kind: IncidentKind;
  /** The home it happens in; for `area.mains-lost`, the postcode district instead. */
  readonly home?: string;
  readonly district?: string;
  readonly day: number;
  /** Minutes after midnight; each kind has a sensible default. */
  readonly minute?: number;
  /** Which dose or carer visit of the day (0-based), for `medication.missed` and `carer.no-show`. */
  readonly index?: number;
  /**
   * For `collapse.after-getup`: minutes of ordinary activity after getting up before the
   * collapse (default 5: soon after leaving the bed).
   */
  readonly afterMinutes?: number;
  /**
   * The device that goes silent, for `device.silent` (default the smoke detector); the fire
   * detector in trouble, for `fire.trouble` (`smoke`, the default, or `heat`).
   */
  readonly device?: DeviceKey;
}

/** Seconds an operator-facing P1 alert may take: the whole pipeline has a minute. */
const P1_DEADLINE_S = 60;
const GRACE_S = 15 * 60;

const DEFAULT_MINUTE: Partial<Record<IncidentKind, number>> = {
  'fall.detector': 10 * 60 + 40,
  'fall.detector-and-press': 15 * 60 + 10,
  'fall.press-only': 11 * 60 + 20,
  'fall.silent-day': 14 * 60 + 20,
  'pendant.true': 9 * 60 + 30,
  'pendant.false': 16 * 60 + 5,
  'pendant.cancelled': 19 * 60 + 2,
  'pendant.repeated': 20 * 60 + 15,
  'night-exit': 2 * 60 + 40,
  'night-exit.door-open': 2 * 60 + 40,
  'cold-home': 15 * 60,
  smoke: 18 * 60 + 10,
  heat: 12 * 60 + 45,
  co: 7 * 60 + 50,
  // A detector's daily self-test finds the trouble.
  'fire.trouble': 8 * 60 + 15,
  'device.silent': 6 * 60,
  'area.mains-lost': 14 * 60,
  'out.not-back': 18 * 60 + 30,
};

/** How soon after the person's usual time an incident of the irregular corpus must be seen. */
const IRREGULAR_DEADLINE_S = 2 * 3600;

/** Heating failures the timelines must be built with (the temperature follows from them). */
export function heatingFailuresOf(incidents: readonly IncidentSpec[], home: string, origin: number) {
  return incidents
    .filter((i) => i.kind === 'cold-home' && i.home === home)
    .map((i) => {
      const from = origin + i.day * DAY + (i.minute ?? DEFAULT_MINUTE['cold-home'] ?? 0) * MINUTE;
      return { from, to: from + DAY };
    });
}

export class IncidentError extends Error {
  constructor(
    message: string,
    readonly incident: IncidentSpec,
  ) {
    super(message);
    this.name = 'IncidentError';
  }
}

/**
 * Changes the homes' timelines the way the incident would change what their devices send, and
 * adds the ground truth: what the platform should raise, at what priority and by when.
 */
export function applyIncident(
  timelines: ReadonlyMap<string, Timeline>,
  spec: IncidentSpec,
  id: string,
): void {
  if (spec.kind === 'area.mains-lost') {
    areaMainsLost(timelines, spec, id);
    return;
  }
  const tl = spec.home ? timelines.get(spec.home) : undefined;
  if (!tl) throw new IncidentError(`no home ${spec.home ?? '(none)'} for ${spec.kind}`, spec);
  const plan = dayPlan(tl.home, tl.origin, spec.day);
  const next = dayPlan(tl.home, tl.origin, spec.day + 1);
  const T = plan.start + (spec.minute ?? DEFAULT_MINUTE[spec.kind] ?? 0) * MINUTE;
  const key = tl.home.key;
  const inject = (
    at: number,
    device: DeviceKey,
    type: EventType,
    actor: Actor = 'device',
    data?: Record<string, unknown>,
  ) =>
    tl.events.push({
      at: Math.round(at),
      home: key,
      device,
      type,
      actor,
      incident: id,
      ...(data ? { data } : {}),
    });
  const expect = (
    e: Omit<Expectation, 'incidentId' | 'kind' | 'homes' | 'related'> & { related?: EventType[] },
  ) => tl.expectations.push({ incidentId: id, kind: spec.kind, homes: [key], related: [], ...e });
  const quiet = (from: number, to: number, actors: readonly Actor[] = ['resident']) =>
    remove(tl, (e) => e.at >= from && e.at < to && actors.includes(e.actor) && !e.incident);
  // Whoever falls in the bathroom got out of the chair (or bed) first: the sensor says so.
  const leaveSeats = (before: number) => {
    for (const [device, off] of [
      ['chair', 'chair.vacated'],
      ['bed', 'bed.vacated'],
    ] as const) {
      const last = tl.events
        .filter((e) => e.device === device && e.at < before && e.type !== 'heartbeat')
        .at(-1);
      if (last?.type === `${device}.occupied`) inject(before - 60_000, device, off, 'resident');
    }
  };
  const afterFall = [
    'pendant.pressed',
    'inactivity.unusual',
    'inactivity.no-wake',
    'medication.missed',
    'bed.not-returned',
  ] as EventType[];

  switch (spec.kind) {
    case 'fall.detector':
    case 'fall.detector-and-press':
    case 'fall.press-only': {
      // From just before: whatever the routine had them doing, they walked to the bathroom.
      quiet(T - 2 * MINUTE, T + 3 * HOUR);
      leaveSeats(T - 40_000);
      inject(T - 40_000, 'pir.bathroom', 'motion', 'resident');
      const signals: Array<[number, DeviceKey, EventType]> = [];
      if (spec.kind !== 'fall.press-only') signals.push([T + 5_000, 'fall', 'fall.detected']);
      if (spec.kind !== 'fall.detector') signals.push([T + 75_000, 'pendant', 'pendant.pressed']);
      for (const [at, device, type] of signals)
        inject(at, device, type, at === T + 5_000 ? 'device' : 'resident');
      // A responder lets themselves in with the key-safe code about forty minutes later.
      inject(T + 40 * MINUTE, 'door', 'door.opened', 'visitor');
      inject(T + 40 * MINUTE + 20_000, 'door', 'door.closed', 'visitor');
      const first = signals[0]?.[0] ?? T;
      expect({
        at: T,
        expect: signals.map(([, , type]) => type),
        related: afterFall,
        priority: 1,
        deadlineS: Math.round((first - T) / 1000) + P1_DEADLINE_S,
        lifeCritical: true,
        until: T + 3 * HOUR,
        note: `fall in the bathroom; ${signals.map(([, , t]) => t).join(' then ')}`,
      });
      break;
    }
    case 'fall.silent-day': {
      // Nobody knows until the routine says so: quiet until the next morning (no visitor calls,
      // or they would find them).
      quiet(T - 2 * MINUTE, next.wake + HOUR, ['resident', 'visitor']);
      leaveSeats(T - 40_000);
      inject(T - 40_000, 'pir.lounge', 'motion', 'resident');
      inject(next.wake + HOUR, 'bed', 'bed.vacated', 'resident');
      expect({
        at: T,
        expect: ['inactivity.unusual'],
        related: afterFall.filter((t) => t !== 'pendant.pressed'),
        priority: 2,
        deadlineS: 4 * 3600,
        lifeCritical: false,
        until: next.wake + HOUR,
        note: 'fall in the lounge, no detector alarm, no press: only the routine can tell',
      });
      break;
    }
    case 'fall.silent-night': {
      const at = spec.minute === undefined ? next.start + 3 * HOUR : T;
      quiet(at, next.wake + 2 * HOUR);
      inject(at, 'bed', 'bed.vacated', 'resident');
      inject(at + 40_000, 'pir.bedroom', 'motion', 'resident');
      inject(at + 70_000, 'pir.hall', 'motion', 'resident');
      inject(at + 100_000, 'pir.bathroom', 'motion', 'resident');
      expect({
        at,
        expect: ['bed.not-returned'],
        related: afterFall.filter((t) => t !== 'pendant.pressed' && t !== 'bed.not-returned'),
        priority: 2,
        deadlineS: 60 * 60,
        lifeCritical: false,
        until: next.wake + 2 * HOUR,
        note: 'up in the night, fell in the bathroom, no detector alarm and no press',
      });
      break;
    }
    case 'pendant.true':
    case 'pendant.false': {
      inject(T, 'pendant', 'pendant.pressed', 'resident');
      expect({
        at: T,
        expect: ['pendant.pressed'],
        priority: 1,
        deadlineS: P1_DEADLINE_S,
        lifeCritical: true,
        note: spec.kind === 'pendant.true' ? 'felt unwell and pressed' : 'pressed by accident, not cancelled',
      });
      break;
    }
    case 'pendant.cancelled': {
      inject(T, 'pendant', 'pendant.pressed', 'resident');
      inject(T + 12_000, 'pendant', 'alarm.cancelled', 'resident');
      // DESIGN §5: a cancel within the pre-alarm window closes the alert as a recorded false
      // alarm. The press is raised (the operator may already see it) and then closed.
      expect({
        at: T,
        expect: ['pendant.pressed'],
        priority: 1,
        deadlineS: P1_DEADLINE_S,
        lifeCritical: false,
        closedAs: 'false-alarm',
        note: 'pressed by accident and cancelled 12 s later, inside the pre-alarm window: raised, then closed as a false alarm',
      });
      break;
    }
    case 'pendant.repeated': {
      for (const offset of [0, 25_000, 50_000]) inject(T + offset, 'pendant', 'pendant.pressed', 'resident');
      expect({
        at: T,
        expect: ['pendant.pressed'],
        priority: 1,
        deadlineS: P1_DEADLINE_S,
        lifeCritical: true,
        note: 'pressed three times in a minute: one alarm',
      });
      break;
    }
    case 'not-up': {
      const upAt = plan.wake + 5 * HOUR;
      const { wake } = PROFILES[tl.home.profile];
      const usual = plan.start + wake.mean * MINUTE;
      // From before the earliest this person gets up: a toilet trip just before dawn is not getting up.
      quiet(Math.min(plan.wake - HOUR, usual - (3 * wake.sd + 15) * MINUTE), upAt);
      inject(upAt, 'bed', 'bed.vacated', 'resident');
      inject(upAt + 40_000, 'pir.bedroom', 'motion', 'resident');
      expect({
        at: usual,
        expect: ['inactivity.no-wake', 'inactivity.unusual'],
        related: ['medication.missed'],
        priority: 2,
        deadlineS: 3 * 3600,
        lifeCritical: false,
        until: upAt,
        note: 'unwell: stays in bed five hours past getting-up time',
      });
      break;
    }
    case 'night-exit':
    case 'night-exit.door-open': {
      const open = spec.kind === 'night-exit.door-open';
      quiet(T - 10 * MINUTE, T + 70 * MINUTE);
      inject(T, 'bed', 'bed.vacated', 'resident');
      inject(T + 30_000, 'pir.bedroom', 'motion', 'resident');
      inject(T + 70_000, 'pir.hall', 'motion', 'resident');
      const out = T + 120_000;
      inject(out, 'door', 'door.opened', 'resident');
      // Either pulled shut behind them, or left open until they are brought back.
      if (!open) inject(out + 25_000, 'door', 'door.closed', 'resident');
      // Brought home by a neighbour fifty minutes later.
      const back = out + 50 * MINUTE;
      if (!open) inject(back, 'door', 'door.opened', 'visitor');
      inject(back + 30_000, 'door', 'door.closed', 'visitor');
      inject(back + 40_000, 'pir.hall', 'motion', 'resident');
      inject(back + 6 * MINUTE, 'pir.bedroom', 'motion', 'resident');
      inject(back + 7 * MINUTE, 'bed', 'bed.occupied', 'resident');
      // A door held open at night for 10 min (DESIGN §5), or a door pulled shut and then a silent
      // home, is a property exit at night; "out of bed at night and not back" (45 min) follows,
      // and "out and not back" 45 min after the door, as it is night.
      expect({
        at: out,
        expect: ['door.exit-at-night'],
        related: ['bed.not-returned', 'outing.not-returned'],
        priority: 2,
        deadlineS: 15 * 60,
        lifeCritical: false,
        until: back + 7 * MINUTE,
        note: open
          ? 'left through the front door at night and left it open, back after fifty minutes'
          : 'left through the front door at night and pulled it shut, back after fifty minutes',
      });
      break;
    }
    case 'cold-home': {
      const firstCold = tl.events.find(
        (e) => e.type === 'temperature' && e.at >= T && Number(e.data?.celsius) < 16,
      );
      if (!firstCold)
        throw new IncidentError(`heating failure in ${key} never made it cold; pick another day`, spec);
      expect({
        at: firstCold.at,
        expect: ['temperature.low'],
        priority: 2,
        // Below 16 °C for an hour, seen by half-hourly readings, plus grace.
        deadlineS: 60 * 60 + 30 * 60 + GRACE_S,
        lifeCritical: false,
        note: `heating failed at ${new Date(T).toISOString().slice(11, 16)}; below 16 °C from ${new Date(firstCold.at).toISOString().slice(11, 16)}`,
      });
      break;
    }
    case 'collapse.after-getup': {
      // Gets up as usual, then collapses: nothing from them (and no visitor) until someone comes
      // the next day, two hours after they would have been up.
      const down = plan.wake + (spec.afterMinutes ?? 5) * MINUTE;
      const found = next.wake + 2 * HOUR;
      quiet(down, found, ['resident', 'visitor']);
      inject(found, 'door', 'door.opened', 'visitor');
      inject(found + 20_000, 'door', 'door.closed', 'visitor');
      expect({
        at: down,
        expect: ['inactivity.unusual'],
        related: [
          'inactivity.no-wake',
          'medication.missed',
          'bed.not-returned',
          'outing.not-returned',
          'chair.too-long',
        ],
        priority: 2,
        deadlineS: IRREGULAR_DEADLINE_S,
        lifeCritical: false,
        until: found,
        note: `collapsed ${spec.afterMinutes ?? 5} min after getting up; found the next day`,
      });
      break;
    }
    case 'never-up': {
      // Went to bed the night before and never got up: no toilet trip, nothing, until found.
      const prev = dayPlan(tl.home, tl.origin, spec.day - 1);
      const asleep = tl.events.filter((e) => e.type === 'bed.occupied' && e.at <= prev.bed + 2 * HOUR).at(-1);
      const from = (asleep?.at ?? prev.bed) + 1_000;
      const found = plan.start + 18 * HOUR;
      quiet(from, found, ['resident', 'visitor']);
      inject(found, 'door', 'door.opened', 'visitor');
      inject(found + 20_000, 'door', 'door.closed', 'visitor');
      const profile = PROFILES[tl.home.profile];
      const usual = plan.start + profile.wake.mean * MINUTE;
      // Due two hours after the latest this person gets up on an ordinary day (a weekend's later
      // start included): for a regular profile, three spreads after the usual time.
      const irr = profile.irregular;
      const latest = irr ? irr.wakeRange[1] + irr.weekendWakeShift : profile.wake.mean + 3 * profile.wake.sd;
      expect({
        at: usual,
        expect: ['inactivity.no-wake', 'inactivity.unusual'],
        related: ['medication.missed', 'outing.not-returned'],
        priority: 2,
        deadlineS: Math.round((latest - profile.wake.mean) * 60 + IRREGULAR_DEADLINE_S),
        lifeCritical: false,
        until: found,
        note: 'went to bed and never got up; found at 18:00',
      });
      break;
    }
    case 'out.not-back': {
      // Out of the front door in the evening and not back: nothing inside until the police bring
      // them home the next morning.
      const back = next.start + 10 * HOUR;
      quiet(T - 2 * MINUTE, back, ['resident', 'visitor']);
      leaveSeats(T - 90_000);
      inject(T - 60_000, 'pir.hall', 'motion', 'resident');
      inject(T, 'door', 'door.opened', 'resident');
      inject(T + 20_000, 'door', 'door.closed', 'resident');
      inject(back, 'door', 'door.opened', 'visitor');
      inject(back + 20_000, 'door', 'door.closed', 'visitor');
      inject(back + 60_000, 'pir.hall', 'motion', 'resident');
      // Their usual return: an ordinary outing lasts at most four hours and is home before the
      // evening winds down, an hour before their usual bedtime (`outingWindows`). Due two hours later.
      const usualBed = plan.start + PROFILES[tl.home.profile].bed.mean * MINUTE;
      const usualBack = Math.min(T + 4 * HOUR, usualBed - HOUR);
      expect({
        at: T,
        expect: ['outing.not-returned', 'door.exit-at-night'],
        related: ['inactivity.unusual', 'inactivity.no-wake', 'bed.not-returned', 'medication.missed'],
        priority: 2,
        deadlineS: Math.round((usualBack - T) / 1000) + IRREGULAR_DEADLINE_S,
        lifeCritical: false,
        until: back,
        note: `went out in the evening and never came back (usually back by ${new Date(usualBack).toISOString().slice(11, 16)} UTC); brought home the next morning`,
      });
      break;
    }
    case 'smoke':
    case 'heat':
    case 'co': {
      const device: DeviceKey = spec.kind;
      const type = `${spec.kind}.detected` as EventType;
      inject(T, device, type);
      inject(T + 9 * MINUTE, device, `${spec.kind}.restored` as EventType);
      expect({
        at: T,
        expect: [type],
        priority: 1,
        deadlineS: P1_DEADLINE_S,
        lifeCritical: true,
        note: `${deviceSpec(device).kind} in the ${deviceSpec(device).location}; cleared nine minutes later`,
      });
      break;
    }
    case 'fire.trouble': {
      // A fire detector's trouble (its chamber dirty, its sensitivity out of range, its self-test
      // failed): it may not see a fire. An engineer cleans or replaces it three hours later, and
      // the detector reports the trouble cleared.
      const device = spec.device ?? 'smoke';
      if (device !== 'smoke' && device !== 'heat')
        throw new IncidentError(`a fire trouble is a smoke or heat detector's, not ${device}'s`, spec);
      inject(T, device, 'device.fault');
      inject(T + 3 * HOUR, device, 'fault.restored');
      expect({
        at: T,
        expect: ['device.fault'],
        priority: 3,
        deadlineS: GRACE_S,
        lifeCritical: false,
        note: `${deviceSpec(device).kind} in the ${deviceSpec(device).location} reports a trouble (it may not see a fire); cleared three hours later`,
      });
      break;
    }
    case 'medication.missed': {
      const doseId = doseIdOf(spec.day, spec.index ?? 0);
      const due = tl.events.find((e) => e.type === 'medication.due' && e.tag === doseId);
      if (!due) throw new IncidentError(`no dose ${doseId} in ${key}`, spec);
      remove(tl, (e) => e.tag === doseId && e.type !== 'medication.due');
      expect({
        at: due.at,
        expect: ['medication.missed'],
        priority: 2,
        deadlineS: 30 * 60 + GRACE_S,
        lifeCritical: false,
        note: `dose ${doseId} due and never taken`,
      });
      break;
    }
    case 'carer.no-show': {
      const index = spec.index ?? 0;
      const minute = PROFILES[tl.home.profile].carerVisits[index];
      if (minute === undefined) throw new IncidentError(`${key} has no carer visit ${index}`, spec);
      remove(tl, (e) => e.tag === carerTag(spec.day, index));
      expect({
        at: plan.start + minute * MINUTE,
        expect: ['carer.no-show'],
        priority: 2,
        deadlineS: 30 * 60 + GRACE_S,
        lifeCritical: false,
        note: `carer visit ${index} of the day not made`,
      });
      break;
    }
    case 'device.silent': {
      const device = spec.device ?? 'smoke';
      const lastBeat = tl.events
        .filter((e) => e.device === device && e.type === 'heartbeat' && e.at < T)
        .at(-1);
      const last = lastBeat?.at ?? tl.origin;
      remove(tl, (e) => e.device === device && e.at >= T);
      const due = last + deviceSpec(device).supervisionS * 1000;
      expect({
        at: T,
        expect: ['supervision.lost'],
        priority: 3,
        deadlineS: Math.round((due - T) / 1000) + GRACE_S,
        lifeCritical: false,
        note: `${device} stops sending; its supervision interval runs out at ${new Date(due).toISOString().slice(11, 16)}`,
      });
      break;
    }
    default:
      throw new IncidentError(`unhandled incident ${spec.kind}`, spec);
  }
  tl.events.sort(byTime);
}

function remove(tl: Timeline, drop: (e: SimEvent) => boolean): void {
  const kept = tl.events.filter((e) => !drop(e));
  tl.events.length = 0;
  tl.events.push(...kept);
}

/** Every hub in one postcode district loses mains within two minutes and gets it back 45 minutes later. */
function areaMainsLost(timelines: ReadonlyMap<string, Timeline>, spec: IncidentSpec, id: string): void {
  const district = spec.district;
  const homes = [...timelines.values()].filter(
    (tl) => district && tl.home.postcode.startsWith(`${district} `),
  );
  if (homes.length === 0) throw new IncidentError(`no homes in district ${district ?? '(none)'}`, spec);
  const first = homes[0] as Timeline;
  const T = first.origin + spec.day * DAY + (spec.minute ?? DEFAULT_MINUTE['area.mains-lost'] ?? 0) * MINUTE;
  const restoredAt = T + 45 * MINUTE;
  homes.forEach((tl, i) => {
    // Spread deterministically across two minutes, as a grid fault reaches homes.
    const jitter = ((i * 7919) % 120) * 1000;
    tl.events.forEach((e, n) => {
      if (e.device === 'hub' && e.type === 'heartbeat' && e.at >= T + jitter && e.at < restoredAt + jitter)
        tl.events[n] = { ...e, data: { ...e.data, mains: false } };
    });
    const push = (at: number, type: EventType) =>
      tl.events.push({ at, home: tl.home.key, device: 'hub', type, actor: 'environment', incident: id });
    push(T + jitter, 'mains.lost');
    push(restoredAt + jitter, 'mains.restored');
    tl.events.sort(byTime);
  });
  first.expectations.push({
    incidentId: id,
    kind: spec.kind,
    homes: homes.map((tl) => tl.home.key),
    at: T,
    expect: ['area.mains-lost'],
    related: ['mains.lost'],
    priority: 3,
    deadlineS: 10 * 60,
    lifeCritical: false,
    area: true,
    note: `${homes.length} homes in ${district} lose mains within two minutes`,
  });
}

import type { EventType } from '@telecare/contracts';
import type { Actor, Expectation, SimEvent } from './events.ts';
import { byTime } from './events.ts';
import { type DeviceKey, HOME_DEVICES, type HomeSpec, type Room } from './household.ts';
import { type Irregular, PROFILES } from './profiles.ts';
import { normal, poisson, type Random, streamOf, uniform } from './random.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** When the resident gets up and goes to bed on a day (epoch ms). */
export interface DayPlan {
  readonly day: number;
  readonly start: number;
  readonly wake: number;
  readonly bed: number;
}

export function dayPlan(home: HomeSpec, origin: number, day: number): DayPlan {
  const profile = PROFILES[home.profile];
  const start = origin + day * DAY;
  if (profile.irregular) return irregularPlan(home, profile.irregular, start, day);
  const r = streamOf(home.seed, 'plan', day);
  return {
    day,
    start,
    wake: start + Math.round(normal(r, profile.wake.mean, profile.wake.sd)) * MINUTE,
    bed: start + Math.round(normal(r, profile.bed.mean, profile.bed.sd)) * MINUTE,
  };
}

const isWeekend = (start: number): boolean => {
  const weekday = new Date(start).getUTCDay();
  return weekday === 0 || weekday === 6;
};

/** Bedtime of a day (minutes after its midnight): Friday and Saturday nights run later. */
function irregularBed(home: HomeSpec, irr: Irregular, start: number, day: number): number {
  const weekday = new Date(start).getUTCDay();
  const shift = weekday === 5 || weekday === 6 ? irr.weekendBedShift : 0;
  return normal(streamOf(home.seed, 'bed-irregular', day), irr.bed.mean + shift, irr.bed.sd);
}

/**
 * A real person's day: up anywhere in a wide range (later at weekends, and later after a late
 * night), to bed around a mean that moves at weekends. Each part from its own stream.
 */
function irregularPlan(home: HomeSpec, irr: Irregular, start: number, day: number): DayPlan {
  const r = streamOf(home.seed, 'plan-irregular', day);
  const lateNight = irregularBed(home, irr, start - DAY, day - 1) - irr.bed.mean;
  const wake =
    uniform(r, irr.wakeRange[0], irr.wakeRange[1]) +
    (isWeekend(start) ? irr.weekendWakeShift : 0) +
    Math.min(90, Math.max(0, lateNight * irr.lateNightCarry));
  return {
    day,
    start,
    wake: start + Math.round(wake) * MINUTE,
    bed: start + Math.round(irregularBed(home, irr, start, day)) * MINUTE,
  };
}

/** Builds one resident-day: a cursor that moves through rooms, as the sensors see it. */
class DayBuilder {
  t: number;
  readonly events: SimEvent[] = [];
  constructor(
    readonly home: string,
    readonly r: Random,
    start: number,
  ) {
    this.t = start;
  }

  emit(
    at: number,
    device: DeviceKey,
    type: EventType,
    actor: Actor = 'resident',
    extra: Partial<SimEvent> = {},
  ) {
    this.events.push({ at: Math.round(at), home: this.home, device, type, actor, ...extra });
  }

  /** Time in a room: movement on entering, then every few minutes unless `still` (asleep). */
  stay(room: Room, minutes: number, options: { still?: boolean; actor?: Actor; tag?: string } = {}): void {
    const end = this.t + minutes * MINUTE;
    const extra = options.tag ? { tag: options.tag } : {};
    this.emit(this.t, `pir.${room}`, 'motion', options.actor, extra);
    if (!options.still) {
      // A PIR re-arms after a few minutes; a person moving about sets it off again.
      for (let at = this.t + uniform(this.r, 3, 8) * MINUTE; at < end; at += uniform(this.r, 3, 9) * MINUTE)
        this.emit(at, `pir.${room}`, 'motion', options.actor, extra);
    }
    this.t = end;
  }

  go(room: Room, minutes: number, options: { still?: boolean; actor?: Actor; tag?: string } = {}): void {
    this.stay('hall', 0.4, options);
    this.stay(room, minutes, options);
  }

  /** An evening in front of the television: in the chair for hours, the PIR seeing little. */
  watch(minutes: number): void {
    this.stay('hall', 0.4);
    this.emit(this.t, 'chair', 'chair.occupied');
    const end = this.t + minutes * MINUTE;
    this.emit(this.t, 'pir.lounge', 'motion');
    for (let at = this.t + uniform(this.r, 20, 50) * MINUTE; at < end; at += uniform(this.r, 20, 60) * MINUTE)
      this.emit(at, 'pir.lounge', 'motion');
    this.t = end;
    this.emit(this.t, 'chair', 'chair.vacated');
  }

  /** A nap in bed after lunch: the bed says occupied, nothing moves. */
  napInBed(minutes: number): void {
    this.go('bedroom', 1);
    this.emit(this.t, 'bed', 'bed.occupied');
    this.stay('bedroom', minutes, { still: true });
    this.emit(this.t, 'bed', 'bed.vacated');
    this.stay('bedroom', 1);
  }

  sit(minutes: number, nap: boolean): void {
    this.stay('hall', 0.4);
    this.emit(this.t, 'chair', 'chair.occupied');
    if (nap) {
      const awake = minutes * uniform(this.r, 0.2, 0.4);
      this.stay('lounge', awake);
      this.stay('lounge', minutes - awake, { still: true });
    } else {
      this.stay('lounge', minutes);
    }
    this.emit(this.t, 'chair', 'chair.vacated');
  }

  frontDoor(actor: Actor, tag?: string): void {
    const extra = tag ? { tag } : {};
    this.emit(this.t, 'door', 'door.opened', actor, extra);
    this.emit(this.t + uniform(this.r, 10, 40) * 1000, 'door', 'door.closed', actor, extra);
  }
}

const at = (plan: DayPlan, minute: number) => plan.start + minute * MINUTE;

/**
 * What the resident, their carers and visitors do from getting up on `day` to getting up the next
 * day. Pure: the same home, origin and day give the same events.
 */
export function residentDay(home: HomeSpec, origin: number, day: number): SimEvent[] {
  const profile = PROFILES[home.profile];
  const plan = dayPlan(home, origin, day);
  const next = dayPlan(home, origin, day + 1);
  const r = streamOf(home.seed, 'day', day);
  const b = new DayBuilder(home.key, r, plan.wake);

  // Morning.
  b.emit(b.t, 'bed', 'bed.vacated');
  b.stay('bedroom', uniform(r, 2, 6));
  b.go('bathroom', uniform(r, 8, 16));
  b.go('kitchen', uniform(r, 20, 35));

  const lunch = at(plan, normal(r, 12 * 60 + 30, 20));
  const dinner = at(plan, normal(r, 17 * 60 + 30, 25));
  const outing = r() < profile.outing ? outingWindow(r, plan) : undefined;
  const napAt = r() < profile.nap ? at(plan, uniform(r, 13.5 * 60, 15.5 * 60)) : undefined;
  let lunchDone = false;
  let dinnerDone = false;
  let napDone = false;
  const winddown = plan.bed - uniform(r, 30, 45) * MINUTE;
  const irr = profile.irregular;
  // The irregular profiles' extras come from streams of their own: the regular profiles' days
  // stay exactly as they were.
  const extra = streamOf(home.seed, 'extras', day);
  const outings = irr ? outingWindows(extra, irr, plan, winddown) : outing ? [outing] : [];
  let outingsDone = 0;
  const tvAt = irr && extra() < irr.tvEvening ? dinner + uniform(extra, 45, 90) * MINUTE : undefined;
  const bedNapAt = irr && extra() < irr.bedNap ? at(plan, uniform(extra, 13.5 * 60, 16 * 60)) : undefined;
  let tvDone = false;
  let bedNapDone = false;
  while (b.t < winddown) {
    const nextOuting = outings[outingsDone];
    if (nextOuting && irr && b.t >= nextOuting.to) {
      outingsDone++; // something else ran past it: not going out after all
    } else if (nextOuting && b.t >= nextOuting.from) {
      b.stay('hall', uniform(r, 1, 3));
      b.frontDoor('resident', 'outing');
      b.t = Math.max(b.t + 60_000, nextOuting.to);
      b.frontDoor('resident', 'outing');
      b.stay('hall', uniform(r, 1, 2));
      outingsDone++;
    } else if (bedNapAt !== undefined && !bedNapDone && b.t >= bedNapAt) {
      b.napInBed(uniform(extra, 45, 120));
      bedNapDone = true;
    } else if (tvAt !== undefined && !tvDone && dinnerDone && b.t >= tvAt) {
      b.watch(Math.max(10, Math.min(uniform(extra, 120, 240), (winddown - b.t) / MINUTE)));
      tvDone = true;
    } else if (!lunchDone && b.t >= lunch) {
      b.go('kitchen', uniform(r, 25, 40));
      lunchDone = true;
    } else if (!dinnerDone && b.t >= dinner) {
      b.go('kitchen', uniform(r, 30, 50));
      dinnerDone = true;
    } else {
      const roll = r();
      if (roll < 0.2) b.go('bathroom', uniform(r, 4, 9));
      else if (roll < 0.4) b.go('kitchen', uniform(r, 8, 15));
      else if (roll < 0.47) b.go('bedroom', uniform(r, 3, 8));
      else {
        const nap = napAt !== undefined && !napDone && b.t >= napAt;
        if (nap) napDone = true;
        // Sessions stop short of the next meal or outing, so the day keeps its shape.
        const nextFixed = Math.min(
          ...[
            !lunchDone ? lunch : Infinity,
            !dinnerDone ? dinner : Infinity,
            outings[outingsDone]?.from ?? Infinity,
            bedNapAt !== undefined && !bedNapDone ? bedNapAt : Infinity,
            tvAt !== undefined && !tvDone ? tvAt : Infinity,
            winddown,
          ],
        );
        const room = Math.max(10, Math.min(uniform(r, 30, 100), (nextFixed - b.t) / MINUTE));
        b.sit(nap ? Math.max(room, 45) : room, nap);
      }
    }
  }
  // Evening and bed.
  b.go('kitchen', uniform(r, 5, 12));
  b.go('bathroom', uniform(r, 8, 14));
  b.go('bedroom', Math.max(1, (plan.bed - b.t) / MINUTE));
  b.emit(b.t, 'bed', 'bed.occupied');
  const asleep = b.t;

  // The night: trips to the toilet and, for some, wandering the house.
  const trips = poisson(r, profile.nightToiletTrips);
  const nightFrom = asleep + 60 * MINUTE;
  const nightTo = next.wake - 30 * MINUTE;
  const starts: number[] = [];
  for (let i = 0; i < trips; i++) starts.push(uniform(r, nightFrom, nightTo));
  const wander = r() < profile.nightWandering ? uniform(r, nightFrom, nightTo) : undefined;
  let last = 0;
  for (const start of [...starts, ...(wander === undefined ? [] : [wander])].sort((x, y) => x - y)) {
    if (start < last + 20 * MINUTE || nightTo <= nightFrom) continue;
    b.t = start;
    b.emit(b.t, 'bed', 'bed.vacated');
    b.stay('bedroom', uniform(r, 0.5, 1.5));
    if (start === wander) {
      const end = b.t + uniform(r, 15, 35) * MINUTE;
      while (b.t < end) b.go(r() < 0.5 ? 'kitchen' : 'lounge', uniform(r, 3, 9));
    } else {
      b.go('bathroom', uniform(r, 4, 9));
    }
    b.go('bedroom', uniform(r, 0.5, 2));
    b.emit(b.t, 'bed', 'bed.occupied');
    last = b.t;
  }

  // Visitors and carers come whatever the resident is doing.
  if (r() < profile.visitor) {
    b.t = at(plan, uniform(r, 14 * 60, 16.5 * 60));
    if (!outings.some((o) => b.t >= o.from - HOUR && b.t <= o.to)) {
      b.frontDoor('visitor', 'visitor');
      b.stay('lounge', uniform(r, 30, 70), { actor: 'visitor', tag: 'visitor' });
      b.frontDoor('visitor', 'visitor');
    }
  }
  profile.carerVisits.forEach((minute, index) => {
    const tag = carerTag(day, index);
    b.t = at(plan, minute + uniform(r, -profile.carerJitter, profile.carerJitter));
    b.frontDoor('carer', tag);
    b.emit(b.t + 30_000, 'hub', 'carer.arrived', 'carer', { tag, data: { visit: index } });
    b.t += 60_000;
    for (const room of ['kitchen', 'bedroom', 'bathroom', 'kitchen'] as const)
      b.stay(room, uniform(r, 5, 10), { actor: 'carer', tag });
    b.emit(b.t, 'hub', 'carer.left', 'carer', { tag, data: { visit: index } });
    b.t += 30_000;
    b.frontDoor('carer', tag);
  });
  profile.doses.forEach((minute, index) => {
    const due = at(plan, minute);
    const doseId = doseIdOf(day, index);
    b.emit(due, 'meds', 'medication.due', 'device', { data: { doseId }, tag: doseId });
    const taken = due + uniform(r, 1, profile.doseDelayMax) * MINUTE;
    b.emit(taken - 20_000, 'pir.kitchen', 'motion', 'resident', { tag: doseId });
    b.emit(taken, 'meds', 'medication.taken', 'resident', { data: { doseId }, tag: doseId });
  });
  return b.events.sort(byTime);
}

export const carerTag = (day: number, index: number) => `carer-d${day}-v${index}`;
export const doseIdOf = (day: number, index: number) => `dose-d${day}-${index}`;

function outingWindow(r: Random, plan: DayPlan): { from: number; to: number } {
  const from = at(plan, uniform(r, 9 * 60 + 30, 10 * 60 + 15));
  const latest = at(plan, 11 * 60 + 50);
  return { from, to: Math.min(latest, from + uniform(r, 60, 150) * MINUTE) };
}

/**
 * Several outings a day, 20 min to 4 h (most short), from an hour after getting up until 20:00,
 * back before the evening winds down; none overlapping.
 */
function outingWindows(
  r: Random,
  irr: Irregular,
  plan: DayPlan,
  winddown: number,
): Array<{ from: number; to: number }> {
  const count = poisson(r, isWeekend(plan.start) ? irr.weekendOutingsPerDay : irr.outingsPerDay);
  const drawn: Array<{ from: number; to: number }> = [];
  for (let i = 0; i < count; i++) {
    const from = uniform(r, plan.wake + HOUR, at(plan, 20 * 60));
    const minutes = 20 + 220 * r() ** 2;
    drawn.push({ from, to: Math.min(from + minutes * MINUTE, winddown - 30 * MINUTE) });
  }
  drawn.sort((x, y) => x.from - y.from);
  const kept: Array<{ from: number; to: number }> = [];
  for (const o of drawn) {
    const last = kept.at(-1);
    if (o.to - o.from >= 15 * MINUTE && (!last || o.from > last.to + 30 * MINUTE)) kept.push(o);
  }
  return kept;
}

/** Outdoor temperature: a winter day's mean drawn per day, colder before dawn, warmest mid-afternoon. */
export function outdoorCelsius(weatherSeed: number, origin: number, t: number): number {
  const day = Math.floor((t - origin) / DAY);
  const mean = normal(streamOf(weatherSeed, 'weather', day), 5, 3);
  const hour = ((t - origin) % DAY) / HOUR;
  return mean - 3 * Math.cos((2 * Math.PI * (hour - 2)) / 24);
}

export interface HeatingFailure {
  readonly from: number;
  readonly to: number;
}

const STEP = 10 * MINUTE;
/** Hours for the gap to the outdoor temperature to fall by e (a draughty older house). */
const TIME_CONSTANT_H = 20;

/**
 * Indoor temperature every 10 minutes from `from` to `to`: heating to 20.5 °C from 06:30 to
 * 22:30 and held at 17 °C overnight, losing heat towards the weather; none while the heating
 * has failed.
 */
export function indoorSeries(
  weatherSeed: number,
  origin: number,
  from: number,
  to: number,
  failures: readonly HeatingFailure[] = [],
): Array<{ at: number; celsius: number }> {
  const out: Array<{ at: number; celsius: number }> = [];
  let celsius = 18;
  for (let t = from; t < to; t += STEP) {
    const outside = outdoorCelsius(weatherSeed, origin, t);
    celsius += (outside - celsius) * (1 - Math.exp(-STEP / HOUR / TIME_CONSTANT_H));
    const minute = ((t - origin) % DAY) / MINUTE;
    const setpoint = minute >= 390 && minute < 1350 ? 20.5 : 17;
    const failed = failures.some((f) => t >= f.from && t < f.to);
    if (!failed && celsius < setpoint) celsius = Math.min(setpoint, celsius + 1.2);
    out.push({ at: t, celsius });
  }
  return out;
}

export interface Timeline {
  readonly home: HomeSpec;
  readonly origin: number;
  readonly days: number;
  readonly events: SimEvent[];
  readonly expectations: Expectation[];
}

export interface TimelineOptions {
  readonly origin: number;
  readonly days: number;
  readonly weatherSeed: number;
  readonly heatingFailures?: readonly HeatingFailure[];
}

const LOW_BATTERY = 15;

/**
 * Every event of a home over `days` days from `origin` (a midnight): the resident's days, heartbeats
 * on each device's interval with batteries draining, a low-battery report when one crosses 15 %,
 * and the temperature every half hour. Low batteries are expectations too: the platform should
 * raise a maintenance alert for each.
 */
export function homeTimeline(home: HomeSpec, options: TimelineOptions): Timeline {
  const { origin, days } = options;
  const end = origin + days * DAY;
  const events: SimEvent[] = [];
  for (let day = -1; day < days; day++)
    for (const event of residentDay(home, origin, day))
      if (event.at >= origin && event.at < end) events.push(event);

  const expectations: Expectation[] = [];
  for (const device of HOME_DEVICES) {
    const r = streamOf(home.seed, 'device', device.key);
    const phase = r() * device.heartbeatS * 1000;
    const level0 = home.batteries?.[device.key] ?? uniform(r, 45, 100);
    const level = (t: number) =>
      device.drainPerDay === 0 ? 100 : Math.max(0, level0 - (device.drainPerDay * (t - origin)) / DAY);
    let previous = level0;
    for (let t = origin + phase; t < end; t += device.heartbeatS * 1000) {
      const raw = level(t);
      const battery = Math.floor(raw);
      const data =
        device.key === 'hub' ? { batteryPercent: battery, mains: true } : { batteryPercent: battery };
      events.push({
        at: Math.round(t),
        home: home.key,
        device: device.key,
        type: 'heartbeat',
        data,
        actor: 'device',
      });
      if (raw < LOW_BATTERY && previous >= LOW_BATTERY) {
        const lowAt = Math.round(t) + 1_000;
        events.push({
          at: lowAt,
          home: home.key,
          device: device.key,
          type: 'battery.low',
          data: { batteryPercent: battery },
          actor: 'device',
        });
        expectations.push({
          incidentId: `${home.key}-battery-${device.key}`,
          kind: 'battery.low',
          homes: [home.key],
          at: lowAt,
          expect: ['battery.low'],
          related: [],
          priority: 4,
          deadlineS: 3600,
          lifeCritical: false,
          note: `${device.key} battery below ${LOW_BATTERY} %`,
        });
      }
      previous = raw;
    }
  }

  const temperatureFrom = origin + Math.floor(streamOf(home.seed, 'temp')() * 3) * 10 * MINUTE;
  for (const reading of indoorSeries(
    options.weatherSeed,
    origin,
    origin - DAY,
    end,
    options.heatingFailures,
  )) {
    if (reading.at < temperatureFrom || (reading.at - temperatureFrom) % (30 * MINUTE) !== 0) continue;
    events.push({
      at: reading.at,
      home: home.key,
      device: 'temp',
      type: 'temperature',
      data: { celsius: Math.round(reading.celsius * 10) / 10 },
      actor: 'environment',
    });
  }
  events.sort(byTime);
  return { home, origin, days, events, expectations };
}

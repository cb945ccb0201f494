/**
 * The van Kasteren house A log (Kasteren et al., UbiComp 2008: a man living alone in a three-room
 * flat, 14 state-change sensors on doors, cupboards and appliances, 28 days, activities annotated
 * by the resident) converted to the history `pnpm replay --import` reads.
 *
 * The form read is the one of the transfer-learning copies of the set: one tab-separated line per
 * sensor firing or annotated activity, `start` (epoch seconds), `length` (seconds), `id`. The
 * copies write the flat's local clock as if it were UTC, so an event's `at` keeps that clock; the
 * default zone of the rules (Europe/London) is UTC until 30 March 2008, after the log ends, so the
 * times in the alerts' reasons are the flat's own clock.
 *
 * The data is offered for research use with citation: it is not kept in this repository.
 */

/** One line of a `.sensors` or `.activities` file. */
export interface KasterenFiring {
  /** Epoch seconds (the flat's local clock written as UTC). */
  readonly start: number;
  readonly lengthS: number;
  readonly id: number;
}

export interface KasterenSensor {
  readonly name: string;
  /** Where it is, as the device map would say. */
  readonly location: string;
  /** The front door is the one contact the rules read as a door; every other sensor is an act there. */
  readonly frontDoor?: boolean;
}

/**
 * House A's sensors. The names are the set's own; which id is which was checked against the
 * annotations (`sensorEvidence`): the front door opens and closes at both ends of every "leave
 * house", the toilet door and the flush within "use toilet", the bathroom door within "take
 * shower", the bedroom door at "go to bed", the fridge, cupboards, freezer and microwave within the
 * meals and drinks. The cups cupboard is id 4 in this form (7 in the original numbering): it fires
 * with the fridge in "get drink".
 */
export const HOUSE_A_SENSORS: Readonly<Record<number, KasterenSensor>> = {
  1: { name: 'Microwave', location: 'kitchen, microwave' },
  4: { name: 'Cups cupboard', location: 'kitchen, cups cupboard' },
  5: { name: 'Hall-Bathroom door', location: 'bathroom door' },
  6: { name: 'Hall-Toilet door', location: 'toilet door' },
  8: { name: 'Fridge', location: 'kitchen, fridge' },
  9: { name: 'Plates cupboard', location: 'kitchen, plates cupboard' },
  12: { name: 'Frontdoor', location: 'front door', frontDoor: true },
  13: { name: 'Dishwasher', location: 'kitchen, dishwasher' },
  14: { name: 'ToiletFlush', location: 'toilet, flush' },
  17: { name: 'Freezer', location: 'kitchen, freezer' },
  18: { name: 'Pans Cupboard', location: 'kitchen, pans cupboard' },
  20: { name: 'Washingmachine', location: 'washing machine' },
  23: { name: 'Groceries Cupboard', location: 'kitchen, groceries cupboard' },
  24: { name: 'Hall-Bedroom door', location: 'bedroom door' },
};

/**
 * House A's annotated activities. Id 6 is not named in the copy: short (one to two minutes), with
 * the bathroom door, before "go to bed" and in the morning — brushing teeth, the one house A
 * activity of the set's later release the copy would otherwise lack.
 */
export const HOUSE_A_ACTIVITIES: Readonly<Record<number, string>> = {
  1: 'leave house',
  4: 'use toilet',
  5: 'take shower',
  6: 'brush teeth',
  10: 'go to bed',
  13: 'prepare breakfast',
  15: 'prepare dinner',
  17: 'get drink',
};

export class KasterenLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'KasterenLineError';
  }
}

/** Reads a `.sensors` or `.activities` file: three whole numbers a line, tab- or space-separated. */
export function parseKasteren(text: string): KasterenFiring[] {
  const out: KasterenFiring[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const cols = line.split(/\s+/);
    const [start, lengthS, id] = cols.map(Number);
    if (
      cols.length !== 3 ||
      !Number.isInteger(start) ||
      !Number.isInteger(lengthS) ||
      !Number.isInteger(id) ||
      (lengthS as number) < 0
    )
      throw new KasterenLineError(i + 1, `expected "start length id" (whole seconds), got "${line}"`);
    out.push({ start: start as number, lengthS: lengthS as number, id: id as number });
  });
  return out;
}

/** One line of `events.jsonl` as `pnpm replay --import` reads it. */
export interface ImportLine {
  readonly serial: string;
  readonly kind: 'door-contact' | 'pir';
  readonly location: string;
  readonly residentId: string;
  readonly event: {
    readonly id: string;
    readonly type: 'door.opened' | 'door.closed' | 'motion';
    readonly at: string;
    readonly data: Record<string, never>;
  };
}

export interface ConvertOptions {
  readonly residentId: string;
  readonly sensors?: Readonly<Record<number, KasterenSensor>>;
  /** The device serials' prefix (`VK-A-`: house A's). */
  readonly serialPrefix?: string;
}

const iso = (epochS: number): string => new Date(epochS * 1000).toISOString();

/**
 * Each firing as the devices would report it. The front door: `door.opened` when the firing starts
 * and `door.closed` when it ends. Every other sensor: `motion` from a `pir` in its place at both
 * ends of the firing (opening and closing a cupboard or a door are both the person acting there;
 * the rhythm only needs to know that), once when the firing is shorter than a second. In time
 * order; ids are unique per serial.
 */
export function kasterenToImport(firings: readonly KasterenFiring[], options: ConvertOptions): ImportLine[] {
  const sensors = options.sensors ?? HOUSE_A_SENSORS;
  const edges: Array<{ at: number; sensor: number; type: ImportLine['event']['type']; order: number }> = [];
  firings.forEach((f, order) => {
    const sensor = sensors[f.id];
    if (!sensor) throw new RangeError(`sensor ${f.id} is not in the sensor map`);
    if (sensor.frontDoor) {
      edges.push({ at: f.start, sensor: f.id, type: 'door.opened', order });
      edges.push({ at: f.start + f.lengthS, sensor: f.id, type: 'door.closed', order });
    } else {
      edges.push({ at: f.start, sensor: f.id, type: 'motion', order });
      if (f.lengthS > 0) edges.push({ at: f.start + f.lengthS, sensor: f.id, type: 'motion', order });
    }
  });
  edges.sort((a, b) => a.at - b.at || a.order - b.order);
  const seqs = new Map<number, number>();
  return edges.map((edge) => {
    const sensor = sensors[edge.sensor] as KasterenSensor;
    const seq = seqs.get(edge.sensor) ?? 0;
    seqs.set(edge.sensor, seq + 1);
    return {
      serial: `${options.serialPrefix ?? 'VK-A-'}${String(edge.sensor).padStart(2, '0')}`,
      kind: sensor.frontDoor ? 'door-contact' : 'pir',
      location: sensor.location,
      residentId: options.residentId,
      event: { id: `vk-${String(seq).padStart(6, '0')}`, type: edge.type, at: iso(edge.at), data: {} },
    };
  });
}

/**
 * The firings up to the end of the day of the last annotated activity: after it nobody recorded
 * what the person did (house A's log ends with one front-door firing two days later).
 */
export function untilAnnotated(
  sensors: readonly KasterenFiring[],
  activities: readonly KasterenFiring[],
): KasterenFiring[] {
  const last = Math.max(...activities.map((a) => a.start + a.lengthS));
  const end = Math.ceil(last / 86_400) * 86_400;
  return sensors.filter((f) => f.start < end);
}

/** An annotated activity, for telling what the person was doing when an alert was raised. */
export interface Annotation {
  readonly residentId: string;
  readonly from: string;
  readonly to: string;
  readonly activity: string;
}

export function annotations(
  firings: readonly KasterenFiring[],
  residentId: string,
  names: Readonly<Record<number, string>> = HOUSE_A_ACTIVITIES,
): Annotation[] {
  return firings.map((f) => ({
    residentId,
    from: iso(f.start),
    to: iso(f.start + f.lengthS),
    activity: names[f.id] ?? `activity ${f.id}`,
  }));
}

/**
 * What the annotations say the person was doing at `at`: the activity annotated then, else the
 * activities just before and after (the set leaves the time between activities unannotated).
 */
export function doingAt(list: readonly Annotation[], residentId: string, at: number): string {
  const own = list.filter((a) => a.residentId === residentId);
  const during = own.filter((a) => Date.parse(a.from) <= at && at <= Date.parse(a.to));
  if (during.length > 0) return during.map((a) => describe(a)).join(' and ');
  let before: Annotation | undefined;
  let after: Annotation | undefined;
  for (const a of own) {
    if (Date.parse(a.to) < at && (!before || Date.parse(a.to) > Date.parse(before.to))) before = a;
    if (Date.parse(a.from) > at && (!after || Date.parse(a.from) < Date.parse(after.from))) after = a;
  }
  return `nothing annotated (after ${before ? describe(before) : 'the start'}; before ${after ? describe(after) : 'the end'})`;
}

const clock = (value: string): string => `${value.slice(5, 10)} ${value.slice(11, 16)}`;
const describe = (a: Annotation): string => `${a.activity} ${clock(a.from)}–${clock(a.to)}`;

/** Which sensors fire within each annotated activity (±5 s): the check of the sensor map. */
export function sensorEvidence(
  sensors: readonly KasterenFiring[],
  activities: readonly KasterenFiring[],
): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>();
  for (const a of activities) {
    const counts = out.get(a.id) ?? new Map<number, number>();
    out.set(a.id, counts);
    for (const s of sensors)
      if (s.start >= a.start - 5 && s.start <= a.start + a.lengthS + 5)
        counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
  }
  return out;
}

/** One line of `pnpm replay --import … --away`: a period the resident declared away. */
export interface AwayLine {
  readonly residentId: string;
  readonly id: string;
  readonly from: string;
  readonly until: string;
  readonly reason: 'holiday' | 'hospital' | 'respite' | 'other';
}

const HOUR_S = 3600;
const LEAVE_HOUSE = 1;

/**
 * The away periods the person would have declared, ASSUMED from the annotations (the set has no
 * declarations): each "leave house" that spans a night (is still going on at 03:00 on the flat's
 * clock), from the hour he left to the hour after he came back. A service is told such a thing by
 * the person or their family ("at my brother's until Sunday evening"); these stand in for it.
 */
export function assumedAway(activities: readonly KasterenFiring[], residentId: string): AwayLine[] {
  const lines: AwayLine[] = [];
  for (const a of activities) {
    if (a.id !== LEAVE_HOUSE) continue;
    const end = a.start + a.lengthS;
    // The first 03:00 after he left: before he came back, he was out that night.
    const day = Math.floor(a.start / 86_400) * 86_400;
    const three = day + 3 * HOUR_S > a.start ? day + 3 * HOUR_S : day + 86_400 + 3 * HOUR_S;
    if (three >= end) continue;
    lines.push({
      residentId,
      id: `away-${iso(a.start).slice(0, 10)}`,
      from: iso(Math.floor(a.start / HOUR_S) * HOUR_S),
      until: iso(Math.ceil(end / HOUR_S) * HOUR_S),
      reason: 'other',
    });
  }
  return lines;
}

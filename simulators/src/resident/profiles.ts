/** Minutes after midnight. */
export type Minute = number;

export const PROFILE_NAMES = [
  'lives-alone',
  'night-toileting',
  'carer-four-times',
  'early-riser',
  'dementia-night-wandering',
  'late-irregular',
  'variable-outgoing',
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/**
 * How one kind of person lives a day. Times are means; each day draws its own values around
 * them, so no two days are the same but every day is recognisably this person's.
 */
export interface Profile {
  readonly name: ProfileName;
  readonly description: string;
  readonly wake: { readonly mean: Minute; readonly sd: Minute };
  readonly bed: { readonly mean: Minute; readonly sd: Minute };
  /** Mean trips out of bed per night (Poisson). */
  readonly nightToiletTrips: number;
  /** Chance per night of wandering the house for 15–35 minutes (indoors only). */
  readonly nightWandering: number;
  /** Chance per afternoon of a nap in the chair. */
  readonly nap: number;
  /** Chance per day of going out (shops, day centre) for one to three hours. */
  readonly outing: number;
  /** Chance per day of a visitor (family, neighbour). */
  readonly visitor: number;
  /** Scheduled carer visits; each arrives within ± `carerJitter` minutes. */
  readonly carerVisits: readonly Minute[];
  readonly carerJitter: Minute;
  /** Dispenser dose times; the dose is taken 1 … `doseDelayMax` minutes after it is due. */
  readonly doses: readonly Minute[];
  readonly doseDelayMax: Minute;
  /**
   * How a real person differs from the figures a care plan records (`wake`, `bed` above are what
   * the assessor was told): present only for the irregular profiles, whose days are drawn from
   * these instead.
   */
  readonly irregular?: Irregular;
}

/** The irregular side of a real person's days (see `residentDay`). */
export interface Irregular {
  /** Weekday get-up, drawn uniformly between these. */
  readonly wakeRange: readonly [Minute, Minute];
  /** Bedtime: mean and spread (normal, ± 3 sd). */
  readonly bed: { readonly mean: Minute; readonly sd: Minute };
  /** Saturdays and Sundays (days 5 and 6 of a week from a Monday origin): later up and to bed. */
  readonly weekendWakeShift: Minute;
  readonly weekendBedShift: Minute;
  /** After a late night, up later by this share of how late the night was (capped at 90 min). */
  readonly lateNightCarry: number;
  /** Outings per day (Poisson mean), each 20 min to 4 h, from an hour after getting up to 20:00. */
  readonly outingsPerDay: number;
  readonly weekendOutingsPerDay: number;
  /** Chance per evening of a long television evening in the chair: 2–4 h, barely moving. */
  readonly tvEvening: number;
  /** Chance per afternoon of a nap in bed (45–120 min). */
  readonly bedNap: number;
}

const h = (hours: number, minutes = 0): Minute => hours * 60 + minutes;

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  'lives-alone': {
    name: 'lives-alone',
    description: 'lives alone, independent, out most mornings',
    wake: { mean: h(7, 30), sd: 20 },
    bed: { mean: h(22, 30), sd: 25 },
    nightToiletTrips: 0.4,
    nightWandering: 0,
    nap: 0.3,
    outing: 0.5,
    visitor: 0.25,
    carerVisits: [],
    carerJitter: 0,
    doses: [h(8), h(20)],
    doseDelayMax: 15,
  },
  'night-toileting': {
    name: 'night-toileting',
    description: 'gets up two or three times a night for the toilet',
    wake: { mean: h(7, 45), sd: 25 },
    bed: { mean: h(22), sd: 20 },
    nightToiletTrips: 2.5,
    nightWandering: 0,
    nap: 0.6,
    outing: 0.3,
    visitor: 0.3,
    carerVisits: [],
    carerJitter: 0,
    doses: [h(8, 30), h(13), h(21)],
    doseDelayMax: 15,
  },
  'carer-four-times': {
    name: 'carer-four-times',
    description: 'housebound; a carer calls four times a day',
    wake: { mean: h(7, 45), sd: 15 },
    bed: { mean: h(21, 45), sd: 15 },
    nightToiletTrips: 0.8,
    nightWandering: 0,
    nap: 0.8,
    outing: 0,
    visitor: 0.2,
    carerVisits: [h(8), h(12, 30), h(17), h(21)],
    carerJitter: 20,
    doses: [h(8, 15), h(12, 45), h(17, 15), h(21, 15)],
    doseDelayMax: 12,
  },
  'early-riser': {
    name: 'early-riser',
    description: 'up before six, in bed by nine',
    wake: { mean: h(5, 30), sd: 15 },
    bed: { mean: h(21), sd: 20 },
    nightToiletTrips: 0.6,
    nightWandering: 0,
    nap: 0.5,
    outing: 0.4,
    visitor: 0.2,
    carerVisits: [],
    carerJitter: 0,
    doses: [h(6, 30), h(12), h(18)],
    doseDelayMax: 15,
  },
  'dementia-night-wandering': {
    name: 'dementia-night-wandering',
    description: 'mild dementia: irregular sleep, wanders the house at night, a carer morning and evening',
    wake: { mean: h(8), sd: 50 },
    bed: { mean: h(22), sd: 50 },
    nightToiletTrips: 1.2,
    nightWandering: 0.6,
    nap: 0.7,
    outing: 0,
    visitor: 0.3,
    carerVisits: [h(9), h(18)],
    carerJitter: 25,
    doses: [h(9, 15), h(18, 15)],
    doseDelayMax: 25,
  },
  // The two below are drawn from what was seen in real homes' logs (issue: triage on real homes):
  // the care plan's figures are what the person said; their days are wider than that.
  'late-irregular': {
    name: 'late-irregular',
    description:
      'late and variable riser (09:30–12:45, later at weekends), naps in bed, long television evenings, out most days',
    wake: { mean: h(10, 30), sd: 30 },
    bed: { mean: h(23, 30), sd: 30 },
    nightToiletTrips: 1.5,
    nightWandering: 0,
    nap: 0,
    outing: 0,
    visitor: 0.2,
    carerVisits: [],
    carerJitter: 0,
    doses: [],
    doseDelayMax: 15,
    irregular: {
      wakeRange: [h(9, 30), h(12, 45)],
      bed: { mean: h(23, 50), sd: 45 },
      weekendWakeShift: 30,
      weekendBedShift: 30,
      lateNightCarry: 0.5,
      outingsPerDay: 1.2,
      weekendOutingsPerDay: 0.6,
      tvEvening: 0.6,
      bedNap: 0.35,
    },
  },
  'variable-outgoing': {
    name: 'variable-outgoing',
    description:
      'mostly up between 07:40 and 10:40, several outings a day of 20 min to 4 h, naps in the chair, toilet at night',
    wake: { mean: h(8, 30), sd: 30 },
    bed: { mean: h(22, 30), sd: 30 },
    nightToiletTrips: 2,
    nightWandering: 0,
    nap: 0.5,
    outing: 0,
    visitor: 0.3,
    carerVisits: [],
    carerJitter: 0,
    doses: [],
    doseDelayMax: 15,
    irregular: {
      wakeRange: [h(7, 40), h(10, 40)],
      bed: { mean: h(22, 40), sd: 35 },
      weekendWakeShift: 20,
      weekendBedShift: 0,
      lateNightCarry: 0.4,
      outingsPerDay: 2.2,
      weekendOutingsPerDay: 1.2,
      tvEvening: 0.3,
      bedNap: 0.1,
    },
  },
};

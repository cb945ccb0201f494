/** Minutes after midnight. */
export type Minute = number;

export const PROFILE_NAMES = [
  'lives-alone',
  'night-toileting',
  'carer-four-times',
  'early-riser',
  'dementia-night-wandering',
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
};

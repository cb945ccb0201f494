import type { Expectation, SimEvent } from './events.ts';
import { byTime } from './events.ts';
import type { HomeSpec } from './household.ts';
import { applyIncident, heatingFailuresOf, type IncidentSpec } from './incidents.ts';
import type { ProfileName } from './profiles.ts';
import { homeTimeline, type Timeline } from './routine.ts';

/** A named run: homes, days and the incidents injected into them. */
export interface ScenarioSpec {
  readonly name: string;
  readonly description: string;
  /** First simulated midnight (UTC): winter, so heating and cold homes matter. */
  readonly origin: string;
  readonly days: number;
  readonly weatherSeed: number;
  readonly homes: readonly HomeSpec[];
  readonly incidents: readonly IncidentSpec[];
  /**
   * Days each home's rhythm learns from before its false alerts count on their own (the
   * scorecard's "after learning" line): the figure a resident sees once the model knows them.
   */
  readonly learnDays?: number;
}

export interface BuiltScenario {
  readonly spec: ScenarioSpec;
  readonly origin: number;
  readonly end: number;
  readonly timelines: ReadonlyMap<string, Timeline>;
  /** Every home's events, in simulated-time order. */
  readonly events: readonly SimEvent[];
  readonly expectations: readonly Expectation[];
  readonly residentDays: number;
  /** From when (the end of `spec.learnDays`) the scorecard counts false alerts after learning. */
  readonly learnedFrom?: number;
}

/** Builds the timelines, injects the incidents and gathers the ground truth. Pure. */
export function buildScenario(spec: ScenarioSpec): BuiltScenario {
  const origin = Date.parse(spec.origin);
  const timelines = new Map<string, Timeline>();
  for (const home of spec.homes) {
    timelines.set(
      home.key,
      homeTimeline(home, {
        origin,
        days: spec.days,
        weatherSeed: spec.weatherSeed,
        heatingFailures: heatingFailuresOf(spec.incidents, home.key, origin),
      }),
    );
  }
  spec.incidents.forEach((incident, i) => {
    applyIncident(timelines, incident, `${spec.name}#${i + 1}-${incident.kind}`);
  });
  const events = [...timelines.values()].flatMap((tl) => tl.events).sort(byTime);
  const expectations = [...timelines.values()].flatMap((tl) => tl.expectations).sort((a, b) => a.at - b.at);
  return {
    spec,
    origin,
    end: origin + spec.days * 86_400_000,
    timelines,
    events,
    expectations,
    residentDays: spec.homes.length * spec.days,
    ...(spec.learnDays ? { learnedFrom: origin + spec.learnDays * 86_400_000 } : {}),
  };
}

/** What `score` needs to count false alerts after learning, when the scenario has learning days. */
export function learningOf(built: BuiltScenario): { learnedFrom?: number; learnedResidentDays?: number } {
  const days = built.spec.learnDays;
  if (built.learnedFrom === undefined || days === undefined) return {};
  return {
    learnedFrom: built.learnedFrom,
    learnedResidentDays: built.spec.homes.length * Math.max(0, built.spec.days - days),
  };
}

const home = (
  key: string,
  profile: ProfileName,
  seed: number,
  postcode = 'GL1 2AB',
  batteries?: HomeSpec['batteries'],
): HomeSpec => ({ key, profile, seed, postcode, ...(batteries ? { batteries } : {}) });

/** One home per profile. */
const FIVE = (seed: number, postcodes: readonly string[] = []): HomeSpec[] => [
  home('H1', 'lives-alone', seed + 1, postcodes[0]),
  home('H2', 'night-toileting', seed + 2, postcodes[1]),
  home('H3', 'carer-four-times', seed + 3, postcodes[2]),
  home('H4', 'early-riser', seed + 4, postcodes[3]),
  home('H5', 'dementia-night-wandering', seed + 5, postcodes[4]),
];

const ORIGIN = '2025-01-13T00:00:00.000Z';

/** These homes' alarms report through a DC-09 disperser (see `HomeSpec.via`), the rest over MQTT. */
const viaDc09 = (homes: HomeSpec[], keys: readonly string[]): HomeSpec[] =>
  homes.map((h) => (keys.includes(h.key) ? { ...h, via: 'dc09' } : h));

export const SCENARIOS: Readonly<Record<string, ScenarioSpec>> = {
  'life-critical': {
    name: 'life-critical',
    description:
      'falls seen by the detector or a press, true and false presses, smoke, heat and CO (CI size)',
    origin: ORIGIN,
    days: 1,
    weatherSeed: 11,
    homes: viaDc09(FIVE(100), ['H2', 'H5']),
    incidents: [
      { kind: 'fall.detector', home: 'H1', day: 0 },
      { kind: 'fall.detector-and-press', home: 'H2', day: 0 },
      { kind: 'fall.press-only', home: 'H3', day: 0 },
      { kind: 'pendant.true', home: 'H4', day: 0 },
      { kind: 'pendant.false', home: 'H5', day: 0 },
      { kind: 'smoke', home: 'H1', day: 0 },
      { kind: 'heat', home: 'H2', day: 0, minute: 18 * 60 + 40 },
      { kind: 'co', home: 'H5', day: 0 },
    ],
  },
  pendant: {
    name: 'pendant',
    description: 'presses that are true, accidental, cancelled in the pre-alarm window, repeated',
    origin: ORIGIN,
    days: 1,
    weatherSeed: 12,
    homes: viaDc09(FIVE(200), ['H3', 'H5']),
    incidents: [
      { kind: 'pendant.true', home: 'H1', day: 0, minute: 11 * 60 },
      { kind: 'pendant.false', home: 'H2', day: 0, minute: 14 * 60 },
      { kind: 'pendant.cancelled', home: 'H3', day: 0 },
      { kind: 'pendant.cancelled', home: 'H4', day: 0, minute: 10 * 60 + 5 },
      { kind: 'pendant.repeated', home: 'H5', day: 0 },
    ],
  },
  wellbeing: {
    name: 'wellbeing',
    description:
      'not getting up, a night exit, a cold home, a missed dose, a carer who does not come, silent falls',
    origin: ORIGIN,
    days: 2,
    weatherSeed: 13,
    homes: viaDc09(FIVE(300), ['H1']),
    incidents: [
      { kind: 'not-up', home: 'H1', day: 1 },
      { kind: 'night-exit', home: 'H5', day: 1 },
      { kind: 'cold-home', home: 'H4', day: 0 },
      { kind: 'medication.missed', home: 'H2', day: 1, index: 1 },
      { kind: 'carer.no-show', home: 'H3', day: 1, index: 1 },
      { kind: 'night-exit.door-open', home: 'H2', day: 0, minute: 24 * 60 + 3 * 60 + 20 },
      { kind: 'fall.silent-night', home: 'H4', day: 0, minute: 24 * 60 + 3 * 60 },
    ],
  },
  routine: {
    name: 'routine',
    description:
      'a fall no device reports, seen only as inactivity unusual for this person after a week learned',
    origin: ORIGIN,
    days: 9,
    weatherSeed: 17,
    // Not a carer's home: a carer calling would find them.
    homes: [home('H1', 'lives-alone', 701), home('H2', 'early-riser', 704)],
    incidents: [
      { kind: 'fall.silent-day', home: 'H1', day: 7 },
      { kind: 'fall.silent-day', home: 'H2', day: 7, minute: 10 * 60 + 40 },
    ],
  },
  technical: {
    name: 'technical',
    description:
      'a device going silent, fire detectors in trouble (one through DC-09) and a mains failure across one postcode district',
    origin: ORIGIN,
    days: 1,
    weatherSeed: 14,
    // Thirteen homes in GL4: the area rule needs ten in one district to call it one incident.
    homes: viaDc09(
      [
        ...FIVE(400, ['GL4 6DL', 'GL4 6DN', 'GL4 6DP', 'GL4 6DQ', 'GL4 6DR']),
        home('H6', 'lives-alone', 406, 'GL4 6DS'),
        home('H7', 'early-riser', 407, 'GL1 2AB'),
        home('H8', 'night-toileting', 408, 'GL3 1JT', { pendant: 15.1 }),
        ...FIVE(410, ['GL4 6EA', 'GL4 6EB', 'GL4 6ED', 'GL4 6EE', 'GL4 6EF']).map((h, i) => ({
          ...h,
          key: `H${9 + i}`,
        })),
        home('H14', 'early-riser', 415, 'GL4 6EG'),
        home('H15', 'lives-alone', 416, 'GL4 6EH'),
      ],
      ['H2', 'H8', 'H9', 'H10'],
    ),
    incidents: [
      { kind: 'device.silent', home: 'H7', day: 0, device: 'smoke' },
      { kind: 'area.mains-lost', district: 'GL4', day: 0 },
      // Through the DC-09 disperser (H8): Contact ID 1373, and 3373 as it clears.
      { kind: 'fire.trouble', home: 'H8', day: 0 },
      { kind: 'fire.trouble', home: 'H6', day: 0, device: 'heat', minute: 13 * 60 },
    ],
  },
  daily: {
    name: 'daily',
    description: 'a week of ordinary days and nothing wrong: the false-alert rate and low batteries',
    origin: ORIGIN,
    days: 7,
    weatherSeed: 15,
    homes: viaDc09(
      [...FIVE(500).slice(0, 4), home('H5', 'dementia-night-wandering', 505, 'GL1 2AB', { fall: 16.5 })],
      ['H4', 'H5'],
    ),
    incidents: [],
  },
  month: {
    name: 'month',
    description:
      'thirty days of five homes with every kind of incident but the area one (it needs ten homes in a district) spread through the month',
    origin: ORIGIN,
    days: 30,
    weatherSeed: 16,
    homes: [
      ...FIVE(600, ['GL1 6DL', 'GL4 6DN', 'GL2 6DP', 'GL1 2AB', 'GL3 1JT']).map((h) =>
        h.key === 'H2' ? { ...h, batteries: { pendant: 20 } } : h,
      ),
    ],
    incidents: [
      { kind: 'fall.detector', home: 'H1', day: 2 },
      { kind: 'fall.detector-and-press', home: 'H2', day: 4 },
      { kind: 'fall.press-only', home: 'H3', day: 6 },
      { kind: 'pendant.true', home: 'H4', day: 8 },
      { kind: 'pendant.false', home: 'H5', day: 9 },
      { kind: 'pendant.cancelled', home: 'H1', day: 10 },
      { kind: 'pendant.repeated', home: 'H3', day: 11 },
      { kind: 'smoke', home: 'H2', day: 12 },
      { kind: 'heat', home: 'H4', day: 13 },
      { kind: 'co', home: 'H5', day: 14 },
      { kind: 'not-up', home: 'H1', day: 15 },
      { kind: 'night-exit', home: 'H5', day: 16 },
      { kind: 'night-exit.door-open', home: 'H2', day: 22 },
      { kind: 'cold-home', home: 'H4', day: 17 },
      { kind: 'medication.missed', home: 'H2', day: 18, index: 2 },
      { kind: 'carer.no-show', home: 'H3', day: 19, index: 2 },
      { kind: 'fall.silent-day', home: 'H1', day: 20 },
      { kind: 'fall.silent-night', home: 'H2', day: 21, minute: 24 * 60 + 2 * 60 + 30 },
      { kind: 'device.silent', home: 'H4', day: 23, device: 'bed' },
      { kind: 'fire.trouble', home: 'H3', day: 24 },
    ],
  },
  irregular: irregularCorpus(),
  'irregular-ci': irregularCi(),
};

/**
 * Eight homes living the irregular profiles (four late, variable risers; four out several times a
 * day), five weeks: a week to learn, then each home has a collapse soon after getting up (or after
 * an hour up), a night it went to bed and never got up, and an evening it went out and did not
 * come back.
 */
function irregularCorpus(): ScenarioSpec {
  const homes = Array.from({ length: 8 }, (_, i) =>
    home(
      `H${i + 1}`,
      i % 2 === 0 ? 'late-irregular' : 'variable-outgoing',
      900 + i * 7,
      `GL${1 + (i % 4)} 3AB`,
    ),
  );
  const incidents: IncidentSpec[] = homes.flatMap((h, i) => [
    { kind: 'collapse.after-getup', home: h.key, day: 9 + i, afterMinutes: i % 4 < 2 ? 5 : 60 },
    { kind: 'never-up', home: h.key, day: 18 + i },
    { kind: 'out.not-back', home: h.key, day: 26 + i, minute: 17 * 60 + 30 + (i % 4) * 45 },
  ]);
  return {
    name: 'irregular',
    description:
      'real-like homes: late and variable risers, naps, television evenings, several outings a day; collapse after getting up, never got up, out and not back',
    origin: ORIGIN,
    days: 35,
    weatherSeed: 19,
    homes,
    incidents,
    learnDays: 7,
  };
}

/**
 * The irregular corpus cut to what a CI run can afford through the whole stack (a few minutes):
 * two of its homes, one of each profile, two weeks: the learning week, then each home's
 * collapse after getting up, a night never got up and an evening out and not back, a day apart
 * (a collapse leaves the home silent into the next day, which is not the night a never-up needs).
 */
function irregularCi(): ScenarioSpec {
  const full = irregularCorpus();
  const homes = full.homes.slice(0, 2);
  const incidents: IncidentSpec[] = homes.flatMap((h, i) => [
    { kind: 'collapse.after-getup', home: h.key, day: 8, afterMinutes: i === 0 ? 5 : 60 },
    { kind: 'never-up', home: h.key, day: 10 },
    { kind: 'out.not-back', home: h.key, day: 12, minute: 17 * 60 + 30 + i * 45 },
  ]);
  return {
    ...full,
    name: 'irregular-ci',
    description:
      'two of the irregular homes for two weeks: a learning week, then collapse after getting up, never got up, out and not back',
    days: 14,
    homes,
    incidents,
  };
}

/** What `pnpm scenario all` runs: every scenario but the month (which is its own, longer run). */
export const ALL_SCENARIOS = [
  'life-critical',
  'pendant',
  'wellbeing',
  'routine',
  'technical',
  'daily',
  'irregular-ci',
] as const;

import { type Minute, PROFILES, type ProfileName } from './profiles.ts';

/**
 * What a care plan records about a resident that the rules need: when their night is, when they
 * are expected up, and when their carers call. Shaped like a rule set's per-resident overrides
 * (`packages/rules`, `ResidentOverrides`), so a run can put it in force through triage's
 * `PUT /api/rules` the way an installer would from the care plan.
 */
export interface CarePlan {
  /** Local times: from going to bed until the earliest this person usually gets up. */
  readonly quietHours: { readonly from: string; readonly to: string };
  /** Local times: up by the end of this window on any ordinary day. */
  readonly wakeUp: { readonly from: string; readonly to: string };
  /** Local times of the scheduled carer visits (the care package). */
  readonly visits: readonly string[];
}

const QUARTER = 15;
const hhmm = (minute: Minute): string => {
  const m = ((Math.round(minute) % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};
const floorQ = (m: Minute) => Math.floor(m / QUARTER) * QUARTER;
const ceilQ = (m: Minute) => Math.ceil(m / QUARTER) * QUARTER;

/**
 * The care plan an assessor would write for a profile, from the same figures the model draws the
 * days from: nights start at the usual bedtime and end three spreads before the usual waking
 * (so getting up early is not "out of bed at night"); the wake-up window runs from there to three
 * spreads after the usual waking, and at least an hour after it (so an ordinary late morning is
 * not "not up"), on the quarter hour.
 */
export function carePlanOf(profile: ProfileName): CarePlan {
  const p = PROFILES[profile];
  const earliest = floorQ(p.wake.mean - 3 * p.wake.sd);
  return {
    quietHours: { from: hhmm(floorQ(p.bed.mean)), to: hhmm(earliest) },
    wakeUp: { from: hhmm(earliest), to: hhmm(ceilQ(p.wake.mean + Math.max(3 * p.wake.sd, 60))) },
    visits: p.carerVisits.map(hhmm),
  };
}

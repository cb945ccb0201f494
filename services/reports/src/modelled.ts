import { type Count, publishCount } from './suppress.ts';

/** What a modelled figure rests on, all configured by the commissioner: none is measured here. */
export interface SavingsAssumptions {
  /** Extra bed days an admission after a long lie (over an hour on the floor) takes on average. */
  readonly extraBedDaysPerLongLie: number;
  /** What one bed day costs, in the commissioner's currency. */
  readonly costPerBedDay: number;
}

export interface ModelledSavings {
  readonly evidence: 'modelled';
  readonly method: string;
  readonly inputs: { readonly longLies: Count; readonly longLieMinutes: number };
  readonly assumptions: SavingsAssumptions;
  readonly bedDays: number | null;
  readonly cost: number | null;
  readonly caveat: string;
}

/**
 * A what-if, not a finding: the bed days (and their cost) that long lies in the period would add
 * if each took `extraBedDaysPerLongLie` more days in hospital — what shortening every long lie to
 * under an hour might be worth, worked from the published (rounded) count. Nothing here is shown
 * when its input is suppressed.
 */
export function modelledSavings(
  longLies: number,
  longLieMinutes: number,
  a: SavingsAssumptions,
): ModelledSavings {
  // As the summary publishes it (suppressed, else rounded): the what-if gives back no more than it.
  const shown = publishCount(longLies);
  const bedDays = shown === null ? null : Math.round(shown * a.extraBedDaysPerLongLie * 10) / 10;
  return {
    evidence: 'modelled',
    method: `long lies (over ${longLieMinutes} min on the floor) × extra bed days per long lie; × cost per bed day`,
    inputs: { longLies: shown, longLieMinutes },
    assumptions: a,
    bedDays,
    cost: bedDays === null ? null : Math.round(bedDays * a.costPerBedDay),
    caveat:
      'Modelled: the bed days long lies would add under the assumptions shown, which are configured, not measured. ' +
      'It is what shorter lies could be worth, not a saving telecare made.',
  };
}

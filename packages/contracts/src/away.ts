import { z } from 'zod';

const IsoDateTime = z.iso.datetime({ offset: true });

/** Why a resident is away from home. */
export const AwayReason = z.enum(['holiday', 'hospital', 'respite', 'other']);
export type AwayReason = z.infer<typeof AwayReason>;

/**
 * A resident's declared time away ("at my daughter's Friday to Sunday", "in hospital"): from a
 * moment until another, or open-ended until ended. While it holds and no return home has been
 * seen, triage raises no absence-type alert for the resident (not up, no activity, not back, night
 * exit, sustained chair or bed, routine); alarms and device faults always raise. An outing that
 * the period covers is checked for "not back" from `until` on, with the person's usual grace.
 */
export const AwayPeriod = z.strictObject({
  /** Stable id (the registry's `awy_…`), named by the state that remembers a return. */
  id: z.string().min(1).max(64),
  from: IsoDateTime,
  /** Absent: open-ended, until someone ends it (a hospital stay). */
  until: IsoDateTime.optional(),
  reason: AwayReason,
});
export type AwayPeriod = z.infer<typeof AwayPeriod>;

/**
 * What the registry publishes per resident in the `resident-away` KV bucket (key = resident id):
 * the periods not yet ended long ago, in order of `from`. Ids and times only: no note, no name.
 */
export const ResidentAwayEntry = z.strictObject({
  residentId: z.string().min(1),
  periods: z.array(AwayPeriod).max(32),
  updatedAt: IsoDateTime,
});
export type ResidentAwayEntry = z.infer<typeof ResidentAwayEntry>;

import { z } from 'zod';
import { REPORT_ROLES } from './auth.ts';

export const TokenRequest = z.object({
  role: z.enum(REPORT_ROLES),
  /** Who the token is for (an organisation or person id, never a name with spaces). */
  recipient: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
});

const Day = z.union([z.iso.date(), z.iso.datetime({ offset: true })]).transform((v) => new Date(v));
export const District = z
  .string()
  .regex(/^[A-Z]{1,2}[0-9][A-Z0-9]?$/, 'a postcode district such as GL1 or SW1A');
/** At most five years in one report: bounded work per request. */
export const MAX_DAYS = 5 * 366;

/** A comma-separated list of postcode districts (any case, spaces ignored); absent: every district. */
const DistrictsParam = z
  .string()
  .max(2000)
  .optional()
  .transform((v) =>
    v
      ? [
          ...new Set(
            v
              .split(',')
              .map((d) => d.trim().toUpperCase())
              .filter(Boolean),
          ),
        ]
      : null,
  )
  .pipe(z.array(District).max(200).nullable());

/** `from` (inclusive) and `to` (exclusive): dates or times; the default is the last 30 days. */
export const ScopeQuery = z
  .object({ from: Day.optional(), to: Day.optional(), districts: DistrictsParam })
  .strict();

export const BedDaysQuery = z.object({ districts: DistrictsParam }).strict();

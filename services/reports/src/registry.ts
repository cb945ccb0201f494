import { District } from '@telecare/contracts';
import { z } from 'zod';
import { type CarePackageDays, type CohortResident, NO_REFERRALS, type Waiting } from './cohort.ts';
import { ReadTimeoutError } from './store.ts';

/** The registry's whole cohort in one answer: bounded so a slow registry cannot hold a request. */
const TIMEOUT_MS = 10_000;
const Day = z.iso.date();

/** `GET /api/cohort` of the registry: per resident id, nothing that identifies them. */
const CohortBody = z.object({
  residents: z.array(
    z.object({
      residentId: z.string().min(1).max(80),
      postcodeDistrict: District,
      registeredAt: z.iso.datetime({ offset: true }),
      /** Absent from a registry older than referral dates: none recorded. */
      referredOn: Day.nullish(),
      firstInstalledAt: z.iso.datetime({ offset: true }).nullable(),
      carePackages: z.array(
        z.object({ hoursPerWeek: z.number().min(0).max(168), from: Day, to: Day.nullable() }),
      ),
    }),
  ),
});
export type RegistryCohort = z.infer<typeof CohortBody>;

export class RegistryUnavailableError extends Error {}

/**
 * Reads the registry's cohort with the reports service's own token (role `reports-service`), all
 * of it (answer and body) within `timeoutMs` (at most 10 s): past it, a `ReadTimeoutError` (the
 * report's read limit), as a PostgreSQL read cancelled at that limit.
 */
export async function readRegistryCohort(
  url: string,
  token: string,
  timeoutMs = TIMEOUT_MS,
): Promise<RegistryCohort> {
  const limitMs = Math.min(timeoutMs, TIMEOUT_MS);
  const signal = AbortSignal.timeout(limitMs);
  let body: unknown;
  try {
    const response = await fetch(new URL('/api/cohort', url), {
      headers: { authorization: `Bearer ${token}` },
      signal,
    });
    if (!response.ok) throw new RegistryUnavailableError(`the registry answered ${response.status}`);
    body = await response.json().catch((err: unknown) => {
      if (signal.aborted) throw err;
      return undefined;
    });
  } catch (err) {
    if (err instanceof RegistryUnavailableError) throw err;
    if (signal.aborted) throw new ReadTimeoutError(limitMs, err, 'registry');
    throw new RegistryUnavailableError('the registry did not answer', { cause: err });
  }
  const parsed = CohortBody.safeParse(body);
  if (!parsed.success)
    throw new RegistryUnavailableError('the registry answered something that is not a cohort');
  return parsed.data;
}

/**
 * The residents of `districts` (null: all) whose telecare started, by the registry's first install
 * date; those referred and not installed yet (the comparison group, from their referral day), or
 * why there are none; both groups' care packages; and how many in those districts have no install.
 */
export function installedCohort(
  registry: RegistryCohort,
  districts: readonly string[] | null,
): { cohort: CohortResident[]; waiting: Waiting; packages: CarePackageDays[]; notInstalled: number } {
  const inScope = registry.residents.filter((r) => !districts || districts.includes(r.postcodeDistrict));
  const installed = inScope.filter((r) => r.firstInstalledAt !== null);
  const referred = inScope.filter((r) => r.firstInstalledAt === null && r.referredOn);
  return {
    cohort: installed.map((r) => ({
      residentId: r.residentId,
      district: r.postcodeDistrict,
      startedAt: new Date(r.firstInstalledAt as string),
      ...(r.referredOn ? { referredAt: new Date(`${r.referredOn}T00:00:00Z`) } : {}),
    })),
    waiting:
      referred.length > 0
        ? {
            referred: referred.map((r) => ({
              residentId: r.residentId,
              district: r.postcodeDistrict,
              startedAt: new Date(`${r.referredOn}T00:00:00Z`),
            })),
          }
        : { why: NO_REFERRALS },
    packages: [...installed, ...referred].flatMap((r) =>
      r.carePackages.map((p) => ({ residentId: r.residentId, ...p })),
    ),
    notInstalled: inScope.length - installed.length,
  };
}

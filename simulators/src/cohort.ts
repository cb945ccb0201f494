import { createHash } from 'node:crypto';
import { seededRandom } from './random.ts';
import type { CohortResidentRecord, RegistryClient } from './registry-client.ts';

/**
 * A commissioning cohort for a demonstration: residents referred for telecare over the last
 * eighteen months, most installed a few weeks after their referral and some still waiting, with
 * care packages whose hours change over time and hospital stays. Registered through the registry's
 * API as an installer would (one residents.csv import, then each care package), and the stays
 * written as a trust's episodes file.
 *
 * The simulation is deliberately neutral: both groups had a crisis around their referral (more
 * hospital nights just before it, care hours changing just after), and telecare changes nothing
 * in it. So the before/after figures fall for the installed (regression to the mean), and the
 * comparison with those still waiting shows a difference whose interval holds zero: the lesson
 * the reports teach.
 */
export interface CohortPlan {
  /** Residents installed. */
  readonly installed: number;
  /** Residents referred and not installed. */
  readonly waiting: number;
  readonly districts: readonly string[];
  readonly seed: number;
}

export const DEMO_COHORT: CohortPlan = {
  installed: 480,
  waiting: 60,
  districts: ['GL1', 'GL2', 'GL3', 'GL4', 'GL5', 'GL6', 'GL7', 'GL8', 'GL9', 'GL10', 'GL11', 'GL12'],
  seed: 1,
};

/** The prefix of every simulated resident's reference (`ref` of residents.csv). */
export const COHORT_REF_PREFIX = 'cohort-';
/** Every simulated resident's name starts so: how the cohort is found again. */
const COHORT_NAME = 'Simulated Resident';

export interface PlannedResident {
  readonly ref: string;
  readonly name: string;
  readonly address: string;
  readonly postcode: string;
  readonly district: string;
  /** Days before today of the referral. */
  readonly referredDaysAgo: number;
  /** Days from referral to the first install; null: still waiting. */
  readonly installAfterDays: number | null;
}

export interface CarePackage {
  readonly hoursPerWeek: number;
  readonly startDate: string;
  readonly endDate: string | null;
}

const DAY_MS = 86_400_000;
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const midnight = (d: string): number => Date.parse(`${d}T00:00:00Z`);

/** A random stream per resident reference: the same ref, the same life, whatever the order. */
const randomOf = (ref: string, seed: number, what: string): (() => number) =>
  seededRandom(createHash('sha256').update(`${seed}/${ref}/${what}`).digest().readUInt32BE(0));

/** The cohort's residents, the same for the same plan. */
export function planCohort(plan: CohortPlan): PlannedResident[] {
  const out: PlannedResident[] = [];
  const total = plan.installed + plan.waiting;
  for (let i = 0; i < total; i++) {
    const ref = `${COHORT_REF_PREFIX}${String(i + 1).padStart(4, '0')}`;
    const rand = randomOf(ref, plan.seed, 'resident');
    // Districts of unequal size: the first ones are busier.
    const district = plan.districts[Math.floor(rand() ** 1.6 * plan.districts.length)] as string;
    const waiting = i >= plan.installed;
    const installAfterDays = waiting ? null : 14 + Math.floor(rand() * 42);
    // Installed between 7 and 18 months ago; the waiting referred between 7 and 14 months ago.
    const referredDaysAgo = waiting
      ? 213 + Math.floor(rand() * 213)
      : 213 + Math.floor(rand() * 335) + (installAfterDays ?? 0);
    const letters = 'ABDEFGHJLNPQRSTUWXYZ';
    const inward = `${1 + Math.floor(rand() * 9)}${letters[Math.floor(rand() * 20)]}${letters[Math.floor(rand() * 20)]}`;
    out.push({
      ref,
      name: `${COHORT_NAME} ${String(i + 1).padStart(4, '0')}`,
      address: `${1 + Math.floor(rand() * 120)} Demonstration Road`,
      postcode: `${district} ${inward}`,
      district,
      referredDaysAgo,
      installAfterDays,
    });
  }
  return out;
}

/** The registry's residents.csv for these residents, with their referral and first-install days. */
export function residentsCsv(people: readonly PlannedResident[], today: Date): string {
  const at = (daysAgo: number) => day(today.getTime() - daysAgo * DAY_MS);
  return [
    'ref,name,address,postcode,referredOn,firstInstalledOn',
    ...people.map((p) =>
      [
        p.ref,
        p.name,
        p.address,
        p.postcode,
        at(p.referredDaysAgo),
        p.installAfterDays === null ? '' : at(p.referredDaysAgo - p.installAfterDays),
      ].join(','),
    ),
  ].join('\n');
}

/**
 * Care packages around the referral: six in ten residents have care at home, from well before
 * the referral; a few weeks after it the hours change (more for most, fewer for some), open-ended.
 */
export function carePackagesOf(ref: string, referredOn: string, seed: number): CarePackage[] {
  const rand = randomOf(ref, seed, 'care');
  if (rand() >= 0.6) return [];
  const referral = midnight(referredOn);
  const before = Math.round((3 + rand() * 12) * 2) / 2;
  const start = referral - (200 + Math.floor(rand() * 400)) * DAY_MS;
  const change = referral + Math.floor(rand() * 60) * DAY_MS;
  const after = Math.round(before * (0.7 + rand() * 0.9) * 2) / 2;
  return [
    { hoursPerWeek: before, startDate: day(start), endDate: day(change - DAY_MS) },
    { hoursPerWeek: after, startDate: day(change), endDate: null },
  ];
}

/**
 * Hospital stays, none overlapping, up to `today`: half the residents were admitted in the weeks
 * before their referral (the crisis that led to it), and everyone has a small chance of an
 * admission in any month of the two years around it.
 */
export function staysOf(
  ref: string,
  referredOn: string,
  today: Date,
  seed: number,
): { admitted: string; discharged: string }[] {
  const rand = randomOf(ref, seed, 'stays');
  const referral = midnight(referredOn);
  const candidates: { from: number; nights: number }[] = [];
  if (rand() < 0.5)
    candidates.push({
      from: referral - (5 + Math.floor(rand() * 60)) * DAY_MS,
      nights: 2 + Math.floor(rand() * 14),
    });
  for (let month = -12; month < 12; month++)
    if (rand() < 0.03)
      candidates.push({
        from: referral + month * 30 * DAY_MS + Math.floor(rand() * 30) * DAY_MS,
        nights: 1 + Math.floor(rand() * 9),
      });
  const stays: { admitted: string; discharged: string }[] = [];
  let free = -Infinity;
  for (const c of candidates.sort((a, b) => a.from - b.from)) {
    const discharged = c.from + c.nights * DAY_MS;
    if (c.from < free || discharged > today.getTime()) continue;
    stays.push({ admitted: day(c.from), discharged: day(discharged) });
    free = discharged;
  }
  return stays;
}

/** A trust's episodes file (`resident,admitted,discharged`) for the registered residents. */
export function episodesCsv(
  registered: readonly { residentId: string; ref: string; referredOn: string }[],
  today: Date,
  seed: number,
): string {
  return [
    'resident,admitted,discharged',
    ...registered.flatMap((r) =>
      staysOf(r.ref, r.referredOn, today, seed).map((s) => `${r.residentId},${s.admitted},${s.discharged}`),
    ),
  ].join('\n');
}

export interface EnsuredCohort {
  /** Residents registered by this run (with their care packages). */
  readonly created: number;
  /** Residents an earlier run registered: left as they are. */
  readonly found: number;
  readonly carePackages: number;
  /** Every resident of the cohort as the registry holds them, with their referral day. */
  readonly residents: readonly { residentId: string; ref: string; referredOn: string }[];
}

/**
 * Registers the cohort once: residents an earlier run registered are found by their reference and
 * left alone (their dates are not moved); the others are imported in one residents.csv, and their
 * care packages added one by one, as an installer would.
 */
export async function ensureCohort(
  registry: RegistryClient,
  plan: CohortPlan,
  today = new Date(),
): Promise<EnsuredCohort> {
  const people = planCohort(plan);
  const before = await registry.residentsByRefPrefix(COHORT_REF_PREFIX, COHORT_NAME);
  const missing = people.filter((p) => !before.has(p.ref));
  let carePackages = 0;
  if (missing.length > 0) {
    const result = await registry.importCsv({ residents: residentsCsv(missing, today) });
    if (!result.imported)
      throw new Error(
        `the registry refused the cohort: ${result.errors
          .slice(0, 3)
          .map((e) => `line ${e.line} ${e.field}: ${e.message}`)
          .join('; ')}`,
      );
    const ids = new Map(result.residents.map((r) => [r.ref, r.id]));
    const refDay = (p: PlannedResident) => day(today.getTime() - p.referredDaysAgo * DAY_MS);
    const work = missing.flatMap((p) =>
      carePackagesOf(p.ref, refDay(p), plan.seed).map((body) => ({ id: ids.get(p.ref) ?? '', body })),
    );
    // A few at a time: the registry is shared with the live demonstration.
    for (let i = 0; i < work.length; i += 8)
      await Promise.all(work.slice(i, i + 8).map((w) => registry.addCarePackage(w.id, w.body)));
    carePackages = work.length;
  }
  const after = await registry.residentsByRefPrefix(COHORT_REF_PREFIX, COHORT_NAME);
  const residents = people.flatMap((p) => {
    const r: CohortResidentRecord | undefined = after.get(p.ref);
    return r?.referredOn ? [{ residentId: r.id, ref: p.ref, referredOn: r.referredOn }] : [];
  });
  return { created: missing.length, found: people.length - missing.length, carePackages, residents };
}

/**
 * Sends the episodes file to the reports service (`POST /api/reports/hospital-episodes`, admin);
 * rows already imported are left out there, so sending it again changes nothing. Says what it did.
 */
export async function sendEpisodes(reportsUrl: string, token: string, csv: string): Promise<string> {
  const res = await fetch(new URL('/api/reports/hospital-episodes', reportsUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: csv,
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json().catch(() => ({}))) as {
    imported?: number;
    alreadyImported?: number;
    duplicates?: { line: number; copyOf: number }[];
    refused?: { line: number; reasons: string[] }[];
    message?: string;
  };
  if (res.status !== 200)
    throw new Error(
      `the reports service answered ${res.status}: ${body.message ?? ''} ${JSON.stringify(body.refused?.slice(0, 3) ?? [])}`,
    );
  const copies = body.duplicates?.length ?? 0;
  return `${body.imported ?? 0} stays imported, ${body.alreadyImported ?? 0} already there${
    copies > 0 ? `, ${copies} ${copies === 1 ? 'row a copy' : 'rows copies'} of another in the file` : ''
  }`;
}

import { z } from 'zod';
import { defineRoute } from './route.ts';

// The reports service's API: the commissioners' figures (docs/reports.md), small numbers suppressed.

/** Who a report token is for: aggregates, or the pseudonymised export too (docs/security.md). */
export const REPORT_ROLES = ['commissioner', 'analyst'] as const;
export type ReportRole = (typeof REPORT_ROLES)[number];

const AGGREGATES = ['commissioner', 'analyst', 'admin'] as const;

const Day = z.union([z.iso.date(), z.iso.datetime({ offset: true })]).transform((v) => new Date(v));
export const District = z
  .string()
  .regex(/^[A-Z]{1,2}[0-9][A-Z0-9]?$/, 'a postcode district such as GL1 or SW1A');
// A field that is not one is refused by name (strict objects): a misspelt `districts` would
// otherwise make a token for every district, unnoticed.
export const ReportTokenRequest = z.strictObject({
  role: z.enum(REPORT_ROLES),
  /** Who the token is for (an organisation or person id, never a name with spaces). */
  recipient: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  /** Days the token works (it can be revoked sooner). */
  expiresInDays: z.number().int().min(1).max(365).default(90),
  /**
   * The postcode districts the token may see (a council's or trust's own area); absent: every
   * district. Any other district asked for is refused (403).
   */
  districts: z
    .array(z.string().trim().toUpperCase().pipe(District))
    .min(1)
    .max(200)
    .transform((d) => [...new Set(d)])
    .optional(),
});

/** At most five years in one report: bounded work per request. */
export const MAX_REPORT_DAYS = 5 * 366;

/**
 * A comma-separated list of postcode districts (any case, spaces ignored); absent or empty: every
 * district. A list that names none (`,`, spaces) is refused: it would be a report of nothing.
 */
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
  .pipe(
    z
      .array(District)
      .min(
        1,
        'names no district: give postcode districts such as GL1,GL2, or leave it out for every district',
      )
      .max(200)
      .nullable(),
  );

/** `area` is the same list under the name DESIGN §4 gives it; one of the two, not both. */
const oneOf = (q: { districts: string[] | null; area: string[] | null }) => !(q.districts && q.area);
const ONE_OF = { message: 'districts or area, not both', path: ['area'] };
const asDistricts = <Q extends { districts: string[] | null; area: string[] | null }>({
  area,
  ...rest
}: Q) => ({
  ...rest,
  districts: rest.districts ?? area,
});

/**
 * `from` (inclusive) and `to` (exclusive): dates or times; the default is the last 30 days. At most
 * five years, begun by now and ended by the end of this month (services/reports `scopeOf`).
 */
export const ScopeParams = z
  .object({
    from: Day.optional().describe('included; not after now; absent: 30 days before to'),
    to: Day.optional().describe(
      'excluded; at most the first instant of next month (UTC): this month may be asked whole, no month to come; absent: now',
    ),
    districts: DistrictsParam,
    area: DistrictsParam,
  })
  .strict();
export const ScopeQuery = ScopeParams.refine(oneOf, ONE_OF).transform(asDistricts);

/** The cohort figures' query: the districts alone (the windows are fixed). */
export const CohortParams = z.object({ districts: DistrictsParam, area: DistrictsParam }).strict();
export const BedDaysQuery = CohortParams.refine(oneOf, ONE_OF).transform(asDistricts);

const Count = z.number().int().nullable().describe('null: suppressed (1 to 4, or would give one back)');
const Group = z.object({ total: Count, cells: z.record(z.string(), Count) });
const Target = z.object({
  target: z.number(),
  of: Count,
  met: Count,
  missed: Count,
  percent: z.number().nullable(),
  achieved: z.boolean().nullable(),
});
const Rate = z.number().nullable();

/** The summary: measured facts for a period and set of districts (services/reports/src/summary.ts). */
export const SummaryView = z.object({
  period: z.object({ from: z.string(), to: z.string() }),
  districts: z.array(z.string()).nullable(),
  evidence: z.literal('measured'),
  residents: z.object({ active: Count, devices: Count, technology: Group }),
  alerts: z.object({ byType: Group, byPriority: Group, per1000: Rate }),
  answer: z.object({
    priorities: z.array(z.number()),
    within60s: Target,
    within180s: Target,
    medianSeconds: Rate,
  }),
  attendance: z.object({ visits: Count, within45m: Target, within60m: Target, medianMinutes: Rate }),
  outcomes: Group,
  ambulances: z.object({ count: Count, per1000: Rate }),
  admissions: z.object({ count: Count, per1000: Rate }),
  falls: z.object({
    byAmbulance: Group,
    per1000: Rate,
    timeOnFloor: Group,
    medianMinutesOnFloor: Rate,
    longLieMinutes: z.number(),
  }),
  faults: z.object({
    byType: Group,
    per1000Devices: Rate,
    supervisionLosses: Count,
    /** Supervision losses by the kind of device gone silent (`not recorded` when its alert did not say). */
    supervisionLossesByKind: Group,
    lateDeliveries: Count,
  }),
  /** Each device kind this summary counts by (`technology`, `supervisionLossesByKind`), in words. */
  deviceKinds: z.record(z.string(), z.string()),
  trend: z.object({
    months: z.array(z.string()),
    activeResidents: z.array(Count),
    alerts: Group,
    alertsPer1000: z.array(Rate),
    within60sPercent: z.array(Rate),
    falls: Group,
    ambulances: Group,
  }),
  demand: z.object({
    districts: z.array(z.string()),
    residents: Group,
    alerts: Group,
    visits: Group,
    ambulances: Group,
    attendanceP90: z.record(z.string(), Rate),
    clusters: z.array(z.object({ districts: z.array(z.string()), alerts: Count, why: z.string() })),
    clusterCapacity: z.number(),
  }),
  modelled: z
    .object({
      evidence: z.literal('modelled'),
      method: z.string(),
      inputs: z.object({ longLies: Count, longLieMinutes: z.number() }),
      assumptions: z.object({ extraBedDaysPerLongLie: z.number(), costPerBedDay: z.number() }),
      bedDays: Rate,
      cost: Rate,
      caveat: z.string(),
    })
    .nullable(),
  notes: z.array(z.object({ what: z.string(), count: Count, why: z.string() })),
  suppression: z.string(),
  /** The base every count is rounded to after suppression; a total is rounded on its own. */
  roundedTo: z.number().int().positive(),
  /** The fewest values a median or centile is shown over (null below it). */
  medianAtLeast: z.number().int().positive(),
});
export type SummaryView = z.infer<typeof SummaryView>;

const MeanChange = z.object({ mean: z.number(), low: z.number(), high: z.number() }).nullable();
const Started = z
  .enum(['registry-first-install', 'first-event-seen'])
  .describe(
    "when telecare started: the registry's first install date, or the first device event the service saw",
  );
/** Residents referred and still waiting, and the difference in differences (docs/reports.md). */
const Comparison = (total: z.ZodType) =>
  z
    .object({
      group: z.literal('referred-not-yet-installed'),
      residents: Count,
      before: total,
      after: total,
      meanBefore: Rate,
      meanAfter: Rate,
      meanChange: MeanChange,
      installedResidents: Count.describe(
        'installed residents with a referral date whose window after it has passed',
      ),
      installedMeanChange: MeanChange.describe(
        'their mean change over the same windows around their referral',
      ),
      installedWithoutReferral: Count.describe(
        'installed residents of the main figure left out of the comparison (no referral date recorded), counted as the cohort is: small districts pooled, rounded to 5',
      ),
      difference: MeanChange.describe(
        "difference in differences: the installed residents' mean change around their referral minus this group's, with its bootstrap 95 % interval",
      ),
      method: z.string(),
    })
    .nullable()
    .describe('residents referred and not yet installed, over the same windows around their referral');
const window = <B extends string, A extends string, T extends z.ZodType>(before: B, after: A, total: T) =>
  z.object({
    evidence: z.literal('observational'),
    months: z.number(),
    asOf: z
      .string()
      .describe(
        'the first of this month (UTC): a resident counts once their window after the start ended by it, so the figure changes once a month',
      ),
    roundedTo: z
      .object({ residents: z.number().int().positive(), total: z.number().positive() })
      .describe(
        'the bases residents and totals are rounded to; means and changes are worked from the rounded figures',
      ),
    residents: Count,
    ...({ [before]: total, [after]: total } as Record<B | A, T>),
    meanBefore: Rate,
    meanAfter: Rate,
    meanChange: MeanChange,
    comparison: Comparison(total),
    comparisonWhy: z
      .string()
      .nullable()
      .describe('why there is no comparison group (null when there is one)'),
    caveat: z.string(),
  });
export const BedDaysView = z.object({
  districts: z.array(z.string()).nullable(),
  startedFrom: Started,
  windows: z.array(window('bedDaysBefore', 'bedDaysAfter', Count)),
});
export const CareHoursView = z.object({
  districts: z.array(z.string()).nullable(),
  available: z.boolean().describe('false: no registry configured; `why` says so and `windows` is empty'),
  why: z.string().optional(),
  startedFrom: Started.nullable(),
  windows: z.array(window('careHoursBefore', 'careHoursAfter', Rate)),
});
export const EpisodesImportView = z.object({
  importId: z.string().optional(),
  imported: z.number().int(),
  alreadyImported: z
    .number()
    .int()
    .optional()
    .describe('rows identical to a stay already imported: left out, not refused'),
  duplicates: z
    .array(z.object({ line: z.number().int(), copyOf: z.number().int() }))
    .optional()
    .describe(
      'rows identical to an earlier row of the file (resident, admitted, discharged): copies, stored once; each by its line and the line it copies',
    ),
  refused: z.array(z.object({ line: z.number().int(), reasons: z.array(z.string()) })),
  message: z.string().optional(),
});

/** What every report route says of its reads' limits. */
const TOO_SLOW =
  '429 with Retry-After when the token already has REPORTS_READS_PER_TOKEN reports being read; 503 with Retry-After when one of its reads takes longer than the read limit (REPORTS_READ_TIMEOUT_MS), or when every connection for reports is in use by other reports (reports-busy)';

/** Every route of the reports API; CSV answers are raw. */
export const REPORTS_ROUTES = {
  summary: defineRoute({
    method: 'GET',
    path: '/api/reports/summary',
    summary: `Measured facts for a period and set of postcode districts; ${TOO_SLOW}`,
    roles: AGGREGATES,
    query: ScopeQuery,
    response: SummaryView,
    errors: [429, 503],
  }),
  exportCsv: defineRoute({
    method: 'GET',
    path: '/api/reports/export.csv',
    summary: `Every chart in one CSV (text/csv): chart,row,column,value; ${TOO_SLOW}`,
    roles: AGGREGATES,
    query: ScopeQuery,
    response: z.string(),
    raw: true,
    errors: [429, 503],
  }),
  chartCsv: defineRoute({
    method: 'GET',
    path: '/api/reports/csv/{chart}',
    summary: `One chart's numbers as CSV (text/csv); ${TOO_SLOW} (bed-days and care-hours: or the registry does not answer)`,
    roles: AGGREGATES,
    params: z.object({ chart: z.string().max(100) }),
    query: ScopeQuery,
    response: z.string(),
    raw: true,
    errors: [404, 429, 503],
  }),
  episodesCsv: defineRoute({
    method: 'GET',
    path: '/api/reports/episodes.csv',
    summary: `One row per case (text/csv), pseudonymised for the token’s recipient (HMAC-SHA-256); 503 without REPORTS_PSEUDONYM_KEY; ${TOO_SLOW}`,
    roles: ['analyst', 'admin'],
    query: ScopeQuery,
    response: z.string(),
    raw: true,
    errors: [429, 503],
  }),
  bedDays: defineRoute({
    method: 'GET',
    path: '/api/reports/bed-days',
    summary: `Bed days 6 and 12 months before and after telecare started (observational); ${TOO_SLOW} (or the registry, when configured, does not answer)`,
    roles: AGGREGATES,
    query: BedDaysQuery,
    response: BedDaysView,
    errors: [429, 503],
  }),
  careHours: defineRoute({
    method: 'GET',
    path: '/api/reports/care-hours',
    summary:
      "Care hours 6 and 12 months before and after telecare started (observational), from the registry's care packages; available: false without a registry, 503 with Retry-After when it does not answer, or not within REPORTS_READ_TIMEOUT_MS; 429 with Retry-After when the token already has REPORTS_READS_PER_TOKEN reports being read",
    roles: AGGREGATES,
    query: BedDaysQuery,
    response: CareHoursView,
    errors: [429, 503],
  }),
  importEpisodes: defineRoute({
    method: 'POST',
    path: '/api/reports/hospital-episodes',
    summary:
      'Import a trust’s episodes file (text/csv: resident,admitted,discharged), refused row by row: nothing is imported while a row is refused (422), unless partial=true; 503 with Retry-After when the registry, configured, does not answer',
    roles: ['admin'],
    query: z.strictObject({
      partial: z
        .enum(['true', 'false'], 'true or false')
        .optional()
        .describe('true: import the rows accepted, refuse the others'),
    }),
    consumes: 'text/csv',
    // A trust's file of up to 100,000 rows.
    bodyLimit: 10 * 1_048_576,
    body: z.string().describe('the episodes file: resident,admitted,discharged'),
    response: EpisodesImportView,
    responses: { 422: EpisodesImportView },
    errors: [415, 503],
  }),
  createToken: defineRoute({
    method: 'POST',
    path: '/api/tokens',
    summary: 'Make a report token for a recipient (shown once)',
    roles: ['admin'],
    body: ReportTokenRequest,
    response: z.looseObject({
      id: z.string(),
      token: z.string(),
      role: z.string(),
      recipient: z.string(),
      expiresAt: z.string(),
      districts: z.array(z.string()).nullable(),
    }),
    status: 201,
  }),
  revokeToken: defineRoute({
    method: 'DELETE',
    path: '/api/tokens/{id}',
    summary: 'Revoke a report token',
    roles: ['admin'],
    params: z.object({ id: z.string().max(100) }),
    response: z.undefined(),
    status: 204,
    errors: [404],
  }),
};
export type ReportsRoutes = typeof REPORTS_ROUTES;

export const REPORTS_API = {
  title: 'telecare reports',
  version: '1',
  description:
    "The commissioners' figures: measured facts, observational bed days, demand by postcode district; small numbers suppressed. Send Authorization: Bearer <token> (a report token rpt_… or TELECARE_ADMIN_TOKEN). Definitions: docs/reports.md.",
  path: '/api/openapi.json',
};

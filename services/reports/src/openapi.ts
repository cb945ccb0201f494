import { z } from 'zod';
import { CohortParams, ScopeParams, TokenRequest } from './schemas.ts';

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

/** The summary's shape (src/summary.ts), for the document. */
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
  faults: z.object({ byType: Group, per1000Devices: Rate, supervisionLosses: Count, lateDeliveries: Count }),
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
});

const MeanChange = z.object({ mean: z.number(), low: z.number(), high: z.number() }).nullable();
const Started = z
  .enum(['registry-first-install', 'first-event-seen'])
  .describe(
    "when telecare started: the registry's first install date, or the first device event the service saw",
  );
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
        'installed residents of the main figure left out of the comparison: no referral date recorded',
      ),
      difference: MeanChange.describe(
        "difference in differences: the installed residents' mean change around their referral minus this group's, with its bootstrap 95 % interval",
      ),
      method: z.string(),
    })
    .nullable()
    .describe('residents referred and not yet installed, over the same windows around their referral');
const window = (before: string, after: string, total: z.ZodType) =>
  z.object({
    evidence: z.literal('observational'),
    months: z.number(),
    residents: Count,
    [before]: total,
    [after]: total,
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
const BedDaysView = z.object({
  districts: z.array(z.string()).nullable(),
  startedFrom: Started,
  windows: z.array(window('bedDaysBefore', 'bedDaysAfter', Count)),
});
const CareHoursView = z.object({
  districts: z.array(z.string()).nullable(),
  available: z.boolean().describe('false: no registry configured; `why` says so and `windows` is empty'),
  why: z.string().optional(),
  startedFrom: Started.nullable(),
  windows: z.array(window('careHoursBefore', 'careHoursAfter', Rate)),
});
const ImportView = z.object({
  importId: z.string().optional(),
  imported: z.number().int(),
  alreadyImported: z
    .number()
    .int()
    .optional()
    .describe('rows identical to a stay already imported: left out, not refused'),
  refused: z.array(z.object({ line: z.number().int(), reasons: z.array(z.string()) })),
});
const Csv = { 'text/csv': { schema: { type: 'string' } } };
const json = (schema: z.ZodType) => ({
  'application/json': { schema: z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) },
});
const queryOf = (schema: z.ZodObject) =>
  Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: 'query',
    required: false,
    schema: z.toJSONSchema(field as z.ZodType, { io: 'input', unrepresentable: 'any' }),
  }));

const refusals = (roles: string) => ({
  '400': { description: 'Invalid request' },
  '401': { description: 'No token, or not one this service knows' },
  '403': { description: `The role does not allow it (allowed: ${roles})` },
});

/** The OpenAPI 3.1 document of the reports API, from the zod schemas the routes parse with. */
export function openApiDocument(): Record<string, unknown> {
  const aggregates = 'commissioner, analyst, admin';
  const scoped = (summary: string, content: Record<string, unknown>, roles = aggregates) => ({
    get: {
      summary,
      description: `Roles: ${roles}.`,
      parameters: queryOf(ScopeParams),
      responses: { '200': { description: 'OK', content }, ...refusals(roles) },
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Telecare reports API',
      version: '1.0.0',
      description:
        "The commissioners' figures: measured facts, observational bed days, demand by postcode district; small numbers suppressed. Send Authorization: Bearer <token> (a report token rpt_… or TELECARE_ADMIN_TOKEN). Definitions: docs/reports.md.",
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/api/reports/summary': scoped(
        'Measured facts for a period and set of postcode districts',
        json(SummaryView),
      ),
      '/api/reports/export.csv': scoped('Every chart in one CSV: chart,row,column,value', Csv),
      '/api/reports/csv/{chart}': {
        get: {
          ...scoped("One chart's numbers as CSV", Csv).get,
          parameters: [
            { name: 'chart', in: 'path', required: true, schema: { type: 'string' } },
            ...queryOf(ScopeParams),
          ],
        },
      },
      '/api/reports/episodes.csv': scoped(
        'One row per case, pseudonymised for the token’s recipient (HMAC-SHA-256)',
        Csv,
        'analyst, admin',
      ),
      '/api/reports/bed-days': {
        get: {
          summary: 'Bed days 6 and 12 months before and after telecare started (observational)',
          description: `Roles: ${aggregates}.`,
          parameters: queryOf(CohortParams),
          responses: { '200': { description: 'OK', content: json(BedDaysView) }, ...refusals(aggregates) },
        },
      },
      '/api/reports/care-hours': {
        get: {
          summary:
            "Care hours 6 and 12 months before and after telecare started (observational), from the registry's care packages",
          description: `Roles: ${aggregates}. available: false without a registry; 503 when the registry does not answer.`,
          parameters: queryOf(CohortParams),
          responses: {
            '200': { description: 'OK', content: json(CareHoursView) },
            '503': { description: 'The registry did not answer' },
            ...refusals(aggregates),
          },
        },
      },
      '/api/reports/hospital-episodes': {
        post: {
          summary: 'Import a trust’s episodes file (resident,admitted,discharged), refused row by row',
          description: 'Roles: admin. Nothing is imported while a row is refused, unless partial=true.',
          parameters: [
            { name: 'partial', in: 'query', required: false, schema: { type: 'string', enum: ['true'] } },
          ],
          requestBody: { required: true, content: Csv },
          responses: {
            '200': { description: 'Imported', content: json(ImportView) },
            '422': { description: 'Rows refused; nothing imported', content: json(ImportView) },
            ...refusals('admin'),
          },
        },
      },
      '/api/tokens': {
        post: {
          summary: 'Make a report token for a recipient (shown once)',
          description: 'Roles: admin.',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: z.toJSONSchema(TokenRequest, { io: 'input', unrepresentable: 'any' }),
              },
            },
          },
          responses: {
            '201': {
              description: 'Created',
              content: json(
                z.object({ id: z.string(), token: z.string(), role: z.string(), recipient: z.string() }),
              ),
            },
            ...refusals('admin'),
          },
        },
      },
      '/api/tokens/{id}': {
        delete: {
          summary: 'Revoke a report token',
          description: 'Roles: admin.',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '204': { description: 'Revoked' },
            '404': { description: 'No such token' },
            ...refusals('admin'),
          },
        },
      },
    },
  };
}

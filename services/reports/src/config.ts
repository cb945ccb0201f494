import { ConfigError, commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const reportsEnv = {
  ...commonEnv,
  REPORTS_PORT: port(7030),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** A short name prefix for the durable consumers on CASES, ALERTS and EVENTS. */
  REPORTS_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,48}$/)
    .default('reports'),
  /**
   * The secret from which each analyst's pseudonym key is derived (HMAC-SHA-256 of the recipient
   * id): the same resident gets a different pseudonym in each recipient's export. Unset, the
   * episode export is refused.
   */
  REPORTS_PSEUDONYM_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * Which postcode districts touch, for the suggested provider clusters: `GL1:GL2 GL3; GL2:GL4`
   * (made symmetric). Unset: districts of one area with consecutive numbers.
   */
  REPORTS_DISTRICT_ADJACENCY: z.string().max(20_000).optional(),
  /** Alerts one local provider can take in 30 days, the ceiling of a suggested cluster. */
  REPORTS_CLUSTER_ALERTS_PER_30_DAYS: z.coerce.number().int().min(1).max(1_000_000).default(300),
  /** `on` shows the modelled what-if (docs/reports.md) with the two assumptions below; off by default. */
  REPORTS_MODELLED_SAVINGS: z.enum(['on', 'off']).default('off'),
  /**
   * The registry, for install dates and care packages; read only with REPORTS_REGISTRY_TOKEN too.
   * Either unset: no care hours, and bed days count from the first device event seen.
   */
  REGISTRY_URL: z.url().optional(),
  /** The reports service's registry token (role `reports-service`: reads `GET /api/cohort` only). */
  REPORTS_REGISTRY_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /**
   * How long one of a report's reads may run before PostgreSQL cancels it (ms; at most the
   * platform's 15 s statement timeout), on every report route; the registry's cohort is given up
   * at the same limit (at most 10 s). A report whose read is given up is answered 503 with
   * Retry-After, naming the limit, never 500.
   */
  REPORTS_READ_TIMEOUT_MS: z.coerce.number().int().min(1).max(15_000).default(15_000),
  /**
   * Report requests one token (the admin token counts as one) may have in flight, across every
   * instance (PostgreSQL advisory locks, `ReadSlots`); one more is answered 429 with Retry-After at once. Each takes up to three of the eight read
   * connections, so at 2 one token leaves room for another's report.
   */
  REPORTS_READS_PER_TOKEN: z.coerce.number().int().min(1).max(20).default(2),
  REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE: z.coerce.number().min(0).max(365).optional(),
  REPORTS_COST_PER_BED_DAY: z.coerce.number().min(0).max(1_000_000).optional(),
} as const;

export type ReportsConfig = z.infer<z.ZodObject<typeof reportsEnv>>;

export function loadReportsConfig(env: Record<string, string | undefined> = process.env): ReportsConfig {
  const config = loadConfig('reports', reportsEnv, env);
  if (
    config.REPORTS_MODELLED_SAVINGS === 'on' &&
    (config.REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE === undefined ||
      config.REPORTS_COST_PER_BED_DAY === undefined)
  )
    throw new ConfigError('reports', [
      'REPORTS_MODELLED_SAVINGS: on needs REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE and REPORTS_COST_PER_BED_DAY (a model shows its assumptions)',
    ]);
  if (config.REPORTS_REGISTRY_TOKEN && config.REPORTS_REGISTRY_TOKEN === config.TELECARE_ADMIN_TOKEN)
    throw new ConfigError('reports', [
      'REPORTS_REGISTRY_TOKEN: must not be the admin token (the reports service gets only the role it needs)',
    ]);
  return config;
}

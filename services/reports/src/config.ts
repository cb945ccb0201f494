import { commonEnv, loadConfig, port } from '@telecare/platform';
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
} as const;

export type ReportsConfig = z.infer<z.ZodObject<typeof reportsEnv>>;

export function loadReportsConfig(env: Record<string, string | undefined> = process.env): ReportsConfig {
  return loadConfig('reports', reportsEnv, env);
}

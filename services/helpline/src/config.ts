import { commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const helplineEnv = {
  ...commonEnv,
  HELPLINE_PORT: port(7010),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** Further alerts for a resident within this many seconds of the case's latest alert join its open case. */
  CASE_JOIN_WINDOW_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(900),
} as const;

export type HelplineConfig = ReturnType<typeof loadHelplineConfig>;

export function loadHelplineConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig('helpline', helplineEnv, env);
}

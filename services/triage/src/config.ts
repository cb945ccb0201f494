import { ACK_WAIT_S, ConfigError, commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const triageEnv = {
  ...commonEnv,
  TRIAGE_PORT: port(7060),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** A JSON rule set to use instead of the default one (validated at start-up). */
  TRIAGE_RULES_FILE: z.string().min(1).optional(),
  /** How long a transiently failed event waits before JetStream redelivers it. */
  TRIAGE_RETRY_DELAY_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
  /** Read P1 alarms on a lane of their own, so a storm on a partition never delays one. */
  TRIAGE_ALARM_LANE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /**
   * How long an event waits for its index write once the rest of its step is done: past it the
   * write is skipped and its gap claimed (README, "The event index"). Not at all while Redis is
   * not connected.
   */
  TRIAGE_INDEX_WAIT_MS: z.coerce.number().int().min(1).max(10_000).default(1_000),
  /**
   * How long JetStream waits for an ack before redelivering (a crashed worker's event). A lane in
   * a partition waits this long after a crash; a slow evaluation says it is still working.
   */
  TRIAGE_ACK_WAIT_S: z.coerce.number().int().min(1).max(600).default(ACK_WAIT_S),
  /**
   * Events a partition lane holds at once (its consumer's `max_ack_pending`): different residents
   * are evaluated side by side, one resident's events one at a time and in order.
   */
  TRIAGE_LANE_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /**
   * Resident states kept decoded in memory, the most recently used (0: none). Redis stays the
   * record (every change is saved before the event is acked); the copy here saves a read and a
   * decode per event. It holds only states this instance alone writes: it is emptied whenever a
   * partition lease is taken, given up or lost, and a resident's copy is dropped when an event of
   * theirs fails.
   */
  TRIAGE_STATE_CACHE: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  /**
   * A timer due at T fires once its partition lane has read every event stored before T. A lane
   * that stays behind (stuck on an event, or a clock that jumped) fires it anyway this long after T.
   */
  TRIAGE_TIMER_MAX_WAIT_S: z.coerce.number().int().min(0).max(3_600).default(300),
  /**
   * Share the partitions with the other instances of the namespace through leases. `false` runs
   * every partition with no leases: then exactly one instance may run.
   */
  TRIAGE_LEASES: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
  /** Lease time: how long a crashed instance's partitions wait before another takes them. */
  TRIAGE_LEASE_TTL_S: z.coerce.number().int().min(2).max(300).default(10),
  /**
   * A stable name for this instance (a pod or unit name), unique among the running instances of
   * the namespace. A restart under the same name takes its own leases back at once instead of
   * waiting for them to expire. Unset: a name of its own for every process.
   */
  TRIAGE_INSTANCE: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'letters, digits and - only')
    .optional(),
  /** How often leases are renewed and ownership looked at: at most a third of (lease time − 1 s), by default a quarter. */
  TRIAGE_LEASE_RENEW_MS: z.coerce.number().int().min(50).max(100_000).optional(),
  /**
   * The helpline's token for triage (the same value is given to the helpline): it reads a
   * resident's event index and nothing else. Unset, only the admin token reads it.
   */
  HELPLINE_TRIAGE_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
} as const;

export type TriageConfig = ReturnType<typeof loadTriageConfig>;

export function loadTriageConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig('triage', triageEnv, env);
  if (config.HELPLINE_TRIAGE_TOKEN && config.HELPLINE_TRIAGE_TOKEN === config.TELECARE_ADMIN_TOKEN)
    throw new ConfigError('triage', [
      'HELPLINE_TRIAGE_TOKEN: must not be the admin token (the helpline gets only the role it needs)',
    ]);
  return config;
}

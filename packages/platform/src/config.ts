import { DEFAULT_NAMESPACE, NAMESPACE_PATTERN } from '@telecare/contracts';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const url = (protocols: readonly string[], fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine(
      // A cluster is given as a comma-separated list of URLs (NATS).
      (value) =>
        value.split(',').every((one) => {
          try {
            return protocols.includes(new URL(one.trim()).protocol);
          } catch {
            return false;
          }
        }),
      `must be a URL (or comma-separated URLs) with scheme ${protocols.join(' or ')}`,
    );

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** A size in bytes, or with a unit as NATS's configuration writes it (`200GB`, `512MB`; binary). */
export const byteSize = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?\s*([KMGT]B?)?$/i, 'must be a size in bytes, or with a unit: 512MB, 200GB, 1TB')
  .transform((value) => {
    const [, amount = '0', unit = ''] = /^([\d.]+)\s*([KMGT]?)/i.exec(value) ?? [];
    return Math.floor(Number(amount) * (UNITS[unit.toUpperCase()] ?? 1));
  })
  .pipe(
    z
      .number()
      .int()
      .min(1024 ** 2, 'must be at least 1MB'),
  );

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/** Environment names shared by every service (DESIGN §4, Configuration). */
export const commonEnv = {
  NATS_URL: url(['nats:', 'tls:'], 'nats://127.0.0.1:4222'),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
  MQTT_URL: url(['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'mqtt://127.0.0.1:1883'),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgresql://postgres@127.0.0.1:5432/telecare'),
  TELECARE_NAMESPACE: z.string().regex(NAMESPACE_PATTERN).default(DEFAULT_NAMESPACE),
  TELECARE_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().optional(),
  /** Number of EVENTS partitions; gateways and triage must agree. */
  TELECARE_PARTITIONS: z.coerce.number().int().min(1).max(256).default(8),
  /**
   * Copies of every stream and KV bucket a service creates: 3 on the three-server cluster
   * (infra/nats/), 1 on a single server. JetStream allows at most 5.
   */
  TELECARE_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /**
   * The JetStream store the streams share (`max_file_store` of each server, or less): every stream
   * is bounded by its share (`streamBytes`), EVENTS by the most, its oldest events going first.
   * Unset: the account's limit when JetStream reports one, else `DEFAULT_JETSTREAM_MAX_BYTES`.
   */
  TELECARE_JETSTREAM_MAX_BYTES: byteSize.optional(),
  /**
   * HTTP sockets one client address may hold open (0: no cap). Behind a reverse proxy every client
   * shares the proxy's address: cap there, and raise or turn this off.
   */
  HTTP_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).max(1_000_000).default(256),
  /** HTTP sockets the service holds open in all (0: no cap); keep it under the file-descriptor limit. */
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(0).max(1_000_000).default(8_192),
} as const;

/**
 * `GATEWAY_STATE_DIR`, read by both gateways: a writable folder of this instance's own, kept
 * across restarts, where its security-event outbox keeps what it holds (`stateDir` of
 * `securityEventPublisher`), so that events held when the process crashed are sent at its next
 * start. One instance per folder: the service takes it first at start (`ServiceDefinition.stateDir`,
 * `lockStateFolder`), before it connects anywhere, and a second start on a folder whose holder runs
 * fails having connected to nothing. Unset: held in memory only, lost with the process.
 */
export const gatewayStateEnv = {
  GATEWAY_STATE_DIR: z.string().min(1).optional(),
} as const;

/**
 * Parses the environment with the service's one schema. On failure, throws a ConfigError whose
 * message lists every problem, one per line, by variable name.
 */
export function loadConfig<S extends z.ZodRawShape>(
  service: string,
  shape: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
  throw new ConfigError(service, problems);
}

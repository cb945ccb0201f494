import { readFileSync } from 'node:fs';
import { DEFAULT_NAMESPACE, NAMESPACE_PATTERN } from '@telecare/contracts';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { natsTlsAddress } from './nats.ts';
import { PostgresUrlError, parsePostgresUrl, postgresParams, SSL_FILES } from './postgres-url.ts';
import { readCaFile, TlsFileError, tlsCaFile } from './tls.ts';

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

/** `host:port`, a name or an address (IPv6 in brackets). */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/** A comma-separated list of `host:port` (Redis Sentinel's addresses). */
const hostPorts = z.string().transform((value, ctx) => {
  const parsed = value.split(',').map((one) => {
    const [, v6, host, portText] = HOST_PORT.exec(one.trim()) ?? [];
    const at = Number(portText);
    return (v6 ?? host) && at >= 1 && at <= 65535 ? { host: (v6 ?? host) as string, port: at } : undefined;
  });
  if (parsed.every((one) => one !== undefined)) return parsed;
  ctx.addIssue({
    code: 'custom',
    message: 'must be host:port, or a comma-separated list of them (26379 is Sentinel’s port)',
  });
  return z.NEVER;
});

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/** Environment names shared by every service (DESIGN §4, Configuration). */
export const commonEnv = {
  /**
   * `tls://` for TLS (required: a server that offers none is refused), verified against
   * TELECARE_TLS_CA; the servers of a list all one way.
   */
  NATS_URL: url(['nats:', 'tls:'], 'nats://127.0.0.1:4222')
    .refine(
      (value) =>
        new Set(value.split(',').map((one) => URL.parse(one.trim())?.protocol === 'tls:')).size === 1,
      'must name its servers all with tls: or all with nats: (one list, one way)',
    )
    .refine(
      (value) => !value.split(',').some((one) => natsTlsAddress(one.trim())),
      'must name a tls: server by its DNS name, not an IP address (nats.js would check the certificate against "localhost")',
    ),
  /**
   * With Sentinel (`REDIS_SENTINELS`), only its user, password, database and scheme are used.
   * `rediss:` is TLS to Redis and to the Sentinels alike, verified against TELECARE_TLS_CA.
   */
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379'),
  /**
   * Redis Sentinel's addresses: set, the client asks them for the primary of
   * `REDIS_SENTINEL_MASTER`, and again after a failover (`redisTarget`).
   */
  REDIS_SENTINELS: hostPorts.optional(),
  /** The master name the Sentinels monitor; set with `REDIS_SENTINELS`, and only with it. */
  REDIS_SENTINEL_MASTER: z.string().min(1, 'must be the master name the Sentinels monitor').optional(),
  /** The Sentinels' own password (`requirepass` of the Sentinels), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  MQTT_URL: url(['mqtt:', 'mqtts:', 'ws:', 'wss:'], 'mqtt://127.0.0.1:1883'),
  /**
   * One host, or several as libpq takes them (`postgresql://user@db1:5432,db2:5432/telecare?
   * target_session_attrs=read-write`): connections go to the first that takes them, passing over
   * read-only ones for `read-write` (`createPool`), so a failover needs no change here.
   */
  DATABASE_URL: z
    .string()
    .default('postgresql://postgres@127.0.0.1:5432/telecare')
    .superRefine((value, ctx) => {
      try {
        parsePostgresUrl(value);
        postgresFiles(value);
      } catch (err) {
        if (!(err instanceof PostgresUrlError) && !(err instanceof TlsFileError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    }),
  /**
   * The PEM file of the CA that signed the servers' certificates (a bundle may hold several): the
   * only one trusted for TLS to NATS (`tls://`), Redis and its Sentinels (`rediss://`), MQTT
   * (`mqtts://`, `wss://`) and PostgreSQL (`sslmode=verify-full`, unless DATABASE_URL names its
   * own `sslrootcert`). Unset: the public CAs Node trusts.
   */
  TELECARE_TLS_CA: tlsCaFile.optional(),
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

/** DATABASE_URL's TLS files, read: a CA that is a PEM certificate, a client certificate and key that can be read. */
function postgresFiles(url: string): void {
  const params = postgresParams(url);
  for (const name of SSL_FILES) {
    const file = params.get(name);
    if (file === null) continue;
    try {
      if (name === 'sslrootcert') readCaFile(file);
      else readFileSync(file);
    } catch (err) {
      const reason =
        err instanceof TlsFileError
          ? err.message
          : `cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`;
      throw new TlsFileError(`${name} ${reason}`, { cause: err });
    }
  }
}

/** Where Redis is: `REDIS_URL`, or the Sentinels that name its primary (see `createRedis`). */
export interface RedisTarget {
  readonly url: string;
  readonly sentinel?: RedisSentinel;
}

export interface RedisSentinel {
  readonly sentinels: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** The master name the Sentinels monitor. */
  readonly master: string;
  /** The Sentinels' own password. */
  readonly password?: string;
}

/** `createRedis`'s target from the settings (`commonEnv`). */
export function redisTarget(config: {
  readonly REDIS_URL: string;
  readonly REDIS_SENTINELS?: RedisSentinel['sentinels'] | undefined;
  readonly REDIS_SENTINEL_MASTER?: string | undefined;
  readonly REDIS_SENTINEL_PASSWORD?: string | undefined;
}): RedisTarget {
  const { REDIS_URL: url, REDIS_SENTINELS: sentinels, REDIS_SENTINEL_MASTER: master } = config;
  if (!sentinels || !master) return { url };
  const password = config.REDIS_SENTINEL_PASSWORD;
  return { url, sentinel: { sentinels, master, ...(password === undefined ? {} : { password }) } };
}

/** Settings that mean something only together: a problem for each one missing. */
function missingPartners(env: Record<string, string | undefined>): string[] {
  const problems: string[] = [];
  const sentinel = ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD'].some((key) => env[key] !== undefined);
  if (env.REDIS_SENTINELS !== undefined && env.REDIS_SENTINEL_MASTER === undefined)
    problems.push(
      'REDIS_SENTINEL_MASTER: must be set with REDIS_SENTINELS (the master name the Sentinels monitor)',
    );
  if (env.REDIS_SENTINELS === undefined && sentinel)
    problems.push('REDIS_SENTINELS: must be set where REDIS_SENTINEL_MASTER or REDIS_SENTINEL_PASSWORD is');
  return problems;
}

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
  const problems = [
    ...(result.success
      ? []
      : result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`)),
    ...('REDIS_SENTINELS' in shape ? missingPartners(env) : []),
  ];
  if (result.success && problems.length === 0) return result.data;
  throw new ConfigError(service, problems);
}

import { ConfigError, commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';
import { parseDataKey } from './crypto.ts';

export const registryEnv = {
  ...commonEnv,
  REGISTRY_PORT: port(7020),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /**
   * 32 bytes (64 hex digits or base64) for AES-256-GCM of key-safe information, medical summaries
   * and DC-09 keys. There is deliberately no default: unset, the registry runs but refuses to
   * store or reveal those fields (a generated key would lose them at the next restart, and a
   * well-known one would protect nothing).
   */
  REGISTRY_DATA_KEY: z
    .string()
    .optional()
    .refine(
      (value) => value === undefined || value === '' || parseDataKey(value) !== undefined,
      'must be 32 bytes as 64 hex digits or base64 (openssl rand -hex 32)',
    )
    .transform((value) => (value ? parseDataKey(value) : undefined)),
  /**
   * The Mosquitto dynamic-security admin, with its credentials: `mqtt://user:password@host:1883`.
   * Unset, devices get no broker credentials (a development broker that allows anonymous clients).
   */
  MQTT_ADMIN_URL: z
    .string()
    .optional()
    .refine((value) => {
      if (!value) return true;
      try {
        const url = new URL(value);
        return ['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol) && url.username !== '';
      } catch {
        return false;
      }
    }, 'must be a URL with scheme mqtt, mqtts, ws or wss and a user name: mqtt://admin:secret@host:1883'),
  /**
   * `refuse`: a DC-09 account must have a key (anyone who knows a keyless account's number can
   * speak for it in clear). `allow` is for development and tests with keyless test panels.
   */
  REGISTRY_DC09_KEYLESS: z.enum(['refuse', 'allow']).default('refuse'),
  /**
   * `refuse`: a DC-09 key another device holds (as its key, or as its previous key in its grace) is
   * not given to a second one: a key read out of one panel would be the key of every account that
   * shares it. `allow` takes one key for several devices.
   */
  REGISTRY_DC09_SHARED_KEY: z.enum(['refuse', 'allow']).default('refuse'),
  /**
   * How long a DC-09 key replaced by a key change is still accepted beside the new one (the panel is
   * re-keyed on site, later), in seconds; 0: never. A change may give its own (`dc09KeyGraceS`).
   */
  REGISTRY_DC09_KEY_GRACE_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .default(72 * 3600),
  /**
   * How often the registry takes previous DC-09 keys whose grace has ended out of their account
   * entries, in seconds (fractions allowed, for tests).
   */
  REGISTRY_DC09_KEY_SWEEP_S: z.coerce.number().min(0.05).max(3600).default(60),
  /**
   * How often the registry gives the broker back the secret PostgreSQL holds for devices whose
   * re-issue was neither confirmed nor put back (besides at start-up), in seconds (fractions
   * allowed, for tests).
   */
  REGISTRY_BROKER_REPAIR_S: z.coerce.number().min(0.05).max(3600).default(60),
  /**
   * How long the broker repair leaves a device to an issue of a secret that began sending it to the
   * broker (on any instance), and a device client or role with no row to a registration that may
   * still commit, in seconds: longer than an issue's broker commands can take (each is given 5 s).
   * An issue that waits longer before its first broker command is refused (the repair took its
   * token). Fractions allowed, for tests.
   */
  REGISTRY_BROKER_REPAIR_GRACE_S: z.coerce.number().min(0.05).max(3600).default(60),
  /**
   * How often, at most, the broker repair lists the broker's clients and roles to remove device
   * clients and roles no row holds (besides at start-up), in seconds: the list of a large fleet is
   * work for the broker. Fractions allowed, for tests.
   */
  REGISTRY_BROKER_SWEEP_S: z.coerce.number().min(0.05).max(86_400).default(3600),
  /**
   * Devices whose copies (device-map and DC-09 entries) an import publishes together after its
   * commit, a chunk: their entries read side by side, their rows in one statement, their writes
   * side by side; one device is in a chunk once, so its copies cannot overtake each other. 1
   * publishes one device after another.
   */
  REGISTRY_PUBLISH_WINDOW: z.coerce.number().int().min(1).max(1024).default(256),
  /**
   * Devices whose broker clients an import installs in one dynamic-security message (fewer when
   * their commands would pass the broker's packet size). 1 sends a device's commands one at a time.
   */
  REGISTRY_BROKER_BATCH: z.coerce.number().int().min(1).max(500).default(50),
  /**
   * The helpline's token for this registry (role `helpline-service`: reads residents, devices and
   * responders, reveals naming a case and the person on it). The stack generates one and gives the
   * same value to the helpline. Unset: only tokens made with `POST /api/tokens` are accepted.
   */
  HELPLINE_REGISTRY_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /**
   * The reports service's token for this registry (role `reports-service`: reads `GET /api/cohort`
   * only). Set the same value in both. Unset: a token of that role made with `POST /api/tokens`.
   */
  REPORTS_REGISTRY_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /** Reveals one person (or one token) may make in REGISTRY_REVEAL_WINDOW_S before 429. */
  REGISTRY_REVEAL_LIMIT: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Reveals one token may make for all the people it names together (the helpline's) in the window. */
  REGISTRY_REVEAL_TOKEN_LIMIT: z.coerce.number().int().min(1).max(100_000).default(600),
  REGISTRY_REVEAL_WINDOW_S: z.coerce.number().int().min(1).max(86_400).default(600),
  /** How long a test call waits for the device's event before it fails and test mode ends. */
  REGISTRY_TEST_TIMEOUT_S: z.coerce.number().int().min(1).max(3600).default(120),
  /**
   * Test calls one token may hold waiting at once (the admin token aside). A device in test mode
   * has its alarms routed away from the operators: a stolen installer token must not be able to
   * put a district's pendants there.
   */
  REGISTRY_TESTS_PER_TOKEN: z.coerce.number().int().min(1).max(10_000).default(10),
  /**
   * Idempotency-Keys one token may hold at once (each kept 24 h with its answer): a new key past
   * it is refused (429), so one token cannot fill the table without bound.
   */
  REGISTRY_IDEMPOTENCY_KEYS_PER_TOKEN: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** A short name for the registry's durable EVENTS consumer (health and test calls). */
  REGISTRY_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('registry-health'),
  /** A short name for the registry's durable DEADLETTER consumer (refusals naming a device). */
  REGISTRY_REFUSALS_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('registry-refusals'),
} as const;

export type RegistryConfig = z.infer<z.ZodObject<typeof registryEnv>>;

export function loadRegistryConfig(env: Record<string, string | undefined> = process.env): RegistryConfig {
  const config = loadConfig('registry', registryEnv, env);
  if (config.HELPLINE_REGISTRY_TOKEN && config.HELPLINE_REGISTRY_TOKEN === config.TELECARE_ADMIN_TOKEN)
    throw new ConfigError('registry', [
      'HELPLINE_REGISTRY_TOKEN: must not be the admin token (the helpline gets only the role it needs)',
    ]);
  const reports = config.REPORTS_REGISTRY_TOKEN;
  if (reports && (reports === config.TELECARE_ADMIN_TOKEN || reports === config.HELPLINE_REGISTRY_TOKEN))
    throw new ConfigError('registry', [
      'REPORTS_REGISTRY_TOKEN: must be neither the admin token nor the helpline token (each service gets only its role)',
    ]);
  return config;
}

import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { stackEnvFile } from './paths.ts';
import { baseUrlOf, portOf, services } from './services.ts';

export const serverDefaults = {
  NATS_URL: 'nats://127.0.0.1:4222',
  REDIS_URL: 'redis://127.0.0.1:6379',
  MQTT_URL: 'mqtt://127.0.0.1:1883',
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/telecare',
} as const;

export type EnvValues = Record<string, string>;

/** Reads KEY=value lines (optionally 'single-quoted'); comments and blank lines are skipped. */
export function readEnvFile(file: string): EnvValues {
  if (!existsSync(file)) return {};
  const values: EnvValues = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) continue;
    let value = match[2].trim();
    if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
      value = value.slice(1, -1).replaceAll("'\\''", "'");
    }
    values[match[1]] = value;
  }
  return values;
}

/** Writes KEY=value lines a shell can `source` and dotenv can read; quotes only when it must. */
export function writeEnvFile(file: string, values: EnvValues, header: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const lines = Object.entries(values).map(([key, value]) =>
    /^[A-Za-z0-9_@%+=:,./-]*$/.test(value) ? `${key}=${value}` : `${key}='${value.replaceAll("'", "'\\''")}'`,
  );
  // It holds the admin token and the console passwords: owner-only, a file already there too (a
  // mode given when writing applies only to a file that is made), before a byte is written.
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `# ${header}\n${lines.join('\n')}\n`);
  } finally {
    closeSync(fd);
  }
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,}$/;

/**
 * The admin token: TELECARE_ADMIN_TOKEN from the environment wins, then the one saved in
 * .data/stack.env (so browsers and scripts keep working across restarts), else a new one.
 */
function adminToken(saved: EnvValues): string {
  const fromEnv = process.env.TELECARE_ADMIN_TOKEN;
  if (fromEnv) {
    if (fromEnv.length < 16) throw new Error('TELECARE_ADMIN_TOKEN must be at least 16 characters');
    return fromEnv;
  }
  const reuse = saved.TELECARE_ADMIN_TOKEN;
  if (reuse && TOKEN_PATTERN.test(reuse)) return reuse;
  return randomBytes(32).toString('base64url');
}

/**
 * A service's own registry token (the helpline's, role `helpline-service`; the reports service's,
 * role `reports-service`): the registry and that service both read the variable, so one value in
 * .data/stack.env wires them. Never the admin token.
 */
function serviceRegistryToken(name: string, saved: EnvValues, admin: string): string {
  const fromEnv = process.env[name];
  if (fromEnv) {
    if (fromEnv.length < 24) throw new Error(`${name} must be at least 24 characters`);
    if (fromEnv === admin) throw new Error(`${name} must not be the admin token`);
    return fromEnv;
  }
  const reuse = saved[name];
  if (reuse && TOKEN_PATTERN.test(reuse) && reuse !== admin) return reuse;
  return randomBytes(32).toString('base64url');
}

/**
 * The registry's data key (AES-256-GCM for key-safe codes, medical summaries, DC-09 keys): from the
 * environment, else the one saved in .data/stack.env, else a new one saved there — losing it would
 * make the stored sensitive fields unreadable, so it is kept with the local data it protects.
 */
function registryDataKey(saved: EnvValues): string {
  return process.env.REGISTRY_DATA_KEY || saved.REGISTRY_DATA_KEY || randomBytes(32).toString('hex');
}

/**
 * The secret the reports service derives each analyst's pseudonym key from: kept, so the same
 * recipient gets the same pseudonyms in every export.
 */
function reportsPseudonymKey(saved: EnvValues): string {
  return process.env.REPORTS_PSEUDONYM_KEY || saved.REPORTS_PSEUDONYM_KEY || randomBytes(32).toString('hex');
}

/**
 * The passwords of the stack's own dynamic-security broker (infra/lib/broker.ts): the registry's
 * admin client and the gateway's. Kept in .data/stack.env with the state they belong to (`kept`
 * says the saved passwords are the ones .data/dynsec was made with), even while credentials are
 * off, so turning them on again finds the same broker state.
 */
function dynsecSecrets(saved: EnvValues): EnvValues {
  const admin = saved.MQTT_DYNSEC_ADMIN_PASSWORD;
  const gateway = saved.MQTT_DYNSEC_GATEWAY_PASSWORD;
  const kept = Boolean(admin && gateway && saved.MQTT_DYNSEC_STATE === 'kept');
  return {
    MQTT_DYNSEC_ADMIN_PASSWORD: kept && admin ? admin : randomBytes(16).toString('hex'),
    MQTT_DYNSEC_GATEWAY_PASSWORD: kept && gateway ? gateway : randomBytes(16).toString('hex'),
    ...(kept ? { MQTT_DYNSEC_STATE: 'kept' } : {}),
    ...(kept && saved.MQTT_DYNSEC_PORT ? { MQTT_DYNSEC_PORT: saved.MQTT_DYNSEC_PORT } : {}),
  };
}

/**
 * The broker found for devices: MQTT_URL from the environment, unless it is the stack's own
 * dynamic-security broker as .data/stack.env wrote it (a shell that sourced that file), which
 * infra/lib/broker.ts chooses again itself.
 */
function foundMqttUrl(saved: EnvValues): string {
  const fromEnv = process.env.MQTT_URL;
  if (!fromEnv || (saved.MQTT_DYNSEC_PORT && fromEnv === saved.MQTT_URL)) return serverDefaults.MQTT_URL;
  return fromEnv;
}

export const DEFAULT_ADMIN_EMAIL = 'admin@telecare.local';
export const DEFAULT_OPERATOR_EMAIL = 'operator@telecare.local';

/** A password people can type: 16 characters of base64url (96 bits). */
const newPassword = (): string => randomBytes(12).toString('base64url');

/**
 * The console sign-ins: the helpline's first admin (HELPLINE_ADMIN_EMAIL/PASSWORD, which the
 * helpline seeds at start-up) and a demo operator the stack and demo create through the API. The
 * environment wins, then .data/stack.env, else a new password. They are saved because the
 * helpline creates each user once and never changes its password: a new one on every start would
 * not open the console.
 */
function consoleLogins(saved: EnvValues): EnvValues {
  const env = process.env;
  const pick = (key: string, fallback: () => string) => env[key] || saved[key] || fallback();
  return {
    HELPLINE_ADMIN_EMAIL: pick('HELPLINE_ADMIN_EMAIL', () => DEFAULT_ADMIN_EMAIL),
    HELPLINE_ADMIN_PASSWORD: pick('HELPLINE_ADMIN_PASSWORD', newPassword),
    DEMO_OPERATOR_EMAIL: pick('DEMO_OPERATOR_EMAIL', () => DEFAULT_OPERATOR_EMAIL),
    DEMO_OPERATOR_PASSWORD: pick('DEMO_OPERATOR_PASSWORD', newPassword),
  };
}

/**
 * The reports' modelled what-if, on with illustrative assumptions so a newcomer sees every figure;
 * the dashboard labels them as configured, not measured. The environment (or stack.env) wins:
 * `REPORTS_MODELLED_SAVINGS=off` hides it, the other two set a commissioner's own assumptions.
 */
function modelledSavings(saved: EnvValues): EnvValues {
  const pick = (key: string, fallback: string) => process.env[key] || saved[key] || fallback;
  return {
    REPORTS_MODELLED_SAVINGS: pick('REPORTS_MODELLED_SAVINGS', 'on'),
    REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE: pick('REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE', '2'),
    REPORTS_COST_PER_BED_DAY: pick('REPORTS_COST_PER_BED_DAY', '400'),
  };
}

/** Everything the services, simulators and tests need to find the stack, in stack.env order. */
export function resolveStackEnv(): EnvValues {
  const env = process.env;
  const saved = readEnvFile(stackEnvFile);
  const admin = adminToken(saved);
  const values: EnvValues = {
    TELECARE_ADMIN_TOKEN: admin,
    HELPLINE_REGISTRY_TOKEN: serviceRegistryToken('HELPLINE_REGISTRY_TOKEN', saved, admin),
    REPORTS_REGISTRY_TOKEN: serviceRegistryToken('REPORTS_REGISTRY_TOKEN', saved, admin),
    HELPLINE_TRIAGE_TOKEN: serviceRegistryToken('HELPLINE_TRIAGE_TOKEN', saved, admin),
    REGISTRY_DATA_KEY: registryDataKey(saved),
    REPORTS_PSEUDONYM_KEY: reportsPseudonymKey(saved),
    ...modelledSavings(saved),
    ...consoleLogins(saved),
    ...dynsecSecrets(saved),
    NATS_URL: env.NATS_URL || serverDefaults.NATS_URL,
    REDIS_URL: env.REDIS_URL || serverDefaults.REDIS_URL,
    MQTT_URL: foundMqttUrl(saved),
    DATABASE_URL: env.DATABASE_URL || serverDefaults.DATABASE_URL,
    TELECARE_NAMESPACE: env.TELECARE_NAMESPACE || 'telecare',
  };
  for (const service of services) values[service.portEnv] = String(portOf(service));
  for (const service of services) {
    if (service.urlEnv) values[service.urlEnv] = baseUrlOf(service);
  }
  // The `telecare` CLI's own name for the registry, so `. .data/stack.env` is all it needs.
  if (values.REGISTRY_URL) values.TELECARE_REGISTRY_URL = values.REGISTRY_URL;
  return values;
}

export function saveStackEnv(values: EnvValues): void {
  writeEnvFile(
    stackEnvFile,
    values,
    'Written by infra/stack.ts / infra/demo.ts. `set -a; . .data/stack.env; set +a` to use it.',
  );
}

/** The environment a service or simulator process starts with. */
export function childEnv(values: EnvValues): NodeJS.ProcessEnv {
  return { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || 'info', ...values };
}

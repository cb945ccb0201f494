import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { names } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import {
  cleanupNamespace,
  type DynsecMosquitto,
  type FaultProxy,
  OwnPostgres,
  servers,
  serviceEnv,
  uniqueNamespace,
} from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A caller of the registry's API for a test: JSON in and out, the admin bearer token unless told
 * otherwise (`null`: no token). Both are read at each call: the registry starts in a hook.
 */
export function apiCaller(baseUrl: () => string, token: () => string) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    auth: string | null = token(),
  ): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (auth !== null) headers.authorization = `Bearer ${auth}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/**
 * A registry on a PostgreSQL of its own, for a file that stops or changes that server: started in
 * the file's `beforeAll`, closed and destroyed in its `afterAll`. Its handles (`own`) are set once
 * the hook ran; `call` is the API caller with the admin token.
 */
export function registryOnOwnPostgres(label: string) {
  const ns = uniqueNamespace(label);
  const own = {} as { postgres: OwnPostgres; registry: RegistryHandle; token: string };
  const call = apiCaller(
    () => own.registry.url,
    () => own.token,
  );
  beforeAll(async () => {
    own.postgres = await OwnPostgres.start();
    const env = serviceEnv(ns, {
      REGISTRY_PORT: '0',
      DATABASE_URL: own.postgres.url,
      REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
    });
    own.token = env.TELECARE_ADMIN_TOKEN as string;
    own.registry = await startRegistry(loadRegistryConfig(env), {
      logger: createLogger(`${label}-test`, process.env.TEST_LOG_LEVEL ?? 'silent'),
    });
  }, 120_000);
  afterAll(async () => {
    await own.registry?.close().catch(() => undefined);
    own.postgres?.destroy();
    await cleanupNamespace(ns);
  });
  return { own, call };
}

/** A registry's environment in namespace `ns`, reaching NATS through `proxy`, with a data key of its own. */
export const envBehind = (ns: string, proxy: FaultProxy) =>
  serviceEnv(ns, {
    REGISTRY_PORT: '0',
    NATS_URL: proxy.url('nats'),
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });

/** What a bucket holds for a key, read with its contract, or undefined when it holds none. */
export async function heldIn<T>(
  kv: { get(key: string): Promise<{ operation: string; json<V>(): V } | null> },
  key: string,
  schema: { parse(value: unknown): T },
): Promise<T | undefined> {
  const entry = await kv.get(key);
  return entry?.operation === 'PUT' ? schema.parse(entry.json()) : undefined;
}

/** An import of one resident (ref `<prefix>R`) and `count` pendants paired with them, `<prefix>0`… */
export const pairedPendants = (prefix: string, count: number) => ({
  residents: `ref,name,address,postcode\n${prefix}R,Many Pendants,1 Road,GL1 2AB\n`,
  devices: [
    'serial,kind,resident',
    ...Array.from({ length: count }, (_, i) => `${prefix}${i},pendant,${prefix}R`),
  ].join('\n'),
});

/** A DC-09 home unit's registration under `account`, with a key of the account's own (one key to one panel). */
export const dc09Panel = (serial: string, residentId: string, account: string) => ({
  serial,
  residentId,
  kind: 'home-unit',
  protocol: 'dc09',
  dc09Account: account,
  dc09Key: createHash('md5').update(account).digest('hex').toUpperCase(),
});

/**
 * The registry's migrations as they were before `file`, copied to a folder of their own (removed
 * by the caller): a schema migrated with them holds rows as the registry wrote them then.
 */
export function migrationsBefore(file: string): string {
  const all = fileURLToPath(new URL('../migrations', import.meta.url));
  const dir = mkdtempSync(path.join(tmpdir(), 'registry-migrations-'));
  for (const name of readdirSync(all).filter((f) => f < file))
    copyFileSync(path.join(all, name), path.join(dir, name));
  return dir;
}

/**
 * A device's login to the broker on `port`, under its own client id (its serial) unless told
 * otherwise: the connected client, or the broker's refusal.
 */
export function mqttLogin(
  port: number,
  username: string,
  password: string,
  clientId = username,
): Promise<MqttClient | Error> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      username,
      password,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      clientId,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      resolve(err);
    });
  });
}

/** Whether the broker on `port` admits the device's login (under its own client id). */
export async function brokerAdmits(port: number, username: string, password: string): Promise<boolean> {
  const client = await mqttLogin(port, username, password);
  if (client instanceof Error) return false;
  await client.endAsync();
  return true;
}

/** Rows of one statement on the test database (the registry's schemas included). */
export async function sql(text: string): Promise<unknown[]> {
  const db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  try {
    return (await db.query(text)).rows;
  } finally {
    await db.end();
  }
}

/**
 * A device's role made in the broker as the registry makes one (`device-<serial>`, allowing the
 * serial's topics under `topics`), and with `secret` its client holding it, with no row behind them.
 */
export function deviceLogin(
  broker: DynsecMosquitto,
  serial: string,
  topics: ReturnType<typeof names>['mqtt'],
  secret?: string,
): void {
  const role = `device-${serial}`;
  broker.ctrl('createRole', role);
  broker.ctrl('addRoleACL', role, 'publishClientSend', topics.events(serial), 'allow');
  broker.ctrl('addRoleACL', role, 'subscribePattern', topics.ack(serial), 'allow');
  if (secret === undefined) return;
  broker.ctrl('createClient', serial, '-p', secret, '-c', serial);
  broker.ctrl('addClientRole', serial, role);
}

/** The names of the roles the broker holds, as its dynamic security file records them. */
export function brokerRoles(broker: DynsecMosquitto): Set<string> {
  const saved = JSON.parse(readFileSync(path.join(broker.dir, 'dynsec.json'), 'utf8')) as {
    roles?: Array<{ rolename: string }>;
  };
  return new Set((saved.roles ?? []).map((role) => role.rolename));
}

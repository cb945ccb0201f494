import { createHash, randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { Dc09AccountEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, ManualClock, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

const ns = uniqueNamespace('regsweep');
const n = names(ns);
const env = serviceEnv(ns, {
  REGISTRY_PORT: '0',
  REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  REGISTRY_DC09_KEY_SWEEP_S: '0.1',
});
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);
const clock = new ManualClock(new Date('2026-01-05T09:00:00.000Z'));
/** A panel's `n`th key: its own (one key to one panel), 32 hex digits. */
const keyOf = (account: string, n: number) =>
  createHash('md5').update(`${account}:${n}`).digest('hex').toUpperCase();

let registry: RegistryHandle;
let second: RegistryHandle | undefined;
let nc: NatsConnection;
let accounts: KV;
let residentId: string;

const call = apiCaller(
  () => registry.url,
  () => token,
);

const accountEntry = async (account: string) => {
  const entry = await accounts.get(account);
  return entry?.operation === 'PUT' ? Dc09AccountEntry.parse(entry.json()) : undefined;
};

async function panel(serial: string, account: string): Promise<void> {
  const created = await call('POST', '/api/devices', {
    serial,
    residentId,
    kind: 'home-unit',
    protocol: 'dc09',
    dc09Account: account,
    dc09Key: keyOf(account, 1),
  });
  expect(created.status).toBe(201);
}

/** Changes the panel's key with a grace of `graceS` and waits for its entry to hold both keys. */
async function rekey(serial: string, account: string, key: string, graceS: number): Promise<void> {
  const changed = await call('PATCH', `/api/devices/${serial}`, { dc09Key: key, dc09KeyGraceS: graceS });
  expect(changed.status).toBe(200);
  await waitFor(async () => (await accountEntry(account))?.key === key, { what: `${account} re-keyed` });
}

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-key-sweep-test', logger });
  accounts = await openBucket(nc, n.kv.dc09Accounts);
  const resident = await call('POST', '/api/residents', {
    name: 'Sweep',
    address: '1 Way',
    postcode: 'GL1 2AB',
  });
  residentId = resident.body.id as string;
});

afterAll(async () => {
  await second?.close();
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('a previous DC-09 key whose grace has ended', () => {
  it('is taken out of the account entry, the current key kept, without waiting for a change', async () => {
    await panel('HUB-SWEEP1', 'A5E1');
    await rekey('HUB-SWEEP1', 'A5E1', keyOf('A5E1', 2), 60);
    expect((await accountEntry('A5E1'))?.previousKey).toMatchObject({ key: keyOf('A5E1', 1) });

    clock.advance(61_000);
    const swept = await waitFor(
      async () => {
        const entry = await accountEntry('A5E1');
        return entry && entry.previousKey === undefined ? entry : undefined;
      },
      { what: 'the previous key out of the entry', timeoutMs: 5_000 },
    );
    expect(swept.key).toBe(keyOf('A5E1', 2));
    // Forgotten in PostgreSQL too, just after the entry is written (what marks it done): the device
    // no longer says it has one.
    await waitFor(
      async () =>
        (await call('GET', '/api/devices/HUB-SWEEP1')).body.dc09PreviousKeyUntil === null ? true : undefined,
      { what: 'the previous key forgotten in PostgreSQL', timeoutMs: 5_000 },
    );
  });

  it('is swept while a later key change keeps its own grace', async () => {
    await panel('HUB-SWEEP2', 'A5E2');
    await rekey('HUB-SWEEP2', 'A5E2', keyOf('A5E2', 2), 30);
    clock.advance(31_000);
    // Changed again after the first grace ended: the key it replaces has a grace of its own.
    await rekey('HUB-SWEEP2', 'A5E2', keyOf('A5E2', 3), 600);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await accountEntry('A5E2'))?.previousKey).toMatchObject({ key: keyOf('A5E2', 2) });
    expect((await call('GET', '/api/devices/HUB-SWEEP2')).body.dc09PreviousKeyUntil).not.toBeNull();
  });

  it('is swept once by two registry instances, each finding the entry right', async () => {
    second = await startRegistry(loadRegistryConfig(env), { logger, clock });
    await panel('HUB-SWEEP3', 'A5E3');
    await rekey('HUB-SWEEP3', 'A5E3', keyOf('A5E3', 2), 10);
    clock.advance(11_000);
    await waitFor(async () => (await accountEntry('A5E3'))?.previousKey === undefined, {
      what: 'the previous key out of the entry',
      timeoutMs: 5_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const entry = await accountEntry('A5E3');
    expect(entry?.key).toBe(keyOf('A5E3', 2));
    expect(entry?.previousKey).toBeUndefined();
    for (const instance of [registry, second]) {
      const metrics = await (await fetch(`${instance.url}/metrics`)).text();
      expect(metrics).not.toMatch(/^registry_dc09_account_puts_total\{[^}]*outcome="failed"[^}]*\} [1-9]/m);
    }
  });
});

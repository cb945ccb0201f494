import { randomBytes } from 'node:crypto';
import { Dc09AccountEntry, names, ResidentAwayEntry } from '@telecare/contracts';
import { connectNats, createLogger, type KV, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  emptyFillers,
  fillBucket,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller, dc09Panel, heldIn } from './support.ts';

/**
 * The DC-09 accounts and the away periods are bounded by their parts of the store
 * (TELECARE_JETSTREAM_MAX_BYTES: 16 MB here) as the device map is. Full, either refuses the entry
 * a change makes: the change is saved and answered with a 507 of its own saying what the DC-09
 * gateway or triage goes on with meanwhile, the refusal is counted, a start-up with the bucket full
 * goes on, and the entry is written once the bucket has room, with no change or restart to make it.
 * A key the start-up sync finds no record for (left while the registry was down) and the full bucket
 * will not delete is deleted the same way once there is room, unless it is someone's again by then.
 */
const ns = uniqueNamespace('registry-copiesfull');
const n = names(ns);
const env = serviceEnv(ns, {
  REGISTRY_PORT: '0',
  TELECARE_JETSTREAM_MAX_BYTES: '16MB',
  REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
});
const config = loadRegistryConfig(env);
const logger = createLogger('registry-copiesfull-test', env.LOG_LEVEL);
let registry: RegistryHandle;
let nc: NatsConnection;

const call = apiCaller(
  () => registry.url,
  () => env.TELECARE_ADMIN_TOKEN!,
);

beforeAll(async () => {
  registry = await startRegistry(config, { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-copiesfull-test', logger });
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

/** A sample of the registry's metrics, of the series with `label` (0 when there is none). */
async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${registry.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Whether the bucket's history of `key` holds a delete (or purge). */
async function everDeleted(kv: KV, key: string): Promise<boolean> {
  for await (const entry of await kv.history({ key })) if (entry.operation !== 'PUT') return true;
  return false;
}

const resident = async (name: string): Promise<string> => {
  const created = await call('POST', '/api/residents', {
    name,
    address: '2 High Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000001',
    livesAlone: true,
  });
  expect(created.status).toBe(201);
  return created.body.id as string;
};

describe('full DC-09 accounts and away-periods buckets', { timeout: 120_000 }, () => {
  it('a DC-09 panel its bucket cannot hold is answered 507 dc09-accounts-full, a start-up goes on, and the entry is written once there is room', async () => {
    const residentId = await resident('Dee Full');
    await fillBucket(nc, n.kv.dc09Accounts);

    const created = await call('POST', '/api/devices', dc09Panel('HUB-DC09FULL', residentId, 'ACF001'));
    expect(created.status, JSON.stringify(created.body)).toBe(507);
    expect(created.body).toMatchObject({
      error: 'dc09-accounts-full',
      serial: 'HUB-DC09FULL',
      account: 'ACF001',
      saved: true,
    });
    expect(String(created.body.message)).toMatch(
      /saved.*DC-09 accounts.*full.*DC-09 gateway.*TELECARE_JETSTREAM_MAX_BYTES/,
    );
    expect((await call('GET', '/api/devices/HUB-DC09FULL')).status).toBe(200);
    expect(await metric('registry_dc09_account_puts_total', 'outcome="full"')).toBeGreaterThan(0);

    // A start-up with the bucket still full goes on; the entry is left to the retries.
    await registry.close();
    registry = await startRegistry(config, { logger });
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    expect(await heldIn(accounts, 'ACF001', Dc09AccountEntry)).toBeUndefined();

    await emptyFillers(nc, n.kv.dc09Accounts);
    const entry = await waitFor(() => heldIn(accounts, 'ACF001', Dc09AccountEntry), { timeoutMs: 60_000 });
    expect(entry).toMatchObject({ serial: 'HUB-DC09FULL', residentId });
  });

  it('an away period its bucket cannot hold is answered 507 away-periods-full, a start-up goes on, and the entry is written once there is room', async () => {
    const residentId = await resident('Ada Away');
    await fillBucket(nc, n.kv.residentAway);

    const from = new Date(Date.now() - 60_000).toISOString();
    const declared = await call('POST', `/api/residents/${residentId}/away`, { from, reason: 'hospital' });
    expect(declared.status, JSON.stringify(declared.body)).toBe(507);
    expect(declared.body).toMatchObject({ error: 'away-periods-full', residentId, saved: true });
    expect(String(declared.body.message)).toMatch(
      /saved.*away periods.*full.*triage.*TELECARE_JETSTREAM_MAX_BYTES/,
    );
    const listed = await call('GET', `/api/residents/${residentId}/away`);
    expect(listed.body.away).toHaveLength(1);
    expect(await metric('registry_away_puts_total', 'outcome="full"')).toBeGreaterThan(0);

    await registry.close();
    registry = await startRegistry(config, { logger });
    const away = await openBucket(nc, n.kv.residentAway);
    expect(await heldIn(away, residentId, ResidentAwayEntry)).toBeUndefined();

    await emptyFillers(nc, n.kv.residentAway);
    const entry = await waitFor(() => heldIn(away, residentId, ResidentAwayEntry), { timeoutMs: 60_000 });
    expect(entry.periods).toHaveLength(1);
  });

  it('a DC-09 account left in the full bucket while the registry was down is deleted once there is room, with no restart, unless a panel has taken it meanwhile', async () => {
    const residentId = await resident('Lee Leftover');
    await registry.close();
    // Left by panels decommissioned while the registry was down: no device holds these accounts.
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    for (const [account, serial] of [
      ['AC1001', 'HUB-GONE1'],
      ['AC1002', 'HUB-GONE2'],
    ] as const)
      await accounts.put(account, JSON.stringify({ account, serial }));
    await fillBucket(nc, n.kv.dc09Accounts);
    registry = await startRegistry(config, { logger });
    expect((await accounts.get('AC1001'))?.operation).toBe('PUT');
    const deleted = await metric('registry_dc09_account_puts_total', 'outcome="deleted"');

    // A new panel takes one of the accounts while the bucket is still full.
    const created = await call('POST', '/api/devices', dc09Panel('HUB-DC09TAKER', residentId, 'AC1002'));
    expect(created.status, JSON.stringify(created.body)).toBe(507);

    await emptyFillers(nc, n.kv.dc09Accounts);
    await waitFor(async () => (await accounts.get('AC1001'))?.operation !== 'PUT' || undefined, {
      timeoutMs: 60_000,
      what: 'the leftover account deleted',
    });
    const taken = await waitFor(() => heldIn(accounts, 'AC1002', Dc09AccountEntry), { timeoutMs: 60_000 });
    expect(taken).toMatchObject({ serial: 'HUB-DC09TAKER', residentId });
    // Replaced by the panel's entry, never deleted under it (its frames would be refused meanwhile).
    expect(await everDeleted(accounts, 'AC1002')).toBe(false);
    expect(await metric('registry_dc09_account_puts_total', 'outcome="deleted"')).toBeGreaterThan(deleted);
  });

  it('an away key left in the full bucket for a resident with no period any more is deleted once there is room, with no restart, unless they are away again by then', async () => {
    const home = await resident('Hal Home');
    const again = await resident('Ava Again');
    await registry.close();
    // Periods cancelled while the registry was down: neither resident has one now.
    const away = await openBucket(nc, n.kv.residentAway);
    const stale = (residentId: string) =>
      JSON.stringify({
        residentId,
        periods: [
          {
            id: `awy_${residentId}`,
            from: new Date(Date.now() - 3_600_000).toISOString(),
            reason: 'hospital',
          },
        ],
        updatedAt: new Date().toISOString(),
      });
    await away.put(home, stale(home));
    await away.put(again, stale(again));
    await fillBucket(nc, n.kv.residentAway);
    registry = await startRegistry(config, { logger });
    expect(await heldIn(away, home, ResidentAwayEntry)).toBeDefined();
    const deleted = await metric('registry_away_puts_total', 'outcome="deleted"');

    // One of them is away again while the bucket is still full.
    const from = new Date(Date.now() - 60_000).toISOString();
    const declared = await call('POST', `/api/residents/${again}/away`, { from, reason: 'respite' });
    expect(declared.status, JSON.stringify(declared.body)).toBe(507);

    await emptyFillers(nc, n.kv.residentAway);
    await waitFor(async () => (await away.get(home))?.operation !== 'PUT' || undefined, {
      timeoutMs: 60_000,
      what: 'the leftover away key deleted',
    });
    const entry = await waitFor(
      async () => {
        const held = await heldIn(away, again, ResidentAwayEntry);
        return held?.periods[0]?.reason === 'respite' ? held : undefined;
      },
      { timeoutMs: 60_000, what: "the resident's new period" },
    );
    expect(entry.periods).toHaveLength(1);
    // Never deleted on the way: triage would have let their checks go for that moment.
    expect(await everDeleted(away, again)).toBe(false);
    expect(await metric('registry_away_puts_total', 'outcome="deleted"')).toBeGreaterThan(deleted);
  });
});

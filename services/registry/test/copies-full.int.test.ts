import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Dc09AccountEntry, names, ResidentAwayEntry } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
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
import { apiCaller, dc09Panel, heldIn } from './support.ts';

/**
 * The DC-09 accounts and the away periods are bounded by their parts of the store
 * (TELECARE_JETSTREAM_MAX_BYTES: 16 MB here) as the device map is. Full, either refuses the entry
 * a change makes: the change is saved and answered with a 507 of its own saying what the DC-09
 * gateway or triage goes on with meanwhile, the refusal is counted, a start-up with the bucket full
 * goes on, and the entry is written once the bucket has room, with no change or restart to make it.
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

/** Fills the bucket to its last byte (large fillers, then ever smaller). */
async function fill(bucket: string): Promise<void> {
  const kv = await openBucket(nc, bucket);
  for (let size = 1_000, count = 0; size >= 0; size = size === 0 ? -1 : Math.floor(size / 10)) {
    for (;;) {
      try {
        await kv.put(`FILLER.${count}`, 'f'.repeat(size));
        count++;
      } catch (err) {
        if (/maximum bytes/.test(String(err))) break;
        throw err;
      }
      if (count > 10_000) throw new Error(`${bucket} took 10,000 writes and is still not full`);
    }
  }
}

/** Gives the bucket its room back: the fillers purged (a purge of the stream, not a write to it). */
async function makeRoom(bucket: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.FILLER.>` });
}

/** A sample of the registry's metrics, of the series with `label` (0 when there is none). */
async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${registry.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
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
    await fill(n.kv.dc09Accounts);

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

    await makeRoom(n.kv.dc09Accounts);
    const entry = await waitFor(() => heldIn(accounts, 'ACF001', Dc09AccountEntry), { timeoutMs: 60_000 });
    expect(entry).toMatchObject({ serial: 'HUB-DC09FULL', residentId });
  });

  it('an away period its bucket cannot hold is answered 507 away-periods-full, a start-up goes on, and the entry is written once there is room', async () => {
    const residentId = await resident('Ada Away');
    await fill(n.kv.residentAway);

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

    await makeRoom(n.kv.residentAway);
    const entry = await waitFor(() => heldIn(away, residentId, ResidentAwayEntry), { timeoutMs: 60_000 });
    expect(entry.periods).toHaveLength(1);
  });
});

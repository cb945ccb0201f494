import { randomBytes } from 'node:crypto';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

// Who read whose name, address and phone number: every read of a resident's record, call list
// or away notes is logged with the calling token and the residents' ids, and no log line carries
// the personal data itself.
const ns = uniqueNamespace('regaccess');
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const adminToken = env.TELECARE_ADMIN_TOKEN as string;

const lines: string[] = [];
const logger = createLogger('regaccess-test', 'info', { write: (line: string) => void lines.push(line) });
const logged = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

let registry: RegistryHandle;
let installer: string;
let installerId: string;
const call = apiCaller(
  () => registry.url,
  () => installer,
);

const PERSON = {
  externalRef: 'ACC-1',
  name: 'Winifred Accesslog',
  address: '17 Quayside Lane, Gloucester',
  postcode: 'GL1 2AB',
  phone: '01452 777123',
  keySafe: '4321',
};
const RESPONDER = { name: 'Bartholomew Accesslog', relationship: 'nephew', phone: '07700 900456' };
const NOTE = 'at her sister Philippa, 01632 960999';

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  const made = await apiCaller(
    () => registry.url,
    () => adminToken,
  )('POST', '/api/tokens', { name: 'installer one', role: 'installer' });
  installer = made.body.token as string;
  installerId = made.body.id as string;
});

afterAll(async () => {
  await registry?.close();
  await cleanupNamespace(ns);
});

describe('reads of personal data', () => {
  let residentId: string;

  beforeAll(async () => {
    const created = await call('POST', '/api/residents', PERSON);
    expect(created.status).toBe(201);
    residentId = created.body.id as string;
    expect((await call('POST', `/api/residents/${residentId}/responders`, RESPONDER)).status).toBe(201);
    expect(
      (
        await call('POST', `/api/residents/${residentId}/away`, {
          from: '2026-12-01T09:00:00Z',
          reason: 'respite',
          note: NOTE,
        })
      ).status,
    ).toBe(201);
    // Refusals that name what was sent: a duplicate reference, a bad postcode.
    expect((await call('POST', '/api/residents', PERSON)).status).toBe(409);
    expect(
      (await call('POST', '/api/residents', { ...PERSON, externalRef: null, postcode: 'XX' })).status,
    ).toBe(400);
  });

  it('logs each read with the calling token and the ids of the residents it showed', async () => {
    const from = lines.length;
    expect((await call('GET', '/api/residents?name=accesslog')).status).toBe(200);
    expect((await call('GET', `/api/residents/${residentId}`)).status).toBe(200);
    expect((await call('GET', `/api/residents/${residentId}/responders`)).status).toBe(200);
    expect((await call('GET', `/api/residents/${residentId}/away`)).status).toBe(200);
    expect((await call('PATCH', `/api/residents/${residentId}`, { livesAlone: true })).status).toBe(200);
    const reads = logged()
      .slice(from)
      .filter((entry) => entry.event === 'personal-data-read');
    expect(reads.map((r) => r.what)).toEqual(['residents', 'resident', 'responders', 'away', 'resident']);
    for (const read of reads)
      expect(read).toMatchObject({ principal: installerId, role: 'installer', residentIds: [residentId] });
  });

  it('carries no name, address, phone number, key-safe code or note in any log line', () => {
    expect(lines.length).toBeGreaterThan(5);
    const text = lines.join('\n');
    for (const secret of [
      PERSON.name,
      PERSON.address,
      PERSON.phone,
      PERSON.keySafe,
      RESPONDER.name,
      RESPONDER.phone,
      NOTE,
      'Winifred',
      'Quayside',
      'Philippa',
    ])
      expect(text, secret).not.toContain(secret);
  });
});

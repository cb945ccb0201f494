import { DYNSEC_PLUGIN } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryBehindProxy, startRegistryBehindProxy } from './behind-proxy.ts';

// The registry drives the broker through a proxy that can lose one of the broker's answers on its
// way back: the broker did what it was told, and the registry never hears so.

let setup: RegistryBehindProxy;
const call: RegistryBehindProxy['call'] = (...args) => setup.call(...args);
const admits = (username: string, password: string) => setup.admits(username, password);

beforeAll(async () => {
  if (DYNSEC_PLUGIN) setup = await startRegistryBehindProxy('regreissue');
});

afterAll(async () => {
  await setup?.close();
});

describe.skipIf(!DYNSEC_PLUGIN)('a new secret whose broker answer is lost', () => {
  let residentId: string;

  const pendant = async (serial: string): Promise<string> => {
    if (!residentId) {
      const made = await call('POST', '/api/residents', {
        name: 'Door Step',
        address: '1 Road',
        postcode: 'GL1 2AB',
      });
      residentId = made.body.id as string;
    }
    const created = await call('POST', '/api/devices', { serial, residentId, kind: 'pendant' });
    expect(created.status).toBe(201);
    return (created.body.credentials as { secret: string }).secret;
  };

  it('re-issue: answered 503 and the device keeps the secret it has; issuing again then works', async () => {
    const old = await pendant('PND-REISSUE1');
    const before = await call('GET', '/api/devices/PND-REISSUE1');

    const lost = setup.proxy.dropNext('answer', 'setClientPassword');
    const issued = await call('POST', '/api/devices/PND-REISSUE1/credentials');
    await lost;
    expect(issued.status, JSON.stringify(issued.body)).toBe(503);
    expect(issued.body.credentials).toBeUndefined();
    expect(issued.body.message).toMatch(/the device keeps the one it had; try again/);
    // Nobody was shown a new secret, so the broker must still take the one the device holds: it
    // used to hold the new one, and the pendant at the door was shut out until issued again.
    expect(await admits('PND-REISSUE1', old)).toBe(true);
    const after = await call('GET', '/api/devices/PND-REISSUE1');
    expect(after.body.credentialIssuedAt).toBe(before.body.credentialIssuedAt);

    const again = await call('POST', '/api/devices/PND-REISSUE1/credentials');
    expect(again.status).toBe(201);
    const fresh = (again.body.credentials as { secret: string }).secret;
    expect(await admits('PND-REISSUE1', fresh)).toBe(true);
    expect(await admits('PND-REISSUE1', old)).toBe(false);
  }, 60_000);

  it('a move to another home: answered 503, the device stays where it was with the secret it has', async () => {
    const old = await pendant('PND-REISSUE2');
    const other = await call('POST', '/api/residents', {
      name: 'Next Door',
      address: '2 Road',
      postcode: 'GL1 2AB',
    });

    const lost = setup.proxy.dropNext('answer', 'setClientPassword');
    const moved = await call('PATCH', '/api/devices/PND-REISSUE2', { residentId: other.body.id });
    await lost;
    expect(moved.status, JSON.stringify(moved.body)).toBe(503);
    expect((await call('GET', '/api/devices/PND-REISSUE2')).body.residentId).toBe(residentId);
    expect(await admits('PND-REISSUE2', old)).toBe(true);
  }, 60_000);
});

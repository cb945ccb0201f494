import { names } from '@telecare/contracts';
import { connectNats, createLogger } from '@telecare/platform';
import { openBucket, servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: a stolen installer token puts every pendant it can find in test mode. A device in
// test mode has its alarms routed to the installer, not the operators' queue (DESIGN §5), for up
// to an hour a test call, and a test call can be started again as soon as one ends: one token could
// keep a whole district's presses away from the helpline. An installer tests the devices of the
// home they stand in; a token now holds a bounded number of test calls waiting at once.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('sectests', { REGISTRY_TESTS_PER_TOKEN: '3' });
});

afterAll(async () => {
  await p?.close();
});

describe('test calls one token holds at once', () => {
  it('are bounded: past the bound 429, the device left in service; another token is not held back', async () => {
    const installer = await p.registryToken('installer');
    const residentId = await p.resident('Many Devices', '1111');
    const serials = Array.from({ length: 5 }, (_, i) => `PND-TMF-${i}`);
    for (const serial of serials) {
      const made = await p.registryCall('POST', '/api/devices', {
        as: installer,
        body: { serial, residentId, kind: 'pendant' },
      });
      expect(made.status, JSON.stringify(made.json)).toBe(201);
    }
    const start = (serial: string, as: string) =>
      p.registryCall('POST', `/api/devices/${serial}/test`, { as, body: { timeoutS: 3600 } });

    const statuses: number[] = [];
    for (const serial of serials.slice(0, 4)) statuses.push((await start(serial, installer)).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    const refused = await start(serials[3]!, installer);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(refused.json.message).toMatch(/3 test calls/);
    // The refused device stays in service: its presses still reach the operators.
    expect((await p.registryCall('GET', `/api/devices/${serials[3]}`)).json).toMatchObject({
      state: 'installed',
      testMode: false,
    });

    // One ended frees a place; a colleague's token has places of its own.
    expect(
      (await p.registryCall('DELETE', `/api/devices/${serials[0]}/test`, { as: installer })).status,
    ).toBe(200);
    expect((await start(serials[3]!, installer)).status).toBe(201);
    const colleague = await p.registryToken('installer');
    expect((await start(serials[4]!, colleague)).status).toBe(201);
  });

  it("are ended when the token is revoked: its devices back in service at once, not at the hour's end", async () => {
    // Found out, the stolen token is revoked; the pendants it put in test mode must not stay there.
    const made = await p.registryCall('POST', '/api/tokens', { body: { name: 'stolen', role: 'installer' } });
    expect(made.status).toBe(201);
    const stolen = made.json.token as string;
    const residentId = await p.resident('Held Devices', '2222');
    const serials = ['PND-TMF-R0', 'PND-TMF-R1'];
    for (const serial of serials) {
      expect(
        (await p.registryCall('POST', '/api/devices', { body: { serial, residentId, kind: 'pendant' } }))
          .status,
      ).toBe(201);
      const started = await p.registryCall('POST', `/api/devices/${serial}/test`, {
        as: stolen,
        body: { timeoutS: 3600 },
      });
      expect(started.status).toBe(201);
    }
    // A test call the admin started on the same home is not the stolen token's, and runs on.
    expect(
      (
        await p.registryCall('POST', '/api/devices', {
          body: { serial: 'PND-TMF-R2', residentId, kind: 'pendant' },
        })
      ).status,
    ).toBe(201);
    expect(
      (await p.registryCall('POST', '/api/devices/PND-TMF-R2/test', { body: { timeoutS: 3600 } })).status,
    ).toBe(201);

    expect((await p.registryCall('DELETE', `/api/tokens/${made.json.id}`)).status).toBe(200);
    expect((await p.registryCall('GET', '/api/devices', { as: stolen })).status).toBe(401);
    for (const serial of serials) {
      expect((await p.registryCall('GET', `/api/devices/${serial}`)).json).toMatchObject({
        state: 'installed',
        testMode: false,
      });
      expect((await p.registryCall('GET', `/api/devices/${serial}/test`)).json).toMatchObject({
        status: 'cancelled',
        reason: 'token revoked',
      });
    }
    // In the device map too, which the gateways and triage route the presses by.
    const logger = createLogger('test-mode-flood-test', 'silent');
    const nc = await connectNats({ url: servers.natsUrl, name: 'test-mode-flood-test', logger });
    try {
      const map = await openBucket(nc, names(p.ns).kv.deviceMap);
      for (const serial of serials) {
        await waitFor(async () => (await map.get(serial))?.json<{ testMode: boolean }>().testMode === false, {
          what: `${serial} out of test mode in the device map`,
        });
      }
    } finally {
      await nc.close();
    }
    expect((await p.registryCall('GET', '/api/devices/PND-TMF-R2')).json).toMatchObject({
      state: 'test',
      testMode: true,
    });
  });
});

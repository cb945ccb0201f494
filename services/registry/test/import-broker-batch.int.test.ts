import { names } from '@telecare/contracts';
import { DYNSEC_PLUGIN } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryBehindProxy, startRegistryBehindProxy } from './behind-proxy.ts';
import { brokerRoles, deviceLogin, pairedPendants, sql } from './support.ts';

// An import installs its devices' broker logins several to a broker message before its commit:
// each device admitted with its own secret, and what is left when the broker fails midway.

describe.skipIf(!DYNSEC_PLUGIN)("an import's broker logins, several devices to a message", () => {
  let setup: RegistryBehindProxy;
  const call: RegistryBehindProxy['call'] = (...args) => setup.call(...args);

  beforeAll(async () => {
    if (!DYNSEC_PLUGIN) return;
    setup = await startRegistryBehindProxy('regimpbatch', { REGISTRY_BROKER_BATCH: '10' });
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('each device is admitted with its own secret; one whose client an uncommitted import left is given the new one', async () => {
    deviceLogin(setup.broker, 'PND-B7', names(setup.ns).mqtt, 'secret-nobody-was-shown');
    const imported = await call('POST', '/api/import', pairedPendants('PND-B', 25));
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const issued = imported.body.credentials as Array<{ serial: string; secret: string }>;
    expect(issued).toHaveLength(25);
    for (const { serial, secret } of issued) expect(await setup.admits(serial, secret), serial).toBe(true);
    expect(await setup.admits('PND-B7', 'secret-nobody-was-shown')).toBe(false);
  }, 60_000);

  it("the broker's answer lost midway: nothing is committed and no device's role or client is left", async () => {
    // The second message (PND-C10 to PND-C19) is lost on its way, after the first was installed.
    const lost = setup.proxy.dropNext('command', 'PND-C15');
    const imported = await call('POST', '/api/import', pairedPendants('PND-C', 25));
    await lost;
    expect(imported.status, JSON.stringify(imported.body)).toBe(503);
    expect(imported.body.credentials).toBeUndefined();
    expect(
      await sql(
        `select serial from ${names(setup.ns).schema('registry')}.devices where serial like 'PND-C%'`,
      ),
    ).toEqual([]);
    const roles = brokerRoles(setup.broker);
    expect([...roles].filter((role) => role.startsWith('device-PND-C'))).toEqual([]);
  }, 60_000);
});

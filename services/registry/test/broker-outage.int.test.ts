import { names } from '@telecare/contracts';
import { DYNSEC_PLUGIN, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryBehindProxy, startRegistryBehindProxy } from './behind-proxy.ts';
import { sql } from './support.ts';

// A re-issue the broker does not confirm, and then a broker that goes away (or a link that is
// lost) before the registry has put the device's secret back. The registry drives a Mosquitto of
// this file's own through a proxy that can lose one packet, or cut the link, on the way.

let setup: RegistryBehindProxy;
let residentId: string;
const call: RegistryBehindProxy['call'] = (...args) => setup.call(...args);
const admits = (username: string, password: string) => setup.admits(username, password);

/** A sample of the registry's metrics, of the series with `label` if given (0 when there is none). */
async function metric(name: string, label = ''): Promise<number> {
  const text = await (await fetch(`${setup.registry.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const schema = () => names(setup.ns).schema('registry');

const pendant = async (serial: string): Promise<string> => {
  const created = await call('POST', '/api/devices', { serial, residentId, kind: 'pendant' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return (created.body.credentials as { secret: string }).secret;
};

beforeAll(async () => {
  if (!DYNSEC_PLUGIN) return;
  setup = await startRegistryBehindProxy('regoutage', { REGISTRY_BROKER_REPAIR_S: '0.2' });
  const made = await call('POST', '/api/residents', {
    name: 'Door Step',
    address: '1 Road',
    postcode: 'GL1 2AB',
  });
  residentId = made.body.id as string;
});

afterAll(async () => {
  await setup?.close();
});

describe.skipIf(!DYNSEC_PLUGIN)('a broker that goes away during a re-issue', () => {
  it('the secret it could not put back is put back once the broker is up again, without a new issue', async () => {
    const old = await pendant('PND-OUTAGE1');

    // The broker takes the new password, its answer is lost, and it goes down before the
    // registry can give the old one back.
    const lost = setup.proxy.dropNext('answer', 'setClientPassword');
    const issuing = call('POST', '/api/devices/PND-OUTAGE1/credentials');
    await lost;
    await setup.broker.kill();
    try {
      const issued = await issuing;
      expect(issued.status, JSON.stringify(issued.body)).toBe(503);
      expect(issued.body.credentials).toBeUndefined();
      expect(issued.body.message).toMatch(/may be refused until the broker answers again/);
      expect(await metric('registry_broker_unconfirmed_devices')).toBe(1);
    } finally {
      await setup.broker.start();
    }
    // The broker came back holding a secret nobody was shown: it used to refuse the device until
    // someone issued it a secret again.
    await waitFor(() => admits('PND-OUTAGE1', old), {
      what: 'the broker to take the secret the device holds again',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    await waitFor(async () => (await metric('registry_broker_unconfirmed_devices')) === 0, {
      what: 'no device awaiting repair',
    });
    expect(await metric('registry_broker_repairs_total', 'outcome="secret-restored"')).toBe(1);
    expect(
      await sql(
        `select outcome, unconfirmed_since < repaired_at as ordered from ${schema()}.broker_repairs
          where serial = 'PND-OUTAGE1'`,
      ),
    ).toEqual([{ outcome: 'secret-restored', ordered: true }]);
  }, 90_000);

  it('a password change lost with the link is not sent again once the registry has put the old secret back', async () => {
    const old = await pendant('PND-OUTAGE2');

    // The command never reaches the broker: the registry gives up on it and puts the old secret
    // back (the link still up), and the installer is told to try again.
    const lost = setup.proxy.dropNext('command', 'setClientPassword');
    const issued = await call('POST', '/api/devices/PND-OUTAGE2/credentials');
    await lost;
    expect(issued.status, JSON.stringify(issued.body)).toBe(503);
    expect(issued.body.message).toMatch(/the device keeps the one it had; try again/);
    expect(await admits('PND-OUTAGE2', old)).toBe(true);

    // The link is lost and comes back. The MQTT client library used to send the unanswered
    // command again on reconnecting, and the broker then took the secret nobody was shown.
    setup.proxy.cut();
    await waitFor(
      async () =>
        (await call('POST', '/api/devices', { serial: 'PND-OUTAGE3', residentId, kind: 'pendant' }))
          .status === 201,
      { what: 'a registration through the broker after the reconnect', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(await admits('PND-OUTAGE2', old)).toBe(true);
  }, 90_000);

  it('a secret without a sealed copy: the device is shown awaiting repair until a secret is issued', async () => {
    await pendant('PND-OUTAGE4');
    // Issued before a data key was set: the registry cannot give the broker this secret again.
    await sql(`update ${schema()}.devices set credential_enc = null where serial = 'PND-OUTAGE4'`);

    const lost = setup.proxy.dropNext('answer', 'setClientPassword');
    const issued = await call('POST', '/api/devices/PND-OUTAGE4/credentials');
    await lost;
    expect(issued.status, JSON.stringify(issued.body)).toBe(503);
    expect(issued.body.message).toMatch(/may be refused until a new secret is issued/);
    expect(await metric('registry_broker_unconfirmed_devices')).toBe(1);

    const again = await call('POST', '/api/devices/PND-OUTAGE4/credentials');
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(await admits('PND-OUTAGE4', (again.body.credentials as { secret: string }).secret)).toBe(true);
    expect(await metric('registry_broker_unconfirmed_devices')).toBe(0);
  }, 60_000);

  it('a device another registry is issuing a secret to is left to that issue until the grace has passed', async () => {
    const old = await pendant('PND-OUTAGE5');
    const witness = await pendant('PND-OUTAGE6');
    // Another registry's issue in flight: its token recorded as it records it, the broker already
    // given the new secret, the commit still to come (the grace here is the default 60 s).
    await sql(`insert into ${schema()}.broker_issues (serial, began_at) values ('PND-OUTAGE5', now())`);
    setup.broker.ctrl('setClientPassword', 'PND-OUTAGE5', 'new-secret-in-flight');
    // A device awaiting repair with no issue in flight: once it is repaired, a pass has run since.
    await sql(`update ${schema()}.devices set broker_unconfirmed_since = now() where serial = 'PND-OUTAGE6'`);
    await waitFor(
      async () =>
        (await sql(`select 1 from ${schema()}.broker_repairs where serial = 'PND-OUTAGE6'`)).length === 1,
      { what: 'a repair pass', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(await admits('PND-OUTAGE6', witness)).toBe(true);
    expect(await admits('PND-OUTAGE5', 'new-secret-in-flight')).toBe(true);
    expect(await sql(`select 1 from ${schema()}.broker_repairs where serial = 'PND-OUTAGE5'`)).toEqual([]);
    expect(await metric('registry_broker_unconfirmed_devices')).toBe(0);

    // That registry died before its commit: past the grace, the secret the row holds goes back.
    await sql(
      `update ${schema()}.broker_issues set started_at = now() - interval '61 seconds'
        where serial = 'PND-OUTAGE5'`,
    );
    await waitFor(() => admits('PND-OUTAGE5', old), {
      what: 'the secret the row holds given back',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  }, 60_000);
});

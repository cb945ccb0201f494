import { createHash, randomBytes } from 'node:crypto';
import { Dc09Dialler, DialFailedError } from '@telecare/simulators';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { registryApi } from '../support/registry.ts';

// An installer changes a panel's DC-09 key in the registry, then drives out to re-program the panel.
// Meanwhile the panel still sends with the old key: its alarms must reach the helpline, and the
// installer must see that the panel is not re-keyed yet.
let platform: RunningPlatform;
let residentId: string;
const diallers: Dc09Dialler[] = [];
const run = Date.now().toString(36).toUpperCase().slice(-6);
/** A panel's key before and after the change: each panel its own (one key to one panel). */
const oldKey = (account: string) => createHash('md5').update(`${account}:old`).digest('hex').toUpperCase();
const newKey = (account: string) => createHash('md5').update(`${account}:new`).digest('hex').toUpperCase();

const api = registryApi(() => platform);

interface Health {
  lastPendantAt: string | null;
  dc09PreviousKey: { until: string; lastUsedAt: string | null } | null;
}
interface Device {
  updatedAt: string;
  dc09PreviousKeyUntil: string | null;
}

async function panel(account: string, key: string) {
  const d = new Dc09Dialler({
    host: platform.dc09.host,
    port: platform.dc09.tcpPort,
    transport: 'tcp',
    account,
    key: { value: key, encoding: 'hex' },
    answerTimeoutMs: 2_000,
    maxAttempts: 1,
  });
  await d.connect();
  diallers.push(d);
  return d;
}

/** Changes the device and waits until the DC-09 gateway holds that change (no frame spent on it). */
async function patchDevice(serial: string, account: string, body: Record<string, unknown>): Promise<Device> {
  const answer = await api<Device>('PATCH', `/api/devices/${serial}`, body);
  expect(answer.status).toBe(200);
  await waitFor(() => platform.dc09Account?.(account)?.updatedAt === answer.body.updatedAt, {
    what: `the gateway holding account ${account} as changed`,
    timeoutMs: 5_000,
    intervalMs: 20,
  });
  return answer.body;
}

const healthOf = async (serial: string) => (await api<Health>('GET', `/api/devices/${serial}/health`)).body;

async function registerPanel(serial: string, account: string): Promise<void> {
  const created = await api('POST', '/api/devices', {
    serial,
    residentId,
    kind: 'home-unit',
    protocol: 'dc09',
    dc09Account: account,
    dc09Key: oldKey(account),
    supervisionIntervalS: 3600,
  });
  expect(created.status).toBe(201);
  await waitFor(() => platform.dc09Account?.(account)?.keySet === true, { timeoutMs: 5_000, intervalMs: 20 });
}

beforeAll(async () => {
  platform = await startPlatform('e2ekeys', { REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
  const resident = await platform.registryClient.createResident({
    name: 'Key Rotation Resident',
    address: '5 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  residentId = resident.id;
});

afterAll(async () => {
  for (const dialler of diallers) await dialler.close();
  await platform?.stop();
});

describe('a DC-09 key change in the registry', () => {
  it('keeps the old key for its grace: an alarm sent with it right after the change is stored and ACKed, and health says the panel is not re-keyed', async () => {
    const serial = `E2E-KEY-${run}`;
    const account = `A${run.replace(/[^0-9A-F]/g, '0')}1`.slice(0, 16);
    await registerPanel(serial, account);
    const onSite = await panel(account, oldKey(account));
    await expect(onSite.sendCid([{ kind: 'cid', qualifier: 1, code: '101' }])).resolves.toMatchObject({
      reply: 'ACK',
    });

    const changed = await patchDevice(serial, account, { dc09Key: newKey(account) });
    // The default grace: 72 hours from the change.
    const grace = Date.parse(changed.dc09PreviousKeyUntil ?? '') - Date.parse(changed.updatedAt);
    expect(grace).toBe(72 * 3600_000);

    const pressed = await onSite.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '002' }]);
    expect(pressed).toMatchObject({ reply: 'ACK', attempts: 1, naks: 0 });
    const health = await waitFor(
      async () => {
        const h = await healthOf(serial);
        return h.dc09PreviousKey?.lastUsedAt ? h : undefined;
      },
      { what: 'health naming the old key in use', timeoutMs: 10_000 },
    );
    expect(health.dc09PreviousKey?.until).toBe(changed.dc09PreviousKeyUntil);
    expect(health.lastPendantAt).not.toBeNull();

    // The panel re-keyed: the new key is taken too. It numbers from 1 again, a second later at
    // least (the same account, sequence and timestamp with other content is no sender's).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const rekeyed = await panel(account, newKey(account));
    await expect(
      rekeyed.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '003' }]),
    ).resolves.toMatchObject({ reply: 'ACK' });

    // The installer ends the grace at once (the old key is no longer needed, or was compromised).
    const ended = await patchDevice(serial, account, { dc09KeyGraceS: 0 });
    expect(ended.dc09PreviousKeyUntil).toBeNull();
    await expect(
      onSite.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '004' }]),
    ).rejects.toBeInstanceOf(DialFailedError);
    expect((await healthOf(serial)).dc09PreviousKey).toBeNull();
  });

  it('a test call the panel passes with its old key says it is not re-keyed yet', async () => {
    const serial = `E2E-KEY4-${run}`;
    const account = `D${run.replace(/[^0-9A-F]/g, '0')}4`.slice(0, 16);
    await registerPanel(serial, account);
    await patchDevice(serial, account, { dc09Key: newKey(account) });
    expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS: 30 })).status).toBe(201);
    const inTest = (await api<Device>('GET', `/api/devices/${serial}`)).body;
    await waitFor(() => platform.dc09Account?.(account)?.updatedAt === inTest.updatedAt, {
      what: 'the gateway holding the account in test mode',
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    // The installer presses the panel's button, believing it re-keyed.
    const onSite = await panel(account, oldKey(account));
    await expect(onSite.sendCid([{ kind: 'cid', qualifier: 1, code: '101' }])).resolves.toMatchObject({
      reply: 'ACK',
    });
    const test = await waitFor(
      async () => {
        const t = (await api<{ status: string; warnings: string[] }>('GET', `/api/devices/${serial}/test`))
          .body;
        return t.status !== 'waiting' ? t : undefined;
      },
      { what: 'the test call to end', timeoutMs: 10_000 },
    );
    expect(test.status).toBe('passed');
    expect(test.warnings).toEqual([expect.stringMatching(/previous DC-09 key.*re-key the panel/)]);
  });

  it('refuses a grace that is not whole seconds from 0, or on a device that has no DC-09 key', async () => {
    const serial = `E2E-KEY3-${run}`;
    const account = `C${run.replace(/[^0-9A-F]/g, '0')}3`.slice(0, 16);
    await registerPanel(serial, account);
    for (const dc09KeyGraceS of [-1, 1.5, 'soon']) {
      const answer = await api<{ issues: { path: string }[] }>('PATCH', `/api/devices/${serial}`, {
        dc09Key: newKey(account),
        dc09KeyGraceS,
      });
      expect(answer.status).toBe(400);
      expect(answer.body.issues.map((issue) => issue.path)).toContain('dc09KeyGraceS');
    }
    // Nothing changed: the old key is still the key.
    await expect(
      (await panel(account, oldKey(account))).sendCid([{ kind: 'cid', qualifier: 1, code: '602' }]),
    ).resolves.toMatchObject({ reply: 'ACK' });
    const pendant = `E2E-KEY3P-${run}`;
    await platform.registryClient.createDevice({
      serial: pendant,
      residentId,
      kind: 'pendant',
      supervisionIntervalS: 3600,
    });
    const mqtt = await api<{ error: string }>('PATCH', `/api/devices/${pendant}`, { dc09KeyGraceS: 0 });
    expect(mqtt.status).toBe(422);
  });

  it('with no grace (a compromised key), refuses the old key from the change on', async () => {
    const serial = `E2E-KEY2-${run}`;
    const account = `B${run.replace(/[^0-9A-F]/g, '0')}2`.slice(0, 16);
    await registerPanel(serial, account);
    const changed = await patchDevice(serial, account, { dc09Key: newKey(account), dc09KeyGraceS: 0 });
    expect(changed.dc09PreviousKeyUntil).toBeNull();
    const stolen = await panel(account, oldKey(account));
    await expect(stolen.sendCid([{ kind: 'cid', qualifier: 1, code: '101' }])).rejects.toBeInstanceOf(
      DialFailedError,
    );
    const health = await healthOf(serial);
    expect(health.dc09PreviousKey).toBeNull();
    expect(health.lastPendantAt).toBeNull();
  });
});

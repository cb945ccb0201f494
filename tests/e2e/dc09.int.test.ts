import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names, PAD_BROKEN_REASON } from '@telecare/contracts';
import { openDc09Accounts } from '@telecare/gateway-dc09';
import { Dc09Dialler, type DiallerOptions, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dc09Account } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { registryApi } from '../support/registry.ts';

let platform: RunningPlatform;
let nc: NatsConnection;
const diallers: Dc09Dialler[] = [];
const run = Date.now().toString(36).toUpperCase();

/** A resident with a disperser registered, and the disperser's DC-09 account as the registry publishes it. */
async function home(
  account: string,
  key: string | null,
  kind: 'home-unit' | 'smoke-detector' = 'home-unit',
): Promise<{ residentId: string; serial: string }> {
  const resident = await platform.registryClient.createResident({
    name: 'Test Resident',
    address: '1 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  const serial = `E2E-DC09-${account}-${run}`;
  await platform.registryClient.createDevice({
    serial,
    residentId: resident.id,
    kind,
    location: 'hall',
    supervisionIntervalS: 3600,
  });
  const entry = dc09Account(account, {
    serial,
    residentId: resident.id,
    kind,
    key,
    updatedAt: new Date().toISOString(),
  });
  const kv = await openDc09Accounts(nc, names(platform.namespace));
  await kv.put(account, JSON.stringify(entry));
  return { residentId: resident.id, serial };
}

async function dialler(
  account: string,
  transport: 'tcp' | 'udp',
  key?: string,
  pad?: DiallerOptions['pad'],
): Promise<Dc09Dialler> {
  const d = new Dc09Dialler({
    host: platform.dc09.host,
    port: transport === 'tcp' ? platform.dc09.tcpPort : platform.dc09.udpPort,
    transport,
    account,
    ...(key ? { key: { value: key, encoding: 'hex' as const } } : {}),
    ...(pad ? { pad } : {}),
  });
  await d.connect();
  diallers.push(d);
  return d;
}

const openCaseOf = (residentId: string) =>
  waitFor(
    async () =>
      (await platform.helplineGet<Case[]>('/api/cases?state=open')).find((c) => c.residentId === residentId),
    { what: 'the case', timeoutMs: 10_000, intervalMs: 20 },
  );

beforeAll(async () => {
  platform = await startPlatform('e2edc09');
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  for (const d of diallers) await d.close();
  await nc?.close();
  await platform?.stop();
});

describe('a pendant press from a DC-09 disperser, to a helpline case', () => {
  it('as ADM-CID 1101 over TCP becomes a P1 case', async () => {
    const { residentId } = await home('C1D1', null);
    const d = await dialler('C1D1', 'tcp');
    expect((await d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 1, type: 'pendant.pressed', state: 'queued' });
  });

  it('as SIA QA, encrypted, over UDP becomes a P1 case', async () => {
    const key = '2B7E151628AED2A6ABF7158809CF4F3C';
    const { residentId } = await home('51A1', key);
    const d = await dialler('51A1', 'udp', key);
    expect((await d.sendSia([{ kind: 'sia', code: 'QA', zone: '01', area: '1' }])).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 1, type: 'pendant.pressed' });
  });
});

// Codes that were stored as unmapped and raised nothing: a resident made to disarm under threat
// (SIA HA, hold-up) is calling for help; a panel that hears a jammer (Contact ID 344) hears no
// pendant while it lasts.
describe('a panel code that calls for someone', () => {
  it.each([
    ['a hold-up (duress), SIA HA', 'C3D1', { kind: 'sia', code: 'HA', zone: '002' }, 1, 'pendant.pressed'],
    [
      'a jammer heard, Contact ID 1344',
      'C3D2',
      { kind: 'cid', qualifier: 1, code: '344', zone: '000' },
      3,
      'rf.jammed',
    ],
  ] as const)('%s becomes a case', async (_label, account, event, priority, type) => {
    const { residentId } = await home(account, null);
    const d = await dialler(account, 'tcp');
    const sent = event.kind === 'sia' ? await d.sendSia([event]) : await d.sendCid([event]);
    expect(sent.reply).toBe('ACK');
    expect(await openCaseOf(residentId)).toMatchObject({ priority, type });
  });
});

describe("a panel's fire alarm in a frame that broke the padding its panel has shown", () => {
  it('becomes a P1 case whose reason says so, for the operator to handle it as a real alarm', async () => {
    const key = '000102030405060708090A0B0C0D0E0F';
    const { residentId } = await home('FA11', key);
    const d = await dialler('FA11', 'tcp', key, { bytes: 'printable', fullBlock: true });
    // Tests enough for the gateway to learn the panel pads with letters and digits (polls sent
    // within one second are one message: its copies teach nothing).
    for (let zone = 1; zone <= 8; zone++)
      expect((await d.sendSia([{ kind: 'sia', code: 'RP', zone: String(zone) }])).reply).toBe('ACK');
    // Then its firmware changes how it pads: a fire alarm padded with 8-bit bytes.
    const fire = encodeDc09Message({
      type: 'ADM-CID',
      seq: 100,
      account: 'FA11',
      events: [{ kind: 'cid', qualifier: 1, code: '110', zone: '002' }],
      at: new Date(),
      key: dialerKey(key, 'hex'),
      pad: { bytes: '8-bit', fullBlock: true },
    });
    expect((await d.sendRaw(fire))?.type).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 1, type: 'smoke.detected' });
    expect(opened.because[0]?.reason).toContain(PAD_BROKEN_REASON);
  });
});

describe('a panel whose clock is on local time, its zone set in the registry', () => {
  it('is ACKed at its first try and its press becomes a case, dated when it happened', async () => {
    const resident = await platform.registryClient.createResident({
      name: 'Test Resident',
      address: '2 Test Street, Gloucester',
      postcode: 'GL1 2AB',
      phone: '01452 000000',
      livesAlone: true,
    });
    const account = 'C10CE';
    // An hour ahead of UTC all year: the test does not depend on the season it runs in.
    const created = await registryApi(() => platform)('POST', '/api/devices', {
      serial: `E2E-DC09-CLOCK-${run}`,
      residentId: resident.id,
      kind: 'home-unit',
      protocol: 'dc09',
      dc09Account: account,
      dc09ClockZone: 'Etc/GMT-1',
    });
    expect(created.status).toBe(201);
    await waitFor(() => platform.dc09Account?.(account)?.clockZone === 'Etc/GMT-1', {
      what: 'the gateway holding the account with its zone',
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    const d = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
      clockOffsetMs: 3600_000,
      maxAttempts: 1,
    });
    await d.connect();
    diallers.push(d);
    const pressed = Date.now();
    expect(await d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).toMatchObject({
      reply: 'ACK',
      naks: 0,
    });
    const opened = await openCaseOf(resident.id);
    expect(opened).toMatchObject({ priority: 1, type: 'pendant.pressed' });
    // Not an hour on, nor taken for late.
    expect(Math.abs(Date.parse(opened.raisedAt) - pressed)).toBeLessThan(10_000);
    expect(opened.because[0]?.late).toBe(false);
  });
});

// A panel reports a personal-alarm zone back to normal on its own once the button is let go
// (Contact ID restore, Q=3; SIA MH, QH, PH, UH and the restorals MR, QR, PR, UR). Taken as the
// resident's cancel, it closed every press of such a panel as a false alarm within seconds, before
// any operator saw it. A cancel is a cancel code: Contact ID 406, SIA OC.
describe('a pendant press whose zone the panel restores a moment later', () => {
  const casesOf = async (residentId: string) =>
    (await platform.helplineGet<Case[]>('/api/cases?state=all')).filter((c) => c.residentId === residentId);

  it.each([
    ['Contact ID 1101 then 3101', 'C2D1', 'cid'],
    ['SIA MA then MH', 'C2D2', 'sia'],
  ] as const)('%s: stays a case for an operator', async (_label, account, protocol) => {
    const { residentId } = await home(account, null);
    const d = await dialler(account, 'tcp');
    const send = (code: 'raise' | 'restore') =>
      protocol === 'cid'
        ? d.sendCid([{ kind: 'cid', qualifier: code === 'raise' ? 1 : 3, code: '101', zone: '001' }])
        : d.sendSia([{ kind: 'sia', code: code === 'raise' ? 'MA' : 'MH', zone: '001' }]);
    expect((await send('raise')).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect((await send('restore')).reply).toBe('ACK');
    // The press with its restore: one more event, which triage takes in well within this wait.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await casesOf(residentId)).toEqual([
      expect.objectContaining({ id: opened.id, state: 'queued', type: 'pendant.pressed' }),
    ]);
  });

  it.each([
    ['Contact ID 1406', 'C2D3', 'cid'],
    ['SIA OC', 'C2D4', 'sia'],
  ] as const)("the resident's cancel (%s) closes it as a false alarm", async (_label, account, protocol) => {
    const { residentId } = await home(account, null);
    const d = await dialler(account, 'tcp');
    expect((await d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).reply).toBe('ACK');
    await openCaseOf(residentId);
    const cancelled =
      protocol === 'cid'
        ? await d.sendCid([{ kind: 'cid', qualifier: 1, code: '406', zone: '001' }])
        : await d.sendSia([{ kind: 'sia', code: 'OC', zone: '001' }]);
    expect(cancelled.reply).toBe('ACK');
    const [closed] = await waitFor(
      async () => {
        const all = await casesOf(residentId);
        return all.every((c) => c.state === 'resolved') ? all : undefined;
      },
      { what: 'the press closed by its cancel', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(closed).toMatchObject({ type: 'pendant.pressed', state: 'resolved' });
  });
});

// What the panel says of a press after it: its zone back to normal (Contact ID Q=3) shows on the
// press's case and changes nothing of it; the alarm still present (a Contact ID status report, Q=6)
// is no press. Only the resident's cancel (406) within the pre-alarm window closes the case.
describe('what a panel says of a press after it, on the case', () => {
  type Step = { kind: string; data: Record<string, unknown> };
  type Detail = { state: string; outcome: string | null; presses: number; events: Step[] };
  const detailOf = (id: string) => platform.helplineGet<Detail>(`/api/cases/${id}`);
  const joined = async (id: string, type: string) =>
    waitFor(
      async () => {
        const d = await detailOf(id);
        return d.events.some((e) => e.kind === 'alert-joined' && e.data.type === type) ? d : undefined;
      },
      { what: `${type} on the case`, timeoutMs: 20_000, intervalMs: 50 },
    );
  const cid = (qualifier: 1 | 3 | 6, code: string) => [
    { kind: 'cid' as const, qualifier, code, zone: '001' },
  ];

  it('1101 then 3101: the restore is on the queued case; a 1406 after it closes the case as a false alarm', async () => {
    const { residentId } = await home('C2D5', null);
    const d = await dialler('C2D5', 'tcp');
    expect((await d.sendCid(cid(1, '101'))).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect((await d.sendCid(cid(3, '101'))).reply).toBe('ACK');
    const restored = await joined(opened.id, 'alarm.restored');
    expect(restored).toMatchObject({ state: 'queued', presses: 1 });
    expect(restored.events.find((e) => e.data.type === 'alarm.restored')?.data).toMatchObject({
      closes: { outcome: 'restored' },
      effect: 'noted',
      // With the code the panel sent the restore as.
      reason: expect.stringMatching(/alarm button back to normal .*, sent as CID 3101/),
    });
    expect((await d.sendCid(cid(1, '406'))).reply).toBe('ACK');
    await waitFor(async () => ((await detailOf(opened.id)).state === 'resolved' ? true : undefined), {
      what: 'the press closed by its cancel',
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    expect(await detailOf(opened.id)).toMatchObject({ outcome: 'false-alarm' });
  });

  it('1101 then 6101: the alarm still present is on the case, no second press', async () => {
    const { residentId } = await home('C2D6', null);
    const d = await dialler('C2D6', 'tcp');
    expect((await d.sendCid(cid(1, '101'))).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    // Often stamped the press's second (a panel stamps to the second): the press anchors it all the same.
    expect((await d.sendCid(cid(6, '101'))).reply).toBe('ACK');
    const status = await joined(opened.id, 'alarm.still-present');
    expect(status).toMatchObject({ state: 'queued', presses: 1 });
    expect(status.events.filter((e) => e.data.repeat === true)).toEqual([]);
  });

  it('1154 then 6154 three times: the flood still present is on the case three times, no second flood alert', async () => {
    const { residentId } = await home('C2D8', null);
    const d = await dialler('C2D8', 'tcp');
    expect((await d.sendCid(cid(1, '154'))).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 2, type: 'flood.detected' });
    for (let i = 0; i < 3; i++) expect((await d.sendCid(cid(6, '154'))).reply).toBe('ACK');
    const detail = await waitFor(
      async () => {
        const d = await detailOf(opened.id);
        const shown = d.events.filter(
          (e) => e.kind === 'alert-joined' && e.data.type === 'alarm.still-present',
        );
        return shown.length === 3 ? d : undefined;
      },
      { what: 'three still-present reports on the flood case', timeoutMs: 20_000, intervalMs: 50 },
    );
    // Before: the first two raised flood alerts of their own (joined to the case), the third was
    // suppressed as a flapping probe.
    expect(
      detail.events.filter((e) => e.kind === 'alert-joined' && e.data.type === 'flood.detected'),
    ).toEqual([]);
  });

  it('6101 with no press before it still raises the alarm, saying it is a status report', async () => {
    const { residentId } = await home('C2D7', null);
    const d = await dialler('C2D7', 'tcp');
    expect((await d.sendCid(cid(6, '101'))).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 1, type: 'pendant.pressed' });
    expect(opened.because[0]?.reason).toContain('still present (a status report, not a new press)');
  });
});

// A fire trouble (Contact ID 373: a fire zone's loop open, a detector dirty or failed) is the
// detector's own fault. It was a `line.fault`: the operator read "Communication line fault", the
// panel's real line fault shared its limit and either's restore closed the other, and a smoke
// detector dialling in itself was refused it (a smoke detector reports no line fault).
describe("a panel's fire trouble is the detector's own fault, apart from its line", () => {
  type Step = { kind: string; data: Record<string, unknown> };
  type Detail = Case & { events: Step[] };
  const detailOf = (id: string) => platform.helplineGet<Detail>(`/api/cases/${id}`);
  const joined = async (id: string, type: string) =>
    waitFor(
      async () => {
        const d = await detailOf(id);
        return d.events.some((e) => e.kind === 'alert-joined' && e.data.type === type) ? d : undefined;
      },
      { what: `${type} on the case`, timeoutMs: 20_000, intervalMs: 50 },
    );
  const cid = (qualifier: 1 | 3, code: string) => [{ kind: 'cid' as const, qualifier, code, zone: '003' }];

  it('1373 raises a case that says the device reports a fault; its restore 3373 leaves the line fault 1350 open, 3350 resolves it', async () => {
    const { residentId } = await home('C4F1', null);
    // A panel stamps to the second: each report a second apart, so a restore never shares its
    // fault's second (where the order of the two is the order of their ids).
    let clock = Date.now() - 10_000;
    const d = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account: 'C4F1',
      now: () => {
        clock += 1_000;
        return clock;
      },
    });
    await d.connect();
    diallers.push(d);
    expect((await d.sendCid(cid(1, '373'))).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 3, type: 'device.fault' });
    expect(opened.because[0]?.reason).toMatch(/^Device reports a fault of its own: /);

    expect((await d.sendCid(cid(1, '350'))).reply).toBe('ACK');
    await joined(opened.id, 'line.fault');
    expect((await d.sendCid(cid(3, '373'))).reply).toBe('ACK');
    const restored = await joined(opened.id, 'fault.restored');
    // The line fault is still open: the case waits.
    expect(restored.state).toBe('queued');
    expect(restored.events.find((e) => e.data.type === 'fault.restored')?.data).toMatchObject({
      closedType: 'device.fault',
      effect: 'noted',
    });

    expect((await d.sendCid(cid(3, '350'))).reply).toBe('ACK');
    await waitFor(async () => ((await detailOf(opened.id)).state === 'resolved' ? true : undefined), {
      what: 'the case resolved once both faults are restored',
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    expect(await detailOf(opened.id)).toMatchObject({ outcome: 'technical-resolved' });
  });

  it('a smoke detector that dials in itself: its fire trouble is stored and raises a case', async () => {
    const { residentId } = await home('C4F2', null, 'smoke-detector');
    const d = await dialler('C4F2', 'tcp');
    expect((await d.sendSia([{ kind: 'sia', code: 'FT', zone: '01' }])).reply).toBe('ACK');
    const opened = await openCaseOf(residentId);
    expect(opened).toMatchObject({ priority: 3, type: 'device.fault' });
    expect(opened.because[0]).toMatchObject({ deviceKind: 'smoke-detector' });
  });
});

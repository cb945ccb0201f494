import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Because, type Case, names } from '@telecare/contracts';
import { Dc09Dialler, type SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { addDc09Account, addHome, addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * Attack replay: someone holding a pendant's login (or a DC-09 panel's key) sends cancels, each
 * timed as it is sent, one after another whether or not there is anything to cancel. The cancel
 * rule closed each press of the device (the panel's: of the home) made within the pre-alarm window
 * (60 s) before one of them as a false alarm: the resident's real press was resolved by the
 * helpline before any operator saw it. A real cancel button follows a press; it does not send
 * cancels with nothing to cancel.
 */

let platform: RunningPlatform;
let nc: NatsConnection;
let device: SimulatedDevice;
let residentId: string;
let honest: SimulatedDevice;
let honestResident: string;
const diallers: Dc09Dialler[] = [];
const serial = `SEC-CST-${Date.now().toString(36).toUpperCase()}`;

type Detail = Case & { state: string; outcome?: string | null; events: Array<{ kind: string }> };

const caseOf = (resident: string, what: string) =>
  waitFor(
    async () =>
      (await platform.helplineGet<Case[]>('/api/cases?state=all')).find((c) => c.residentId === resident),
    { what, timeoutMs: 60_000 },
  );

const alertsOf = async (caseId: string) =>
  (await platform.helplineGet<{ alerts: Because[] }>(`/api/cases/${caseId}/alerts`)).alerts;

/**
 * The resident's case once triage and the helpline have taken everything sent: it must still be
 * waiting for an operator. Gives the notes of cancels not taken on it.
 */
async function stillQueued(resident: string, what: string): Promise<Because[]> {
  const opened = await caseOf(resident, what);
  const n = names(platform.namespace);
  await consumersDrained(nc, [n.streams.events, n.streams.alerts], 'consumers to settle', {
    timeoutMs: 60_000,
  });
  const detail = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
  // Before: resolved as a false alarm by the first cancel after the press, unseen.
  expect(['queued', 'offered'], JSON.stringify(detail.events.map((e) => e.kind))).toContain(detail.state);
  return (await alertsOf(opened.id)).filter((a) => a.reason.includes('was not taken'));
}

interface Listed {
  service: string;
  kind: string;
  userId: string | null;
  caseId: string | null;
  detail: Record<string, unknown>;
}

/**
 * The `cancel-not-taken` security events of `device` in the helpline's list, once `count` are
 * there and SECURITY is read to its end (so a further one would be listed too).
 */
async function cancelsNotTakenOf(device: string, count: number): Promise<Listed[]> {
  const listed = async () =>
    (await platform.helplineGet<{ events: Listed[] }>('/api/security-events?limit=200')).events.filter(
      (e) => e.kind === 'cancel-not-taken' && e.detail.serial === device,
    );
  await waitFor(async () => ((await listed()).length >= count ? true : undefined), {
    what: `${count} cancel-not-taken security events of ${device}`,
    timeoutMs: 60_000,
  });
  await consumersDrained(nc, [names(platform.namespace).streams.security], 'the helpline to read SECURITY', {
    timeoutMs: 60_000,
  });
  return listed();
}

/** The resident's case once its cancel has closed it. */
const resolved = (resident: string, what: string) =>
  waitFor(
    async () => {
      const c = await caseOf(resident, what);
      const d = await platform.helplineGet<Detail>(`/api/cases/${c.id}`);
      return d.state === 'resolved' ? d : undefined;
    },
    { what: `${what} closed by its cancel`, timeoutMs: 60_000 },
  );

beforeAll(async () => {
  platform = await startPlatform('seccancelstream');
  nc = await connect({ servers: servers.natsUrl });
  ({ residentId, device } = await addPendantHome(platform, serial));
  ({ residentId: honestResident, device: honest } = await addPendantHome(platform, `${serial}-H`));
});

afterAll(async () => {
  for (const d of diallers) await d.close();
  await device?.close();
  await honest?.close();
  await nc?.close();
  await platform?.stop();
});

describe('a pendant’s login sending cancels with nothing to cancel', () => {
  it('closes none of the resident’s presses: the case stays queued, with one note saying why', {
    timeout: 180_000,
  }, async () => {
    // The stream: cancels with no press before them (the login cannot see when the resident
    // presses, so it must keep sending them).
    for (let i = 0; i < 3; i++) {
      await device.send('alarm.cancelled');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    // The resident presses; the stream goes on, three of its cancels within the window after.
    await device.send('pendant.pressed');
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await device.send('alarm.cancelled');
    }
    const notes = await stillQueued(residentId, 'the resident’s press');
    // Three cancels of the stream paired with the press: one note, not one per cancel.
    expect(notes).toHaveLength(1);
    expect(notes[0]?.reason).toMatch(
      new RegExp(`a cancel from ${serial} was not taken: the device sent 3 cancels with no alarm to cancel`),
    );
    // The security side counts each cancel not taken.
    const metrics = await (await fetch(`${platform.triage.url}/metrics`)).text();
    const counted = metrics.match(/^triage_cancels_not_taken_total\{[^}]*\} (\d+)$/m);
    expect(Number(counted?.[1])).toBe(3);

    // And raised on SECURITY for a supervisor: one per cancel not taken, with ids only.
    const opened = await caseOf(residentId, 'the resident’s press');
    const press = (await alertsOf(opened.id)).find((a) => a.rule.id === 'trigger.pendant');
    const raised = await cancelsNotTakenOf(serial, 3);
    expect(raised).toHaveLength(3);
    for (const event of raised) {
      expect(event).toMatchObject({
        service: 'triage',
        userId: null,
        detail: {
          serial,
          residentId,
          alertId: press?.alertId,
          ruleId: 'correlation.pre-alarm-cancel',
          orphanCancels: 3,
        },
      });
      expect(event.detail.eventId).toMatch(/^evt_/);
      expect(event.detail).not.toHaveProperty('otherDevice');
      expect(JSON.stringify(event)).not.toContain('Test Resident');
    }
    expect(new Set(raised.map((e) => e.detail.eventId)).size).toBe(3);
  });

  it('still closes an honest press and its cancel, seconds apart', { timeout: 120_000 }, async () => {
    await honest.send('pendant.pressed');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await honest.send('alarm.cancelled');
    const detail = await resolved(honestResident, 'the honest press');
    expect(detail).toMatchObject({ outcome: 'false-alarm' });
  });
});

/** A home whose panel (a home unit) dials in over DC-09, and its dialler. */
async function panelHome(account: string): Promise<{ residentId: string; panel: Dc09Dialler }> {
  const panelSerial = `${serial}-${account}`;
  const resident = await addHome(platform, panelSerial, 'home-unit');
  await addDc09Account(platform, account, { serial: panelSerial, residentId: resident });
  const panel = new Dc09Dialler({
    host: platform.dc09.host,
    port: platform.dc09.tcpPort,
    transport: 'tcp',
    account,
  });
  await panel.connect();
  diallers.push(panel);
  return { residentId: resident, panel };
}

const PRESS = { kind: 'sia', code: 'QA', zone: '001' } as const;
const CANCEL = { kind: 'sia', code: 'OC', zone: '001' } as const;

describe('a DC-09 panel’s key sending cancels with nothing to cancel', () => {
  it('closes no press of the home: the case stays queued, with the note', { timeout: 180_000 }, async () => {
    const { residentId: attacked, panel } = await panelHome('C5A1');
    for (let i = 0; i < 2; i++) {
      expect((await panel.sendSia([CANCEL])).reply).toBe('ACK');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect((await panel.sendSia([PRESS])).reply).toBe('ACK');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await panel.sendSia([CANCEL])).reply).toBe('ACK');
    const notes = await stillQueued(attacked, 'the panel’s press');
    expect(notes).toHaveLength(1);
    const raised = await cancelsNotTakenOf(`${serial}-C5A1`, 1);
    expect(raised).toHaveLength(1);
    expect(raised[0]?.detail).toMatchObject({ residentId: attacked, orphanCancels: 2 });
  });

  it('still closes a press the panel’s cancel follows', { timeout: 120_000 }, async () => {
    const { residentId: honestPanel, panel } = await panelHome('C5B1');
    expect((await panel.sendSia([PRESS])).reply).toBe('ACK');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await panel.sendSia([CANCEL])).reply).toBe('ACK');
    const detail = await resolved(honestPanel, 'the panel’s honest press');
    expect(detail).toMatchObject({ outcome: 'false-alarm' });
  });
});

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Because, type Case, names } from '@telecare/contracts';
import { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { addHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * Attack replay: someone holding the login of one of two pendants of a home (a couple's, or a
 * spare) presses it and cancels it, again and again, a few seconds apart. Each pair is its own
 * press and its own cancel, so no cancel is an orphan (`cancel-stream.int.test.ts`). But presses
 * of one home merge into one alert by time, whichever device pressed: the stolen pendant's press
 * joined the group of the resident's press on the other pendant (or the resident's press joined
 * the group the stolen one opened), and its cancel closed that group's alert as a false alarm,
 * the resident's press with it, before an operator saw it. A trigger's cancel closes only its
 * own device's alarms.
 */

let platform: RunningPlatform;
let nc: NatsConnection;
const devices: SimulatedDevice[] = [];
const run = `SEC-CGR-${Date.now().toString(36).toUpperCase()}`;

type Detail = Case & { state: string; outcome?: string | null; events: Array<{ kind: string }> };

/**
 * A resident with a pendant they press, and a second device whose login is stolen: another pendant
 * (a couple's, or a spare), or the home unit.
 */
async function twoPendantHome(
  suffix: string,
  stolenKind: 'pendant' | 'home-unit' = 'pendant',
): Promise<{
  residentId: string;
  own: SimulatedDevice & { serial: string };
  stolen: SimulatedDevice & { serial: string };
}> {
  const ownSerial = `${run}-${suffix}A`;
  const stolenSerial = `${run}-${suffix}B`;
  const residentId = await addHome(platform, ownSerial, 'pendant');
  await platform.registryClient.createDevice({
    serial: stolenSerial,
    residentId,
    kind: stolenKind,
    supervisionIntervalS: 3600,
  });
  const connected = async (serial: string) => {
    const device = new SimulatedDevice({
      serial,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
      resendMs: 3_000,
    });
    await device.connect();
    devices.push(device);
    return device;
  };
  const own = Object.assign(await connected(ownSerial), { serial: ownSerial });
  const stolen = Object.assign(await connected(stolenSerial), { serial: stolenSerial });
  return { residentId, own, stolen };
}

/**
 * The case of the resident's own press (on `serial`) once triage and the helpline have taken
 * everything: the login's earlier pairs each opened a case of their own, closed by their cancel.
 */
async function settledCase(residentId: string, serial?: string): Promise<Detail> {
  const n = names(platform.namespace);
  const opened = await waitFor(
    async () => {
      const cases = (await platform.helplineGet<Case[]>('/api/cases?state=all')).filter(
        (c) => c.residentId === residentId,
      );
      for (const c of cases) {
        if (serial === undefined) return c;
        const { alerts } = await platform.helplineGet<{ alerts: Because[] }>(`/api/cases/${c.id}/alerts`);
        if (alerts.some((a) => a.deviceSerial === serial && a.rule.id === 'trigger.pendant')) return c;
      }
      return undefined;
    },
    { what: 'the resident’s case', timeoutMs: 60_000 },
  );
  await consumersDrained(nc, [n.streams.events, n.streams.alerts], 'consumers to settle', {
    timeoutMs: 60_000,
  });
  return platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
}

/**
 * The case of the resident's press, which must still be waiting for an operator (before: resolved
 * as a false alarm, unseen), and the notes of cancels not taken on it.
 */
async function stillQueued(residentId: string, serial?: string): Promise<Because[]> {
  const detail = await settledCase(residentId, serial);
  expect(['queued', 'offered'], JSON.stringify(detail.events.map((e) => e.kind))).toContain(detail.state);
  const { alerts } = await platform.helplineGet<{ alerts: Because[] }>(`/api/cases/${detail.id}/alerts`);
  return alerts.filter((a) => a.reason.includes('was not taken'));
}

/** The resident's case once a cancel closed it: an honest one still does. */
const resolvedCase = (residentId: string) =>
  waitFor(
    async () => {
      const d = await settledCase(residentId);
      return d.state === 'resolved' ? d : undefined;
    },
    { what: 'the press closed by its cancel', timeoutMs: 60_000 },
  );

/**
 * The `cancel-not-taken` security events of `serial` in the helpline's list, once there and
 * SECURITY is read to its end (so a further one would be listed too).
 */
async function cancelsNotTakenOf(
  serial: string,
): Promise<Array<{ service: string; detail: Record<string, unknown> }>> {
  const listed = async () =>
    (
      await platform.helplineGet<{
        events: Array<{ service: string; kind: string; detail: Record<string, unknown> }>;
      }>('/api/security-events?limit=200')
    ).events.filter((e) => e.kind === 'cancel-not-taken' && e.detail.serial === serial);
  await waitFor(async () => ((await listed()).length > 0 ? true : undefined), {
    what: `the cancel-not-taken security event of ${serial}`,
    timeoutMs: 60_000,
  });
  await consumersDrained(nc, [names(platform.namespace).streams.security], 'the helpline to read SECURITY', {
    timeoutMs: 60_000,
  });
  return listed();
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  platform = await startPlatform('seccancelgroup');
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  for (const device of devices) await device.close();
  await nc?.close();
  await platform?.stop();
});

describe('a stolen pendant’s login pressing and cancelling its own presses', () => {
  it('does not close the resident’s press on the other pendant that its press joined', {
    timeout: 180_000,
  }, async () => {
    const { residentId, own, stolen } = await twoPendantHome('J');
    await own.send('pendant.pressed');
    await pause(1_000);
    // Within the merge window: joins the resident's group as a repeat.
    await stolen.send('pendant.pressed');
    await pause(1_000);
    await stolen.send('alarm.cancelled');
    const notes = await stillQueued(residentId);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.reason).toContain(`a cancel from ${stolen.serial} was not taken`);
    // A supervisor sees it: the stolen login's cancel, and the other device's press it may not close.
    const raised = await cancelsNotTakenOf(stolen.serial);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      service: 'triage',
      detail: { residentId, otherDevice: own.serial, orphanCancels: 0 },
    });
  });

  it('does not close the resident’s press that joined the group its own press opened', {
    timeout: 180_000,
  }, async () => {
    const { residentId, own, stolen } = await twoPendantHome('O');
    await stolen.send('pendant.pressed');
    await pause(1_000);
    // The resident presses while the stolen press's group is open: a repeat of it.
    await own.send('pendant.pressed');
    await pause(1_000);
    await stolen.send('alarm.cancelled');
    expect(await stillQueued(residentId)).toHaveLength(1);
  });

  it('still closes a press of the pendant cancelled on the same pendant', { timeout: 120_000 }, async () => {
    const { residentId, own } = await twoPendantHome('H');
    await own.send('pendant.pressed');
    await pause(1_000);
    await own.send('alarm.cancelled');
    expect(await resolvedCase(residentId)).toMatchObject({ outcome: 'false-alarm' });
  });
});

describe('a stolen home unit’s login pressing and cancelling its own presses', () => {
  it('once it has cancelled two presses of its own in the hour, closes no other device’s press', {
    timeout: 180_000,
  }, async () => {
    const { residentId, own, stolen } = await twoPendantHome('U', 'home-unit');
    // Its own press and cancel, again and again: each cancel follows a press, so none is an orphan.
    for (let i = 0; i < 2; i++) {
      await stolen.send('pendant.pressed');
      await pause(500);
      await stolen.send('alarm.cancelled');
      await pause(500);
    }
    await own.send('pendant.pressed');
    await pause(500);
    await stolen.send('pendant.pressed');
    await pause(500);
    await stolen.send('alarm.cancelled');
    // Before: the home unit's cancel closed the resident's press with its own, the case unseen.
    const notes = await stillQueued(residentId, own.serial);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.reason).toContain(
      `a cancel from ${stolen.serial} was not taken: it cancelled 2 alarms of its own in the hour before it, so it no longer closes ${own.serial}'s`,
    );
  });

  it('still closes a pendant’s press cancelled on the home unit', { timeout: 120_000 }, async () => {
    const { residentId, own, stolen } = await twoPendantHome('V', 'home-unit');
    await own.send('pendant.pressed');
    await pause(1_000);
    await stolen.send('alarm.cancelled');
    expect(await resolvedCase(residentId)).toMatchObject({ outcome: 'false-alarm' });
  });
});

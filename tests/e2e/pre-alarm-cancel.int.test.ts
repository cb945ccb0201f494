import { type Case, eventIdFor } from '@telecare/contracts';
import { EventRejectedError, SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;
const serial = `E2E-CAN-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  platform = await startPlatform('e2ecancel');
  ({ residentId, device } = await addPendantHome(platform, serial));
});

afterAll(async () => {
  await device?.close();
  await platform?.stop();
});

type Detail = Case & {
  state: string;
  events: Array<{ kind: string; actor: string; data: Record<string, unknown> }>;
};

describe('a pendant press cancelled by the resident within the pre-alarm window', () => {
  it('ends as a resolved false alarm with both events, and nothing is left in the open queue', async () => {
    await device.send('pendant.pressed');
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=all')).find((c) => c.residentId === residentId),
      { what: 'the pendant case', timeoutMs: 10_000 },
    );
    await device.send('alarm.cancelled');

    const detail = await waitFor(
      async () => {
        const d = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
        return d.state === 'resolved' ? d : undefined;
      },
      { what: 'the case resolved by the cancel', timeoutMs: 10_000 },
    );
    expect(detail.outcome).toBe('false-alarm');
    expect(detail.alertIds).toHaveLength(2);
    const kinds = detail.events.map((e) => e.kind);
    expect(kinds[0]).toBe('opened');
    expect(kinds).toContain('alert-joined');
    expect(kinds.at(-1)).toBe('resolved');
    const joined = detail.events.find((e) => e.kind === 'alert-joined');
    expect(joined?.data).toMatchObject({
      type: 'alarm.cancelled',
      by: 'resident',
      closes: { alertId: detail.alertIds[0], outcome: 'false-alarm' },
      effect: 'resolved',
    });
    expect(joined?.data.evidence).toHaveLength(2);
    expect(detail.events.at(-1)).toMatchObject({
      actor: 'helpline',
      data: { outcome: 'false-alarm', automatic: true },
    });

    const open = await platform.helplineGet<Case[]>('/api/cases?state=open');
    expect(open.filter((c) => c.residentId === residentId)).toEqual([]);
    const all = await platform.helplineGet<Case[]>('/api/cases?state=all');
    expect(all.filter((c) => c.residentId === residentId).map((c) => c.id)).toEqual([opened.id]);
  });

  it('a real press moments after the cancel is never merged into the cancelled alert: it opens a new case', async () => {
    const [resolved] = await platform
      .helplineGet<Case[]>('/api/cases?state=all')
      .then((all) => all.filter((c) => c.residentId === residentId));
    await device.send('pendant.pressed');
    const fresh = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        ),
      { what: 'a new case for the press after the cancel', timeoutMs: 10_000 },
    );
    expect(fresh.id).not.toBe(resolved?.id);
    expect(fresh).toMatchObject({ type: 'pendant.pressed', priority: 1 });
    expect(fresh.alertIds).toHaveLength(1);
    expect(resolved?.alertIds).not.toContain(fresh.alertIds[0]);
  });

  it('a cancel from another of the home’s devices that has no cancel (a movement sensor) closes nothing; the resident’s own cancel does', async () => {
    const pirSerial = `${serial}-PIR`;
    await platform.registryClient.createDevice({
      serial: pirSerial,
      residentId,
      kind: 'pir',
      supervisionIntervalS: 3600,
    });
    const pir = new SimulatedDevice({
      serial: pirSerial,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
    });
    await pir.connect();
    try {
      // The press of the test before is still open; the sensor's login (stolen, say) sends a cancel.
      const [open] = (await platform.helplineGet<Case[]>('/api/cases?state=open')).filter(
        (c) => c.residentId === residentId,
      );
      expect(open).toBeDefined();
      // gateway-mqtt refuses it: a movement sensor does not report a cancel (its kind's types,
      // tests/security/mqtt-kind-types.int.test.ts). Triage's own check (a cancel closes only from a
      // kind a resident cancels on) is the second line, for cancels stored before the gateway's.
      const forgedAt = new Date();
      const forged = await pir.send('alarm.cancelled', {}, { at: forgedAt }).catch((err: unknown) => err);
      expect(forged).toBeInstanceOf(EventRejectedError);
      expect((forged as EventRejectedError).reason).toMatch(/^type-not-for-kind: /);
      // The resident's own cancel comes after it on the same partition: once the case is resolved,
      // the sensor's would have been handled before, and it must not be what closed the press.
      const own = await device.send('alarm.cancelled');
      const detail = await waitFor(
        async () => {
          const d = await platform.helplineGet<Detail>(`/api/cases/${open?.id}`);
          return d.state === 'resolved' ? d : undefined;
        },
        { what: 'the case resolved by the pendant’s cancel', timeoutMs: 10_000 },
      );
      const closings = detail.events.filter((e) => e.kind === 'alert-joined' && e.data.closes !== undefined);
      expect(closings.map((e) => e.data.evidence)).toEqual([
        [expect.any(String), eventIdFor(serial, own.id, own.at, own.type)],
      ]);
      expect(JSON.stringify(detail)).not.toContain(
        eventIdFor(
          pirSerial,
          (forged as EventRejectedError).eventId,
          forgedAt.toISOString(),
          'alarm.cancelled',
        ),
      );
    } finally {
      await pir.close();
    }
  });
  it('a cancel from the pendant does not close the fall detector’s alarm: a trigger cancels its own alarms only', async () => {
    const fallSerial = `${serial}-FALL`;
    await platform.registryClient.createDevice({
      serial: fallSerial,
      residentId,
      kind: 'fall-detector',
      supervisionIntervalS: 3600,
    });
    const detector = new SimulatedDevice({
      serial: fallSerial,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
      resendMs: 3_000,
    });
    await detector.connect();
    try {
      const before = new Set(
        (await platform.helplineGet<Case[]>('/api/cases?state=all'))
          .filter((c) => c.residentId === residentId)
          .map((c) => c.id),
      );
      await detector.send('fall.detected');
      const fall = await waitFor(
        async () =>
          (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
            (c) => c.residentId === residentId && c.type === 'fall.detected' && !before.has(c.id),
          ),
        { what: 'the fall case', timeoutMs: 10_000 },
      );
      // The pendant's login (stolen, say, and sending a cancel every few seconds) cancels within
      // the pre-alarm window: its cancel is stored, but the fall is not its alarm.
      const forged = await device.send('alarm.cancelled');
      const forgedId = eventIdFor(serial, forged.id, forged.at, forged.type);
      // A press of the pendant after it, on the same partition: once it has reached the helpline
      // (joined to the fall's case, or a case of its own once that one is closed), the cancel before
      // it has been evaluated.
      await device.send('pendant.pressed');
      await waitFor(
        async () => {
          const joined = await platform.helplineGet<Detail>(`/api/cases/${fall.id}`);
          if (joined.events.some((e) => e.kind === 'alert-joined' && e.data.type === 'pendant.pressed'))
            return true;
          return (await platform.helplineGet<Case[]>('/api/cases?state=all')).some(
            (c) => c.residentId === residentId && c.type === 'pendant.pressed' && !before.has(c.id),
          );
        },
        { what: 'the press after the cancel at the helpline', timeoutMs: 10_000 },
      );
      const detail = await platform.helplineGet<Detail>(`/api/cases/${fall.id}`);
      expect(detail.state).not.toBe('resolved');
      expect(detail.outcome ?? null).toBeNull();
      expect(JSON.stringify(detail)).not.toContain(forgedId);
    } finally {
      await detector.close();
    }
  });
});

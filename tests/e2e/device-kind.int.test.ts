import type { Because, Case } from '@telecare/contracts';
import type { SimulatedDevice } from '@telecare/simulators';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDeviceHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * A smoke detector's alarm and its restore, from the device over MQTT through triage to the
 * helpline: the case says which kind of device raised it, and which reported the restore.
 */
const serial = `E2E-SD-${Date.now().toString(36).toUpperCase()}`;

let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;

beforeAll(async () => {
  platform = await startPlatform('e2ekind');
  ({ residentId, device } = await addDeviceHome(platform, serial, 'smoke-detector'));
});

afterAll(async () => {
  await device?.close();
  await platform?.stop();
});

type Detail = Case & { because: Because[]; events: Array<{ kind: string; data: Record<string, unknown> }> };

describe('the kind of device, from the device to the helpline', () => {
  it("names the smoke detector on the case's because and on the audit trail's raise and restore", async () => {
    await device.send('smoke.detected');
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=all')).find((c) => c.residentId === residentId),
      { what: 'the smoke case', timeoutMs: 15_000 },
    );
    const raised = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
    expect(raised.because[0]).toMatchObject({ deviceSerial: serial, deviceKind: 'smoke-detector' });
    expect(raised.events.find((e) => e.kind === 'opened')?.data).toMatchObject({
      type: 'smoke.detected',
      deviceSerial: serial,
      deviceKind: 'smoke-detector',
    });

    await device.send('smoke.restored');
    const restore = await waitFor(
      async () =>
        (await platform.helplineGet<Detail>(`/api/cases/${opened.id}`)).events.find(
          (e) => e.kind === 'alert-joined' && e.data.type === 'smoke.restored',
        ),
      { what: 'the restore on the smoke case', timeoutMs: 15_000 },
    );
    expect(restore.data).toMatchObject({
      by: 'device',
      closedType: 'smoke.detected',
      deviceSerial: serial,
      deviceKind: 'smoke-detector',
      // A detector going quiet does not prove the home is safe: the case stays for an operator.
      why: 'alarm-restore',
    });
  });

  it('a smoke detector reports a fault of its own over MQTT: a P3 case naming it, resolved by its restore', async () => {
    const faultSerial = `${serial}-F`;
    const { residentId: home, device: detector } = await addDeviceHome(
      platform,
      faultSerial,
      'smoke-detector',
    );
    try {
      // Stored (acked), not refused as a type a smoke detector does not report.
      await detector.send('device.fault');
      const opened = await waitFor(
        async () =>
          (await platform.helplineGet<Case[]>('/api/cases?state=all')).find((c) => c.residentId === home),
        { what: 'the fault case', timeoutMs: 15_000 },
      );
      expect(opened).toMatchObject({ priority: 3, type: 'device.fault' });
      const raised = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
      expect(raised.because[0]).toMatchObject({ deviceSerial: faultSerial, deviceKind: 'smoke-detector' });
      expect(raised.because[0]?.reason).toMatch(/^Device reports a fault of its own: /);

      await detector.send('fault.restored');
      const resolved = await waitFor(
        async () => {
          const d = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
          return d.state === 'resolved' ? d : undefined;
        },
        { what: 'the fault case resolved by its restore', timeoutMs: 15_000 },
      );
      expect(resolved).toMatchObject({ outcome: 'technical-resolved' });
    } finally {
      await detector.close();
    }
  });
});

import { type Case, names } from '@telecare/contracts';
import type { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;
const serial = `E2E-RTC-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  platform = await startPlatform('e2ertc');
  ({ residentId, device } = await addPendantHome(platform, serial));
});

afterAll(async () => {
  await device?.close();
  await platform?.stop();
});

describe('alarms from devices whose clocks are wrong or unreadable', () => {
  it('a pendant whose clock went back to its reset value after a power cut still opens a P1 case, dated when it was received', async () => {
    const before = Date.now();
    await device.send('pendant.pressed', {}, { at: new Date('2000-01-01T00:00:00Z') });
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        ),
      { what: 'the case', timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(opened.priority).toBe(1);
    // Not a case 26 years old at the back of the queue, nor dropped as stale: raised now, and the
    // operator told the device's time was far behind.
    expect(Date.parse(opened.raisedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(opened.because[0]?.late).toBe(true);
    expect(opened.because[0]?.reason).toMatch(/late: event time \d+ days before/);
  });

  it('a fall alarm whose time has no offset, from a hub that speaks MQTT 3.1.1, opens a P1 case too', async () => {
    const hub = `E2E-HUB-${Date.now().toString(36).toUpperCase()}`;
    await platform.registryClient.createDevice({
      serial: hub,
      residentId,
      kind: 'fall-detector',
      supervisionIntervalS: 3600,
    });
    const client = await mqtt.connectAsync(servers.mqttUrl, { protocolVersion: 4, clientId: hub });
    try {
      const n = names(platform.namespace);
      const acks: string[] = [];
      client.on('message', (_topic, payload) => acks.push(payload.toString()));
      await client.subscribeAsync(n.mqtt.ack(hub), { qos: 1 });
      const local = new Date().toISOString().slice(0, 19); // 2026-12-04T20:08:09: no offset
      await client.publishAsync(
        n.mqtt.events(hub),
        JSON.stringify({ id: 'fall-01', type: 'fall.detected', at: local }),
        {
          qos: 1,
        },
      );
      await waitFor(() => acks.includes(JSON.stringify({ id: 'fall-01', stored: true })), {
        what: 'the stored ack',
      });
      const opened = await waitFor(
        async () =>
          (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
            (c) => c.residentId === residentId && c.because.some((b) => b.rule.id.includes('fall')),
          ),
        { what: 'the fall in a case', timeoutMs: 15_000, intervalMs: 50 },
      );
      expect(opened.priority).toBe(1);
    } finally {
      await client.endAsync();
    }
  });
});

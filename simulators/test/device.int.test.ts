import { deviceTopics } from '@telecare/contracts';
import { servers, uniqueNamespace } from '@telecare/testkit';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckTimeoutError, EventRejectedError, SimulatedDevice } from '../src/index.ts';

const ns = uniqueNamespace('simdev');
const topics = deviceTopics(ns);
let platform: mqtt.MqttClient;
const seen: Array<{ id: string; type: string }> = [];

beforeAll(async () => {
  // A stand-in platform on the real broker: ignores the first copy of each event, acks the second,
  // and rejects anything typed `alarm.cancelled`.
  platform = await mqtt.connectAsync(servers.mqttUrl, { protocolVersion: 5, clientId: `${ns}-platform` });
  await platform.subscribeAsync(topics.allEvents, { qos: 1 });
  platform.on('message', (topic, raw) => {
    const event = JSON.parse(raw.toString()) as { id: string; type: string };
    seen.push(event);
    const serial = topics.serialOf(topic) ?? '';
    const copies = seen.filter((e) => e.id === event.id).length;
    if (event.type === 'alarm.cancelled') {
      platform.publish(topics.ack(serial), JSON.stringify({ id: event.id, rejected: 'schema: no' }), {
        qos: 1,
      });
    } else if (copies >= (serial.startsWith('SIMDEV-PATIENT') ? 15 : 2)) {
      platform.publish(topics.ack(serial), JSON.stringify({ id: event.id, stored: true }), { qos: 1 });
    }
  });
});

afterAll(async () => {
  await platform.endAsync();
});

describe('SimulatedDevice', () => {
  it('resends with the same id until the platform acks it', async () => {
    const device = new SimulatedDevice({
      serial: 'SIMDEV-1',
      mqttUrl: servers.mqttUrl,
      namespace: ns,
      resendMs: 150,
    });
    await device.connect();
    try {
      const sent = await device.send('pendant.pressed');
      expect(sent.attempts).toBe(2);
      expect(seen.filter((e) => e.id === sent.id)).toHaveLength(2);
    } finally {
      await device.close();
    }
  });

  it('surfaces a rejection with its reason and stops resending', async () => {
    const device = new SimulatedDevice({
      serial: 'SIMDEV-2',
      mqttUrl: servers.mqttUrl,
      namespace: ns,
      resendMs: 300,
    });
    await device.connect();
    try {
      const error = await device.send('alarm.cancelled').catch((err: unknown) => err);
      expect(error).toBeInstanceOf(EventRejectedError);
      expect((error as EventRejectedError).reason).toBe('schema: no');
      const id = (error as EventRejectedError).eventId;
      const copies = () => seen.filter((e) => e.id === id).length;
      // On a loaded machine the rejection may come back after a resend went out: a copy sent before
      // it arrived reaches the platform within the settle. After that, none: three resend periods.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const settled = copies();
      expect(settled).toBeGreaterThanOrEqual(1);
      await new Promise((resolve) => setTimeout(resolve, 900));
      expect(copies()).toBe(settled);
    } finally {
      await device.close();
    }
  });

  it('resends beyond ten tries, backing off to its cap, for as long as no ack comes', async () => {
    const device = new SimulatedDevice({
      serial: 'SIMDEV-PATIENT-1',
      mqttUrl: servers.mqttUrl,
      namespace: ns,
      resendMs: 20,
      resendMaxMs: 80,
    });
    await device.connect();
    try {
      const sent = await device.send('pendant.pressed');
      expect(sent.attempts).toBe(15);
      expect(seen.filter((e) => e.id === sent.id)).toHaveLength(15);
      // 20 + 40 + 80 × 12: the delays grow, then hold at the cap.
      expect(sent.latencyMs).toBeGreaterThanOrEqual(1_000);
    } finally {
      await device.close();
    }
  });

  it('stops resending only when it is closed', async () => {
    const device = new SimulatedDevice({
      serial: 'SIMDEV-PATIENT-2',
      mqttUrl: servers.mqttUrl,
      namespace: ns,
      resendMs: 20,
      resendMaxMs: 40,
    });
    await device.connect();
    const sending = device
      .send('pendant.pressed', {}, { id: 'patient-2-closed' })
      .catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await device.close();
    expect(await sending).toBeInstanceOf(AckTimeoutError);
    const copies = seen.filter((e) => e.id === 'patient-2-closed').length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen.filter((e) => e.id === 'patient-2-closed')).toHaveLength(copies);
  });
});

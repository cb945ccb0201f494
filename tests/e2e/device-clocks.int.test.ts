import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names, TelecareEvent } from '@telecare/contracts';
import { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;
let nc: NatsConnection;
const serial = `E2E-RTC-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  platform = await startPlatform('e2ertc');
  ({ residentId, device } = await addPendantHome(platform, serial));
  nc = await connect({ servers: servers.natsUrl });
});

async function eventsOf(subject: string): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const stream = names(platform.namespace).streams.events;
  const info = await jsm.streams.info(stream);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const event = m ? TelecareEvent.parse(m.json()) : undefined;
    if (event?.subject === subject) out.push(event);
  }
  return out;
}

afterAll(async () => {
  await device?.close();
  await nc?.close();
  await platform?.stop();
});

describe('alarms from devices whose clocks are wrong or unreadable', () => {
  it('a pendant whose clock went back to its reset value after a power cut still opens a P1 case, dated when it was received', async () => {
    const before = Date.now();
    const sent = await device.send('pendant.pressed', {}, { at: new Date('2000-01-01T00:00:00Z') });
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        ),
      { what: 'the case', timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(opened.priority).toBe(1);
    // Not a case 26 years old at the back of the queue, nor dropped as stale: raised now, from an
    // event dated on receipt, the device's time kept beside it.
    expect(Date.parse(opened.raisedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(opened.because[0]?.late).toBe(false);
    const press = (await eventsOf(serial)).find((e) => e.deviceeventid === sent.id);
    expect(press).toMatchObject({ devicetime: '2000-01-01T00:00:00.000Z' });
    expect(press?.time).toBe(press?.receivedat);
  });

  it('a hub paired a moment ago whose clock reset to 1970, or reads two days back, is heard now; a test on site before pairing keeps its time', async () => {
    const hub = `E2E-RTH-${Date.now().toString(36).toUpperCase()}`;
    await platform.registryClient.createDevice({
      serial: hub,
      residentId,
      kind: 'home-unit',
      supervisionIntervalS: 3600,
    });
    const home = new SimulatedDevice({
      serial: hub,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
    });
    await home.connect();
    try {
      const before = Date.now();
      const reset = await home.send('motion', {}, { at: new Date('1970-01-01T00:00:42Z') });
      // Within the week a backlog may span, but before the hub joined this home (the registry's
      // pairedAt in the device map): no backlog, a wrong clock.
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
      const early = await home.send('motion', {}, { at: twoDaysAgo });
      // The installer's walk test, half an hour before the hub was paired in the registry.
      const halfHourAgo = new Date(Date.now() - 30 * 60_000);
      const walkTest = await home.send('motion', {}, { at: halfHourAgo });
      const events = await eventsOf(hub);
      const now = events.find((e) => e.deviceeventid === reset.id);
      // Dated when it was heard: the home is not silent because its hub's clock is wrong.
      expect(Date.parse(String(now?.time))).toBeGreaterThanOrEqual(before - 1000);
      expect(now?.devicetime).toBe('1970-01-01T00:00:42.000Z');
      const beforePairing = events.find((e) => e.deviceeventid === early.id);
      expect(Date.parse(String(beforePairing?.time))).toBeGreaterThanOrEqual(before - 1000);
      expect(beforePairing?.devicetime).toBe(twoDaysAgo.toISOString());
      const onSite = events.find((e) => e.deviceeventid === walkTest.id);
      expect(onSite?.time).toBe(halfHourAgo.toISOString());
      expect(onSite).not.toHaveProperty('devicetime');
    } finally {
      await home.close();
    }
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

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names } from '@telecare/contracts';
import { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
let nc: NatsConnection;
let device: SimulatedDevice;
let residentId: string;
const serial = `E2E-LOST-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  platform = await startPlatform('e2elost');
  nc = await connect({ servers: servers.natsUrl });
  const resident = await platform.registryClient.createResident({
    name: 'Lost Resident',
    address: '3 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  residentId = resident.id;
  await platform.registryClient.createDevice({
    serial,
    residentId,
    kind: 'pendant',
    supervisionIntervalS: 3600,
  });
  device = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    resendMs: 2_000,
    maxAttempts: 60,
  });
  await device.connect();
});

afterAll(async () => {
  await device?.close();
  await nc?.close();
  await platform?.stop();
});

describe('JetStream loses the streams while every service runs', () => {
  it('a press after the loss still reaches a case, with no service restarted', async () => {
    const n = names(platform.namespace);
    const jsm = await jetstreamManager(nc);
    for (const stream of [n.streams.events, n.streams.alerts, n.streams.cases, n.streams.deadletter])
      await jsm.streams.delete(stream);
    await device.send('pendant.pressed');
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        ),
      { what: 'the case', timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(opened.priority).toBe(1);
  }, 90_000);

  it('a press after the consumers alone were lost joins the case, and nothing before it comes again', async () => {
    const n = names(platform.namespace);
    const jsm = await jetstreamManager(nc);
    for (const stream of [n.streams.events, n.streams.alerts])
      for await (const consumer of jsm.consumers.list(stream))
        await jsm.consumers.delete(stream, consumer.name);
    await device.send('pendant.pressed');
    const joined = await waitFor(
      async () => {
        const open = (
          await platform.helplineGet<Array<Case & { presses?: number }>>('/api/cases?state=open')
        ).filter((c) => c.residentId === residentId);
        return open.length === 1 && open[0]?.presses === 2 ? open : undefined;
      },
      { what: 'the second press in the one case', timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(joined[0]?.alertIds).toHaveLength(2);
  }, 90_000);
});

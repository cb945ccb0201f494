import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names, TelecareEvent } from '@telecare/contracts';
import type { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * A device's event id, with its time and type, names its event (`eventIdFor`): JetStream drops a
 * second message with the same three for ten minutes, triage for longer, and the gateway acks it
 * `stored`. An id used again for another event — a device whose counter started again after a power
 * cut, or a stolen login sending heartbeats under the ids a pendant with counted ids will use next —
 * made the real press a "duplicate": acked, never stored, never seen by an operator.
 */
let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;
let nc: NatsConnection;
const serial = `SEC-IDR-${Date.now().toString(36).toUpperCase()}`;

const payload = (id: string, type: string, at: string) => JSON.stringify({ id, type, at, data: {} });

async function storedOfDevice(): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const stream = names(platform.namespace).streams.events;
  const info = await jsm.streams.info(stream);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const event = m ? TelecareEvent.parse(m.json()) : undefined;
    if (event?.subject === serial) out.push(event);
  }
  return out;
}

beforeAll(async () => {
  platform = await startPlatform('sec-idreuse');
  ({ residentId, device } = await addPendantHome(platform, serial));
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  await device?.close();
  await nc?.close();
  await platform?.stop();
});

describe('a device event id used again for another event', () => {
  it('a press under the id of an earlier heartbeat is stored and opens a case; its resend is still one event', async () => {
    const beatAt = new Date(Date.now() - 60_000).toISOString();
    await device.sendRaw('reused-0001', payload('reused-0001', 'heartbeat', beatAt));
    const pressAt = new Date().toISOString();
    const press = payload('reused-0001', 'pendant.pressed', pressAt);
    await device.sendRaw('reused-0001', press);
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        ),
      { what: 'the case of the press', timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(opened).toMatchObject({ type: 'pendant.pressed', priority: 1 });
    // The device, unsure of its ack, sends the press again byte for byte: the same event.
    await device.sendRaw('reused-0001', press);
    const stored = await storedOfDevice();
    expect(stored.filter((e) => e.type === 'pendant.pressed')).toHaveLength(1);
    expect(stored.filter((e) => e.type === 'heartbeat')).toHaveLength(1);
    expect(stored.every((e) => e.deviceeventid === 'reused-0001' || e.type.startsWith('device.'))).toBe(true);
    // Stamped anew, it cannot be told from a press under a reused id: stored as a press of its own,
    // which triage merges into the open alert as a repeat (rules README, "Repeated presses").
    await device.sendRaw(
      'reused-0001',
      payload('reused-0001', 'pendant.pressed', new Date(Date.now() + 1_000).toISOString()),
    );
    expect((await storedOfDevice()).filter((e) => e.type === 'pendant.pressed')).toHaveLength(2);
    const n = names(platform.namespace);
    await consumersDrained(nc, [n.streams.events, n.streams.alerts], 'consumers to settle');
    const cases = (await platform.helplineGet<Case[]>('/api/cases?state=all')).filter(
      (c) => c.residentId === residentId,
    );
    expect(cases).toHaveLength(1);
  });
});

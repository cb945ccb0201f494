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
 * Real pendants number their events with a counter that starts again after a battery change or a
 * firmware update, so a later press can carry an id the pendant used hours before. That press is a
 * new alarm: it must reach an operator. A resend of one press (the same payload, the same time)
 * is still one event and one alert.
 */

let platform: RunningPlatform;
let nc: NatsConnection;
let device: SimulatedDevice;
let residentId: string;
const serial = `E2E-IDR-${Date.now().toString(36).toUpperCase()}`;
const REUSED = 'seq-00000002';
const HOUR = 3_600_000;

const press = (at: Date) =>
  JSON.stringify({ id: REUSED, type: 'pendant.pressed', at: at.toISOString(), seq: 2, data: {} });

const casesOf = async (state: 'open' | 'all') =>
  (await platform.helplineGet<Case[]>(`/api/cases?state=${state}`)).filter(
    (c) => c.residentId === residentId,
  );

async function post(path: string, body: unknown = {}): Promise<Response> {
  return fetch(new URL(path, platform.helpline.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function pressesStored(): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const stream = names(platform.namespace).streams.events;
  const info = await jsm.streams.info(stream);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    const event = m ? TelecareEvent.parse(m.json()) : undefined;
    if (event?.subject === serial && event.type === 'pendant.pressed') out.push(event);
  }
  return out;
}

async function alertsOfResident(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(names(platform.namespace).streams.alerts, {
    subjects_filter: `${platform.namespace}.alerts.*.${residentId}`,
  });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

const settled = () => {
  const n = names(platform.namespace);
  return consumersDrained(nc, [n.streams.events, n.streams.alerts], 'consumers to settle');
};

beforeAll(async () => {
  platform = await startPlatform('e2eidreuse');
  nc = await connect({ servers: servers.natsUrl });
  ({ residentId, device } = await addPendantHome(platform, serial));
});

afterAll(async () => {
  await device?.close();
  await nc?.close();
  await platform?.stop();
});

describe('a pendant whose event counter started again', () => {
  it('a press hours after an earlier one under the same device id is a new alarm: two events, two alerts, two cases', async () => {
    // The first press, written four hours ago, handled and resolved. (The pendant was paired moments
    // ago, so the gateway dates it on receipt, its time kept as devicetime; the event is still named
    // by the time as written.)
    const first = new Date(Date.now() - 4 * HOUR);
    await device.sendRaw(REUSED, press(first));
    const firstCase = await waitFor(async () => (await casesOf('open'))[0], {
      what: 'the case of the first press',
      timeoutMs: 15_000,
    });
    expect((await post(`/api/cases/${firstCase.id}/accept`)).status).toBe(200);
    expect(
      (
        await post(`/api/cases/${firstCase.id}/resolve`, {
          outcome: 'false-alarm',
          reason: 'pressed by mistake',
        })
      ).status,
    ).toBe(200);

    // The battery changed, the counter started again: a real press now, under the same id.
    await device.sendRaw(REUSED, press(new Date()));
    const secondCase = await waitFor(async () => (await casesOf('open'))[0], {
      what: 'a case for the press under the reused id',
      timeoutMs: 15_000,
    });
    expect(secondCase.id).not.toBe(firstCase.id);
    expect(secondCase).toMatchObject({ type: 'pendant.pressed', priority: 1 });
    expect(secondCase.alertIds[0]).not.toBe(firstCase.alertIds[0]);

    await settled();
    const stored = await pressesStored();
    expect(stored).toHaveLength(2);
    expect(new Set(stored.map((e) => e.id)).size).toBe(2);
    expect(stored.every((e) => e.deviceeventid === REUSED)).toBe(true);
    expect(await alertsOfResident()).toBe(2);
  });

  it("the device's resend of a press (the same payload, the same time) is still one event and one alert", async () => {
    const before = await alertsOfResident();
    const again = JSON.stringify({
      id: 'seq-00000003',
      type: 'pendant.pressed',
      at: new Date().toISOString(),
      seq: 3,
      data: {},
    });
    const sent = await device.sendRaw('seq-00000003', again);
    expect(sent.id).toBe('seq-00000003');
    // Unsure of its ack, the device sends the same bytes twice more.
    await device.sendRaw('seq-00000003', again);
    await device.sendRaw('seq-00000003', again);
    await settled();
    const stored = (await pressesStored()).filter((e) => e.deviceeventid === 'seq-00000003');
    expect(stored).toHaveLength(1);
    expect(await alertsOfResident()).toBe(before + 1);
  });
});

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, eventIdFor, names } from '@telecare/contracts';
import { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
let nc: NatsConnection;
let device: SimulatedDevice;
let residentId: string;
const serial = `E2E-PND-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  platform = await startPlatform('e2e');
  nc = await connect({ servers: servers.natsUrl });
  ({ residentId, device } = await addPendantHome(platform, serial));
});

afterAll(async () => {
  await device?.close();
  await nc?.close();
  await platform?.stop();
});

const openCasesOf = async (resident: string) =>
  (await platform.helplineGet<Case[]>('/api/cases?state=open')).filter((c) => c.residentId === resident);

/** Waits until every triage and helpline consumer has nothing pending, so counts are final. */
async function settled(): Promise<void> {
  const n = names(platform.namespace);
  await consumersDrained(nc, [n.streams.events, n.streams.alerts], 'consumers to settle');
}

describe('a pendant press, from device to helpline', () => {
  let firstPressId: string;
  let firstPressAt: string;

  it('becomes an open P1 case whose because names the rule and the evidence event', async () => {
    const started = performance.now();
    const sent = await device.send('pendant.pressed');
    firstPressId = sent.id;
    firstPressAt = sent.at;
    const ackMs = sent.latencyMs;
    const [found] = await waitFor(
      async () => {
        const cases = await openCasesOf(residentId);
        return cases.length > 0 ? cases : undefined;
      },
      { what: 'the case', timeoutMs: 10_000, intervalMs: 10 },
    );
    const caseMs = performance.now() - started;
    console.log(
      `press-to-ack ${ackMs.toFixed(1)} ms, press-to-case ${caseMs.toFixed(1)} ms (polled every 10 ms)`,
    );

    expect(found).toBeDefined();
    const opened = found as Case;
    expect(opened.priority).toBe(1);
    expect(opened.type).toBe('pendant.pressed');
    expect(opened.state).toBe('queued');
    expect(opened.alertIds).toHaveLength(1);
    const because = opened.because[0];
    expect(because?.rule.id).toMatch(/pendant/);
    expect(because?.rule.version).toBeGreaterThanOrEqual(1);
    expect(because?.evidence).toEqual([eventIdFor(serial, sent.id, sent.at, sent.type)]);
    expect(because?.reason.length).toBeGreaterThan(10);
    expect(caseMs).toBeLessThan(10_000);
  });

  it('the same press sent again (the same event id and time) yields one alert and one case', async () => {
    const again = await device.send('pendant.pressed', {}, { id: firstPressId, at: new Date(firstPressAt) });
    expect(again.id).toBe(firstPressId);
    await settled();
    const n = names(platform.namespace);
    const jsm = await jetstreamManager(nc);
    // Only the presses: the device's online status is an event of its own.
    const events = await jsm.streams.info(n.streams.events, {
      subjects_filter: `${platform.namespace}.events.*.pendant.pressed`,
    });
    expect(Object.values(events.state.subjects ?? {}).reduce((a, b) => a + b, 0)).toBe(1);
    const alerts = await jsm.streams.info(n.streams.alerts);
    expect(alerts.state.messages).toBe(1);
    const cases = await openCasesOf(residentId);
    expect(cases).toHaveLength(1);
    expect(cases[0]?.alertIds).toHaveLength(1);
  });

  it("shows the operator the resident's responders from the registry, with the key safe masked", async () => {
    const response = await fetch(new URL(`/api/residents/${residentId}/responders`, platform.registry.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${platform.token}` },
      body: JSON.stringify({ name: 'Daughter Test', relationship: 'daughter', phone: '07700 900123' }),
    });
    expect(response.status).toBe(201);
    const [open] = await openCasesOf(residentId);
    const context = await platform.helplineGet<{
      available: boolean;
      resident: Record<string, unknown> | null;
      responders: Array<{ name: string; relationship: string; order: number }>;
    }>(`/api/cases/${open?.id}/context`);
    expect(context.available).toBe(true);
    expect(context.resident?.id).toBe(residentId);
    expect(context.responders).toEqual([
      expect.objectContaining({ name: 'Daughter Test', relationship: 'daughter', order: 1 }),
    ]);
    expect(JSON.stringify(context)).not.toMatch(/keySafeCode":"\d/);
  });

  // A second press within minutes merges into the open alert in triage (the rules' merge window),
  // so the second alert here is a different alarm from the same home.
  it('a second, distinct alarm joins the open case instead of opening another', async () => {
    // From the home's fall detector: a fall is not the pendant's to report (its kind's types).
    const fallSerial = `${serial}-FALL`;
    await platform.registryClient.createDevice({
      serial: fallSerial,
      residentId,
      kind: 'fall-detector',
      supervisionIntervalS: 3600,
    });
    const fall = new SimulatedDevice({
      serial: fallSerial,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
    });
    await fall.connect();
    try {
      await fall.send('fall.detected');
    } finally {
      await fall.close();
    }
    const cases = await waitFor(
      async () => {
        const list = await openCasesOf(residentId);
        return list[0] && list[0].alertIds.length === 2 ? list : undefined;
      },
      { what: 'the second alert to join' },
    );
    expect(cases).toHaveLength(1);
  });
});

import { randomBytes } from 'node:crypto';
import type { Case } from '@telecare/contracts';
import { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;
const serial = `E2E-CV-${Date.now().toString(36).toUpperCase()}`;

async function call<T>(base: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, base), {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${platform.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

beforeAll(async () => {
  // The registry stores key-safe codes and medical summaries only with a data key.
  platform = await startPlatform('e2ecv', { REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
  const registry = platform.registry.url;
  residentId = (
    await call<{ id: string }>(registry, '/api/residents', {
      name: 'Case View Resident',
      address: '3 Test Street, Gloucester',
      postcode: 'GL1 2AB',
      livesAlone: true,
      keySafe: 'C 2580',
      medicalSummary: 'COPD, home oxygen',
    })
  ).id;
  await call(registry, `/api/residents/${residentId}/responders`, {
    name: 'Warden Team',
    relationship: 'mobile warden',
    phone: '01452 111111',
  });
  await call(registry, '/api/devices', { serial, residentId, kind: 'pendant', supervisionIntervalS: 3600 });
  device = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    resendMs: 3_000,
  });
  await device.connect();
});

afterAll(async () => {
  await device?.close();
  await platform?.stop();
});

describe('the operator case view, end to end', () => {
  it('shows the real registry context, device health and the EVENTS timeline for a pendant case; reveal is audited in both', async () => {
    await device.send('heartbeat', { batteryPercent: 64 });
    await device.send('pendant.pressed');
    const found = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        ),
      { what: 'the pendant case', timeoutMs: 10_000 },
    );

    const context = await waitFor(
      async () => {
        const ctx = await platform.helplineGet<{
          available: boolean;
          resident: Record<string, unknown>;
          devices: Array<{ serial: string; health: { batteryPercent: number | null } | null }>;
          responders: Array<{ name: string }>;
        }>(`/api/cases/${found.id}/context`);
        return ctx.devices[0]?.health?.batteryPercent === 64 ? ctx : undefined;
      },
      { what: "the registry's device health in the case view" },
    );
    expect(context.available).toBe(true);
    expect(context.resident).toMatchObject({ id: residentId, keySafeRecorded: true });
    expect(JSON.stringify(context)).not.toContain('2580');
    expect(context.responders.map((r) => r.name)).toEqual(['Warden Team']);
    expect(context.devices[0]?.serial).toBe(serial);

    const timeline = await platform.helplineGet<{ events: Array<{ type: string; serial: string }> }>(
      `/api/cases/${found.id}/timeline`,
    );
    const types = timeline.events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['heartbeat', 'pendant.pressed']));
    expect(timeline.events.every((e) => e.serial === serial)).toBe(true);

    const reveal = await call<{ value: string | null }>(
      platform.helpline.url,
      `/api/cases/${found.id}/reveal`,
      {
        field: 'keySafe',
        reason: 'paramedics at the door',
      },
    );
    expect(reveal.value).toBe('C 2580');
    const audit = await call<{ reads: Array<{ field: string; caseId: string | null }> }>(
      platform.registry.url,
      `/api/residents/${residentId}/audit`,
    );
    // The admin token at the helpline is an admin on an open case; the helpline's own token asked.
    expect(audit.reads).toEqual([
      expect.objectContaining({
        field: 'keySafe',
        caseId: found.id,
        actor: { id: 'admin', role: 'admin' },
        via: { actor: 'helpline', role: 'helpline-service' },
        reason: 'paramedics at the door',
      }),
    ]);
    const detail = await platform.helplineGet<{
      events: Array<{ kind: string; data: Record<string, unknown> }>;
    }>(`/api/cases/${found.id}`);
    expect(detail.events.find((e) => e.kind === 'revealed')?.data).toMatchObject({
      field: 'keySafe',
      found: true,
      registryAudited: true,
    });
  });
});

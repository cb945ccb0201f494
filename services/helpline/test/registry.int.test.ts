import { partitionOf } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

let h: Awaited<ReturnType<typeof helplineHarness>>;
let op: { id: string; cookie: string };
let residentId: string;
let caseId: string;
const serial = `PEN-REG-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  h = await helplineHarness('hlreg');
  const registry = await h.startRegistry();
  await h.start(undefined, { REGISTRY_URL: registry.url });
  op = await h.user('rita', 'operator');
  residentId = (
    await h.registryApi('/api/residents', {
      name: 'Rose Registry',
      address: '2 Test Lane, Gloucester',
      postcode: 'GL1 1AA',
      keySafe: '1234',
      medicalSummary: 'Atrial fibrillation',
    })
  ).id;
  await h.registryApi(`/api/residents/${residentId}/responders`, {
    name: 'Sam Son',
    relationship: 'son',
    phone: '07700 900003',
  });
  await h.registryApi('/api/devices', { serial, residentId, kind: 'pendant', supervisionIntervalS: 3600 });
  await h.deviceEvent(residentId, serial, 'heartbeat', { batteryPercent: 15, mains: false });
  await h.publish(h.alert({ residentId, priority: 1, type: 'pendant.pressed' }));
  caseId = (await h.caseOf(residentId)).id;
  // Only the operator holding the case reads its key-safe code.
  const accepted = await h.api(`/api/cases/${caseId}/accept`, { method: 'POST', as: op.cookie });
  if (accepted.status !== 200) throw new Error(`accept: ${accepted.status}`);
});

afterAll(async () => {
  await h?.close();
});

describe('the case view through the real registry', () => {
  it('shows the resident without sensitive values, devices with their health, and responders', async () => {
    const ctx = await h.api(`/api/cases/${caseId}/context`, { as: op.cookie });
    expect(ctx.status).toBe(200);
    expect(ctx.json.available).toBe(true);
    expect(ctx.json.resident).toMatchObject({
      id: residentId,
      name: 'Rose Registry',
      keySafeRecorded: true,
      medicalRecorded: true,
    });
    expect(JSON.stringify(ctx.json)).not.toMatch(/1234|Atrial|keySafe"|medicalSummary"/);
    expect(ctx.json.responders).toEqual([expect.objectContaining({ name: 'Sam Son', order: 1 })]);
    // The registry's consumer of EVENTS may lag the heartbeat a little.
    await expect
      .poll(
        async () =>
          (await h.api(`/api/cases/${caseId}/context`, { as: op.cookie })).json.devices[0]?.health
            ?.batteryPercent,
      )
      .toBe(15);
    const device = (await h.api(`/api/cases/${caseId}/context`, { as: op.cookie })).json.devices[0];
    expect(device).toMatchObject({ serial, health: { mains: false, overdue: false } });
    expect(device.health.lastHeartbeatAt).toEqual(expect.any(String));
  });

  it('reveals through the registry, which audits it with the case and operator; the case records it', async () => {
    const reveal = await h.api(`/api/cases/${caseId}/reveal`, {
      method: 'POST',
      body: { field: 'medical', reason: 'paramedics asked for medication' },
      as: op.cookie,
    });
    expect(reveal.status).toBe(200);
    expect(reveal.json).toMatchObject({ field: 'medical', value: 'Atrial fibrillation' });
    const audit = await h.registryApi(`/api/residents/${residentId}/audit`);
    expect(audit.reads).toHaveLength(1);
    expect(audit.reads[0]).toMatchObject({
      field: 'medicalSummary',
      caseId,
      actor: { id: op.id, role: 'operator' },
      via: { actor: 'helpline', role: 'helpline-service' },
      reason: 'paramedics asked for medication',
    });
    const events = (await h.detail(caseId)).events as { kind: string; actor: string; data: object }[];
    const revealed = events.filter((e) => e.kind === 'revealed');
    expect(revealed).toEqual([
      expect.objectContaining({
        actor: op.id,
        data: {
          field: 'medical',
          found: true,
          registryAudited: true,
          reason: 'paramedics asked for medication',
        },
      }),
    ]);
    expect(JSON.stringify(events)).not.toContain('Atrial');
  });

  it("shows the resident's own device events of the last 24 hours, not a neighbour's on the same partition", async () => {
    let neighbour = 'res_neighbour_0';
    for (let i = 1; partitionOf(neighbour, 8) !== partitionOf(residentId, 8); i++)
      neighbour = `res_neighbour_${i}`;
    await h.deviceEvent(neighbour, 'PEN-NEIGHBOUR', 'pendant.pressed');
    await h.deviceEvent(residentId, serial, 'pendant.pressed');
    const timeline = await h.api(`/api/cases/${caseId}/timeline`, { as: op.cookie });
    expect(timeline.status).toBe(200);
    expect(timeline.json).toMatchObject({ residentId, complete: true });
    expect(timeline.json.events.map((e: { type: string }) => e.type)).toEqual([
      'heartbeat',
      'pendant.pressed',
    ]);
    expect(timeline.json.events.every((e: { serial: string }) => e.serial === serial)).toBe(true);
    expect(timeline.json.scanned).toBeGreaterThanOrEqual(3);
    expect(Date.parse(timeline.json.to) - Date.parse(timeline.json.from)).toBe(24 * 3600_000);
  });

  it("names the open cases' residents for the queue, only for those who may see cases, never in case events", async () => {
    const stranger = `res_noone${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId: stranger, priority: 2, type: 'flood.detected' }));
    await h.caseOf(stranger);
    const names = await h.api('/api/queue/names', { as: op.cookie });
    expect(names.status).toBe(200);
    // A resident the registry does not know stays a resident id.
    expect(names.json).toEqual({
      names: { [residentId]: 'Rose Registry' },
      // The postcode's district (GL1 1AA), to group and filter the queue.
      districts: { [residentId]: 'GL1' },
      complete: false,
    });
    const installer = await h.user('ian', 'installer');
    expect((await h.api('/api/queue/names', { as: installer.cookie })).status).toBe(403);
    expect((await h.api('/api/queue/names', { as: '' })).status).toBe(401);
    expect(JSON.stringify((await h.detail(caseId)).events)).not.toContain('Rose Registry');
  });

  it('opens a case for a resident the registry does not know, and says so in words an operator can act on', async () => {
    await h.publish(h.alert({ residentId: 'res_nobody_known', priority: 1, type: 'pendant.pressed' }));
    const unknown = (await h.caseOf('res_nobody_known')).id;
    const ctx = await h.api(`/api/cases/${unknown}/context`, { as: op.cookie });
    expect(ctx.status).toBe(200);
    expect(ctx.json).toMatchObject({ available: false, resident: null, devices: [], responders: [] });
    expect(ctx.json.message).not.toMatch(/\b404\b/);
    expect(ctx.json.message).toMatch(/no resident res_nobody_known/);
    const targets = await h.api(`/api/cases/${unknown}/call-targets`, { as: op.cookie });
    expect(targets.json.message).toMatch(/no resident res_nobody_known/);
    expect(targets.json.targets).toEqual([expect.objectContaining({ party: 'emergency' })]);
  });

  it('keeps working when the registry is down: the view says so, a reveal is refused but recorded', async () => {
    await h.stopRegistry();
    // The queue keeps the names it had for a minute.
    expect((await h.api('/api/queue/names', { as: op.cookie })).json.names).toEqual({
      [residentId]: 'Rose Registry',
    });
    const ctx = await h.api(`/api/cases/${caseId}/context`, { as: op.cookie });
    expect(ctx.status).toBe(200);
    expect(ctx.json).toMatchObject({ available: false, resident: null, devices: [], responders: [] });
    expect(ctx.json.message).toMatch(/registry is not reachable/);
    const reveal = await h.api(`/api/cases/${caseId}/reveal`, {
      method: 'POST',
      body: { field: 'keySafe' },
      as: op.cookie,
    });
    expect(reveal.json).toMatchObject({ value: null, message: 'the registry is not reachable' });
    const events = (await h.detail(caseId)).events as { kind: string; data: { field?: string } }[];
    expect(events.filter((e) => e.kind === 'revealed').at(-1)?.data).toEqual({
      field: 'keySafe',
      found: false,
      registryAudited: false,
    });
    // The timeline comes from EVENTS, not the registry.
    const timeline = await h.api(`/api/cases/${caseId}/timeline`, { as: op.cookie });
    expect(timeline.json.events).toHaveLength(2);
    // The case itself can still be worked.
    expect(
      (
        await h.api(`/api/cases/${caseId}/notes`, {
          method: 'POST',
          body: { text: 'registry down, called the resident' },
          as: op.cookie,
        })
      ).status,
    ).toBe(201);
  });
});

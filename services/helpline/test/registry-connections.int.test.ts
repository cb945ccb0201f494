import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

/**
 * The registry caps the sockets one client address holds open (HTTP_CONNECTIONS_PER_ADDRESS), and
 * the helpline is one address however many operators it serves: a case view asks for the resident,
 * devices, responders, each device's health and the numbers to call, all at once. The helpline
 * keeps its own sockets to the registry under HELPLINE_REGISTRY_CONNECTIONS, so a busy night's
 * case views never find the registry refusing it.
 */
let h: Awaited<ReturnType<typeof helplineHarness>>;
let op: { id: string; cookie: string };
let registryUrl: string;
const caseIds: string[] = [];
const DEVICES = 8;
const CAP = 6;

beforeAll(async () => {
  h = await helplineHarness('hlregconn');
  const registry = await h.startRegistry({ HTTP_CONNECTIONS_PER_ADDRESS: String(CAP) });
  registryUrl = registry.url;
  await h.start(undefined, { REGISTRY_URL: registry.url, HELPLINE_REGISTRY_CONNECTIONS: '2' });
  op = await h.user('rhoda', 'operator');
  for (let home = 0; home < 3; home++) {
    const residentId = (
      await h.registryApi('/api/residents', {
        name: `Resident ${home}`,
        address: `${home} Test Lane, Gloucester`,
        postcode: 'GL1 1AA',
      })
    ).id as string;
    await h.registryApi(`/api/residents/${residentId}/responders`, {
      name: 'Sam Son',
      relationship: 'son',
      phone: '07700 900003',
    });
    for (let d = 0; d < DEVICES; d++)
      await h.registryApi('/api/devices', {
        serial: `PEN-RC-${home}-${d}-${Date.now().toString(36).toUpperCase()}`,
        residentId,
        kind: 'pendant',
        supervisionIntervalS: 3600,
      });
    await h.publish(h.alert({ residentId, priority: 1, type: 'pendant.pressed' }));
    caseIds.push((await h.caseOf(residentId)).id);
  }
});

afterAll(async () => {
  await h?.close();
});

describe("the helpline's sockets to the registry", () => {
  it('stay under the registry cap while case views ask for everything at once', async () => {
    const views = await Promise.all(
      caseIds.flatMap((id) => [
        h.api(`/api/cases/${id}/context`, { as: op.cookie }),
        h.api(`/api/cases/${id}/call-targets`, { as: op.cookie }),
      ]),
    );
    for (const view of views) expect(view.status).toBe(200);
    const contexts = views.filter((_, i) => i % 2 === 0);
    for (const ctx of contexts) {
      expect(ctx.json.message).toBeUndefined();
      expect(ctx.json.available).toBe(true);
      expect(ctx.json.devices, JSON.stringify(ctx.json)).toHaveLength(DEVICES);
    }
    for (const targets of views.filter((_, i) => i % 2 === 1))
      expect(targets.json.targets.map((t: { party: string }) => t.party)).toContain('responder');
    const metrics = await (await fetch(`${registryUrl}/metrics`)).text();
    const refused = metrics
      .split('\n')
      .filter((l) => l.startsWith('http_connections_refused_total{reason="per-address"'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/ 0$/);
  });
});

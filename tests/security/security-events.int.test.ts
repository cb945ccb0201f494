import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { names, SecurityEvent } from '@telecare/contracts';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Security events are stored and logged by the helpline; other services and supervisors' tools
// follow them on NATS as they are raised.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let nc: NatsConnection;
let sub: Subscription;
const seen: SecurityEvent[] = [];

beforeAll(async () => {
  p = await startRegistryAndHelpline('secevents');
  nc = await connect({ servers: servers.natsUrl, name: 'security-events-test' });
  sub = nc.subscribe(names(p.ns).subjects.securityEvents);
  void (async () => {
    for await (const message of sub) seen.push(SecurityEvent.parse(message.json()));
  })();
  await nc.flush();
});

afterAll(async () => {
  sub?.unsubscribe();
  await nc?.close();
  await p?.close();
});

describe('security events on NATS', () => {
  it('a refused reveal is published on <namespace>.security.events with the stored id, ids only', async () => {
    expect(names(p.ns).subjects.securityEvents).toBe(`${p.ns}.security.events`);
    const residentId = await p.resident('Followed Resident', 'KS-F-1966');
    const caseId = await p.caseFor(residentId);
    const eve = await p.user('eve@example.org', 'operator');
    const refused = await p.helplineCall('POST', `/api/cases/${caseId}/reveal`, {
      as: eve.cookie,
      body: { field: 'keySafe' },
    });
    expect(refused.status).toBe(403);

    await waitFor(() => seen.some((e) => e.userId === eve.id), { what: 'the security event on NATS' });
    const published = seen.filter((e) => e.userId === eve.id);
    expect(published).toEqual([
      expect.objectContaining({ service: 'helpline', kind: 'reveal-refused', userId: eve.id, caseId }),
    ]);
    const supervisor = await p.user('sally@example.org', 'supervisor');
    const listed = await p.helplineCall('GET', '/api/security-events', { as: supervisor.cookie });
    const stored = (listed.json.events as { id: string; userId: string }[]).find((e) => e.userId === eve.id);
    expect(published[0]?.id).toBe(stored?.id);
    expect(JSON.stringify(published)).not.toMatch(/Followed Resident|KS-F-1966|eve@example\.org/);
  });
});

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
  // A short lease, so that a lost leases bucket shows within the test.
  platform = await startPlatform('e2elost', { TRIAGE_LEASE_TTL_S: '3' });
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

  it('a press after every bucket was lost too still reaches the case, past triage’s lease time, and the device map is written again', async () => {
    const n = names(platform.namespace);
    const jsm = await jetstreamManager(nc);
    // A rule set put through the API (per-resident settings live in it): its only record is a bucket.
    const rules = (await (
      await fetch(new URL('/api/rules', platform.triage.url), {
        headers: { authorization: `Bearer ${platform.token}` },
      })
    ).json()) as { ruleSet: { version: number } };
    const version = rules.ruleSet.version + 1;
    await platform.putRules({ ...rules.ruleSet, version });
    for (const bucket of Object.values(n.kv)) await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
    // Past the lease time: triage keeps its partitions only if its leases bucket is made again.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    await device.send('pendant.pressed');
    await waitFor(
      async () =>
        (await platform.helplineGet<Array<Case & { presses?: number }>>('/api/cases?state=open')).find(
          (c) => c.residentId === residentId,
        )?.presses === 3,
      { what: 'the third press in the case', timeoutMs: 60_000, intervalMs: 200 },
    );
    // The registry wrote the device map again from PostgreSQL.
    const map = await jsm.streams.info(`KV_${n.kv.deviceMap}`);
    expect(map.state.messages).toBeGreaterThanOrEqual(1);
    // Triage wrote back the rule set it had in force, so a triage started now runs it too.
    const stored = await waitFor(
      async () => {
        const entry = await jsm.streams
          .getMessage(`KV_${n.kv.triageRules}`, { last_by_subj: `$KV.${n.kv.triageRules}.in-force` })
          .catch(() => null);
        return entry ? (entry.json() as { ruleSet: { version: number } }) : undefined;
      },
      { what: 'the rule set written back' },
    );
    expect(stored.ruleSet.version).toBe(version);
  }, 120_000);
});

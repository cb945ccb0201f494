import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names } from '@telecare/contracts';
import { SimulatedDevice } from '@telecare/simulators';
import { OwnNatsCluster, servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * Scale-out on the engines we have: every service on a three-node JetStream cluster with R3 streams
 * and buckets (TELECARE_STREAM_REPLICAS=3, as `infra/nats/` runs production), and the node that
 * leads EVENTS killed (SIGKILL) while pendants are being pressed. Every press a device saw
 * acknowledged must become exactly one case; the services move to the surviving nodes by
 * themselves, and the killed node catches up when it comes back.
 */
const RESIDENTS = 12;

let cluster: OwnNatsCluster;
let platform: RunningPlatform;
let nc: NatsConnection;
const devices: Array<{ residentId: string; device: SimulatedDevice }> = [];

beforeAll(async () => {
  cluster = await OwnNatsCluster.start(3);
  platform = await startPlatform('cluster', { NATS_URL: cluster.url, TELECARE_STREAM_REPLICAS: '3' });
  nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const stamp = Date.now().toString(36).toUpperCase();
  for (let i = 0; i < RESIDENTS; i++) {
    const resident = await platform.registryClient.createResident({
      name: `Cluster Resident ${i}`,
      address: `${i} Test Street, Gloucester`,
      postcode: 'GL1 2AB',
      phone: '01452 000000',
      livesAlone: true,
    });
    const serial = `CLU-${stamp}-${i}`;
    await platform.registryClient.createDevice({
      serial,
      residentId: resident.id,
      kind: 'pendant',
      supervisionIntervalS: 3600,
    });
    const device = new SimulatedDevice({
      serial,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
      resendMs: 1_000,
      resendMaxMs: 2_000,
    });
    await device.connect();
    devices.push({ residentId: resident.id, device });
  }
}, 120_000);

afterAll(async () => {
  for (const { device } of devices) await device.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await platform?.stop().catch(() => undefined);
  await cluster?.destroy();
}, 60_000);

describe('a three-node NATS cluster with R3 streams', () => {
  it('keeps every acknowledged press when the node leading EVENTS is killed under load', async () => {
    const n = names(platform.namespace);
    const jsm = await jetstreamManager(nc);
    const events = await jsm.streams.info(n.streams.events);
    expect(events.config.num_replicas).toBe(3);
    const leader = cluster.indexOf(events.cluster?.leader ?? '');
    expect(leader).toBeGreaterThanOrEqual(0);

    // Half the presses before the kill, half while the cluster elects a new leader.
    const half = RESIDENTS / 2;
    const acked: Array<Promise<unknown>> = [];
    for (const [i, { device }] of devices.entries()) {
      if (i === half) await cluster.killNode(leader);
      acked.push(device.send('pendant.pressed'));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all(acked);

    const openCases = async () =>
      (await platform.helplineGet<Case[]>('/api/cases?state=open')).filter((c) =>
        devices.some((d) => d.residentId === c.residentId),
      );
    const cases = await waitFor(
      async () => {
        const found = await openCases();
        return new Set(found.map((c) => c.residentId)).size === RESIDENTS ? found : undefined;
      },
      { what: 'a case for every acknowledged press', timeoutMs: 60_000, intervalMs: 250 },
    );
    // One case per press: nothing lost, nothing doubled by a publish retried across the failover.
    expect(cases).toHaveLength(RESIDENTS);
    for (const c of cases) expect(c.alertIds).toHaveLength(1);

    // The killed node comes back and catches up: the stream is whole on three copies again.
    await cluster.startNode(leader);
    await waitFor(
      async () => {
        const info = await jsm.streams.info(n.streams.events);
        const replicas = info.cluster?.replicas ?? [];
        return replicas.length === 2 && replicas.every((r) => r.current) ? true : undefined;
      },
      { what: 'the restarted node to be current again', timeoutMs: 60_000, intervalMs: 500 },
    );
  }, 180_000);
});

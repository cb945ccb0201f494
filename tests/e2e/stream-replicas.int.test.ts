import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import { loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import {
  BUCKET_MAX_VALUE_BYTES,
  bucketBytes,
  createBucket,
  ensureStreams,
  StreamReplicasError,
  streamBytes,
} from '@telecare/platform';
import { loadRegistryConfig, startRegistry } from '@telecare/registry';
import { cleanupNamespace, OwnNatsServer, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { loadTriageConfig, startTriage } from '@telecare/triage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * TELECARE_STREAM_REPLICAS reaches every stream and KV bucket the services create: on the single
 * test server they are R1, and asking for more copies than there are servers stops a service at
 * start-up with a message naming the setting (the cluster of infra/nats/ takes 3). So does
 * TELECARE_JETSTREAM_MAX_BYTES: each stream is bounded by its share of the store, so EVENTS filling
 * it gives up its oldest events instead of JetStream refusing every write, and a store the server
 * cannot reserve stops a service at start-up with a message naming the setting.
 */
const ns = uniqueNamespace('replicas');
const tooMany = uniqueNamespace('replicas3');
let nc: NatsConnection;

/** Every stream (KV buckets included) whose name carries the namespace. */
async function streamsOf(namespace: string): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc);
  const found = new Map<string, number>();
  for await (const info of jsm.streams.list())
    if (info.config.name.toLowerCase().includes(namespace))
      found.set(info.config.name, info.config.num_replicas);
  return found;
}

async function removeAll(namespace: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of (await streamsOf(namespace)).keys()) await jsm.streams.delete(name).catch(() => false);
  await cleanupNamespace(namespace);
}

beforeAll(async () => {
  nc = await connect({ servers: servers.natsUrl, name: 'replicas-test' });
});

afterAll(async () => {
  await removeAll(ns);
  await removeAll(tooMany);
  await nc?.close();
});

describe('stream and bucket replicas', { timeout: 60_000 }, () => {
  it('every stream and bucket the services create carries TELECARE_STREAM_REPLICAS (1 here) and its share of TELECARE_JETSTREAM_MAX_BYTES', async () => {
    const env = serviceEnv(ns, {
      TELECARE_STREAM_REPLICAS: '1',
      TELECARE_JETSTREAM_MAX_BYTES: '1GB',
      REGISTRY_PORT: '0',
      TRIAGE_PORT: '0',
      GATEWAY_MQTT_PORT: '0',
    });
    const registry = await startRegistry(loadRegistryConfig(env));
    const triage = await startTriage(loadTriageConfig(env));
    const gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    await Promise.all([gateway.close(), triage.close(), registry.close()]);

    const made = await streamsOf(ns);
    const n = names(ns);
    for (const stream of [n.streams.events, n.streams.alerts, n.streams.deadletter, n.streams.security])
      expect(made.get(stream)).toBe(1);
    for (const bucket of [n.kv.deviceMap, n.kv.dc09Accounts, n.kv.triageRules])
      expect(made.get(`KV_${bucket}`)).toBe(1);
    expect([...made.values()].every((replicas) => replicas === 1)).toBe(true);

    const jsm = await jetstreamManager(nc);
    const shares = streamBytes(1024 ** 3);
    const bound = async (stream: string) => (await jsm.streams.info(stream)).config.max_bytes;
    expect(await bound(n.streams.events)).toBe(shares.events);
    expect(await bound(n.streams.alerts)).toBe(shares.alerts);
    expect(await bound(n.streams.deadletter)).toBe(shares.deadletter);
    expect(await bound(n.streams.security)).toBe(shares.security);
    // Shown, with how full it is.
    const events = `\\{stream="${n.streams.events}"[^}]*\\}`;
    expect(metrics).toMatch(new RegExp(`nats_stream_max_bytes${events} ${shares.events}\n`));
    expect(metrics).toMatch(new RegExp(`nats_stream_bytes${events} \\d+`));
    // So is every bucket, by its part of the store, and its values where their size is known.
    const parts = bucketBytes(1024 ** 3);
    for (const kind of [
      'deviceMap',
      'dc09Accounts',
      'triageRules',
      'triageTimers',
      'triageLeases',
    ] as const) {
      const { config } = await jsm.streams.info(`KV_${n.kv[kind]}`);
      expect(config.max_bytes, kind).toBe(parts[kind]);
      expect(config.max_msg_size, kind).toBe(BUCKET_MAX_VALUE_BYTES[kind] ?? -1);
    }
    const map = `\\{stream="KV_${n.kv.deviceMap}"[^}]*\\}`;
    expect(metrics).toMatch(new RegExp(`nats_stream_max_bytes${map} ${parts.deviceMap}\n`));
  });

  it('a store the server cannot reserve stops a service at start-up, naming TELECARE_JETSTREAM_MAX_BYTES', async () => {
    const small = await OwnNatsServer.start('jsstore-small', { maxFileStore: '16MB' });
    try {
      // Unset, the store is the 4GB default, which a 16MB server cannot reserve.
      const env = serviceEnv(uniqueNamespace('jsstore'), { NATS_URL: small.url, GATEWAY_MQTT_PORT: '0' });
      await expect(startGatewayMqtt(loadGatewayMqttConfig(env))).rejects.toThrow(
        /cannot bound stream .*EVENTS.*insufficient storage.*TELECARE_JETSTREAM_MAX_BYTES/,
      );
      // Told the store, it starts.
      const told = await startGatewayMqtt(
        loadGatewayMqttConfig({ ...env, TELECARE_JETSTREAM_MAX_BYTES: '16MB' }),
      );
      await told.close();
    } finally {
      await small.destroy();
    }
  });

  it('more replicas than servers fails with a message naming the setting, for a stream and a bucket', async () => {
    const jsm = await jetstreamManager(nc);
    const stream = ensureStreams(jsm, names(tooMany), ['events'], { replicas: 3 });
    await expect(stream).rejects.toBeInstanceOf(StreamReplicasError);
    await expect(stream).rejects.toThrow(
      /stream .*EVENTS with 3 replicas.*replicas > 1 not supported in non-clustered mode.*TELECARE_STREAM_REPLICAS/,
    );
    await expect(
      createBucket(nc, `${tooMany}-probe`, { kind: 'triageLeases', history: 1 }, { replicas: 3 }),
    ).rejects.toThrow(/KV bucket .* with 3 replicas.*TELECARE_STREAM_REPLICAS/);
    await expect(jsm.streams.info(`KV_${tooMany}-probe`)).rejects.toThrow();
  });

  it('a service asked for 3 copies on a single server does not start', async () => {
    const env = serviceEnv(tooMany, { TELECARE_STREAM_REPLICAS: '3', GATEWAY_MQTT_PORT: '0' });
    await expect(startGatewayMqtt(loadGatewayMqttConfig(env))).rejects.toThrow(/TELECARE_STREAM_REPLICAS/);
    expect((await streamsOf(tooMany)).size).toBe(0);
  });
});

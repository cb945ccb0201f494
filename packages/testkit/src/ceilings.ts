import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import mqtt from 'mqtt';

/** What the servers allow on this machine, now: the ceiling a run's own rates are read against. */
export interface Ceilings {
  /** Event-sized JetStream publishes a second, each waited for its PubAck. */
  readonly jsPerS: number;
  /** QoS 1 messages a second through Mosquitto, one client to another. */
  readonly mqttPerS: number;
  /** The figures as one line, for a run's output. */
  readonly line: string;
}

/**
 * The ceilings measured in the run itself, before its load: event-sized (600-byte) JetStream
 * publishes to a stream of the namespace's own, each waited for its PubAck, `window` at once; and
 * QoS 1 messages through `mqttUrl` from one client to another (a publish waits for its PUBACK,
 * `window` at once, and the count is reached when the subscriber has them all).
 */
export async function measureCeilings(
  nc: NatsConnection,
  namespace: string,
  mqttUrl: string,
  options: { count?: number; window?: number } = {},
): Promise<Ceilings> {
  const window = options.window ?? 64;
  const count = options.count ?? 6000;
  const jsm = await jetstreamManager(nc);
  const stream = `${names(namespace).streams.events}_CEILING`;
  await jsm.streams.add({ name: stream, subjects: [`${namespace}.ceiling.>`] });
  const js = jetstream(nc);
  const payload = JSON.stringify({ pad: 'x'.repeat(600) });
  let next = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < count) {
          const i = next++;
          await js.publish(`${namespace}.ceiling.${i % 8}`, payload, { msgID: `c-${i}` });
        }
      }),
    );
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
  }
  const jsPerS = count / ((performance.now() - t0) / 1000);

  const pub = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId: `${namespace}-ceil-pub` });
  const sub = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5, clientId: `${namespace}-ceil-sub` });
  try {
    for (const c of [pub, sub]) (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    await sub.subscribeAsync(`${namespace}/ceiling/#`, { qos: 1 });
    let received = 0;
    const all = new Promise<void>((resolve) =>
      sub.on('message', () => {
        if (++received === count) resolve();
      }),
    );
    next = 0;
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < count) {
          const i = next++;
          await pub.publishAsync(`${namespace}/ceiling/${i % 64}`, payload, { qos: 1 });
        }
      }),
    );
    await all;
    const mqttPerS = count / ((performance.now() - t1) / 1000);
    return {
      jsPerS,
      mqttPerS,
      line: `ceiling: raw JetStream acknowledged publish ${Math.round(jsPerS)}/s, Mosquitto QoS 1 end to end ${Math.round(mqttPerS)}/s (${count} messages, ${window} in flight)`,
    };
  } finally {
    await pub.endAsync();
    await sub.endAsync();
  }
}

/** A rate as a fraction of a ceiling, two decimals: `0.23`. */
export const ofCeiling = (perS: number, ceilingPerS: number): number =>
  Math.round((perS / ceilingPerS) * 100) / 100;

import { type DeviceTopics, deviceTopics } from '@telecare/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { Resender, readAck, resendPolicy, type SentEvent } from './resend.ts';

export interface PoolOptions {
  mqttUrl: string;
  namespace?: string;
  /** MQTT connections shared by every serial (each serial always uses the same one). */
  connections?: number;
  /** The first wait before a resend (default 5 s); it doubles up to `resendMaxMs` (default a minute). */
  resendMs?: number;
  resendMaxMs?: number;
  /** Give up after this many sends. Unset: resend until acked or closed. */
  maxAttempts?: number;
  clientPrefix?: string;
}

/**
 * Many devices over a few MQTT connections, for runs of thousands of homes: each serial publishes
 * on its own topics and resends until acked, as a device would, but shares a connection. (With
 * per-device credentials a device may write only its own topics; the pool is for brokers that
 * let the simulator in as one client, like the anonymous test broker.)
 */
export class MqttPool {
  readonly topics: DeviceTopics;
  readonly #clients: MqttClient[] = [];
  readonly #resend: Resender;
  readonly #registered = new Set<string>();

  constructor(private readonly options: PoolOptions) {
    this.topics = deviceTopics(options.namespace);
    this.#resend = new Resender(resendPolicy({ ...options, defaultResendMs: 5_000 }));
  }

  async connect(): Promise<void> {
    const count = Math.max(1, this.options.connections ?? 4);
    const prefix = this.options.clientPrefix ?? `simpool-${process.pid}-${Date.now().toString(36)}`;
    for (let i = 0; i < count; i++) {
      const client = await mqtt.connectAsync(this.options.mqttUrl, {
        protocolVersion: 5,
        clientId: `${prefix}-${i}`,
        clean: true,
        reconnectPeriod: 1_000,
        connectTimeout: 10_000,
      });
      // Small request/answer packets: without this each one can wait ~40 ms on a delayed ACK.
      const noDelay = () => (client.stream as { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(true);
      noDelay();
      client.on('connect', noDelay);
      client.on('message', (topic, payload) => this.#onAck(topic, payload));
      this.#clients.push(client);
    }
  }

  #clientOf(serial: string): MqttClient {
    let h = 0;
    for (let i = 0; i < serial.length; i++) h = (Math.imul(h, 31) + serial.charCodeAt(i)) >>> 0;
    const client = this.#clients[h % this.#clients.length];
    if (!client) throw new Error('the pool is not connected');
    return client;
  }

  /** Subscribes to the ack topics of these serials (in batches: one SUBSCRIBE per 500). */
  async register(serials: readonly string[]): Promise<void> {
    const byClient = new Map<MqttClient, string[]>();
    for (const serial of serials) {
      if (this.#registered.has(serial)) continue;
      this.#registered.add(serial);
      const client = this.#clientOf(serial);
      const topics = byClient.get(client) ?? [];
      topics.push(this.topics.ack(serial));
      byClient.set(client, topics);
    }
    await Promise.all(
      [...byClient].map(async ([client, topics]) => {
        for (let i = 0; i < topics.length; i += 500)
          await client.subscribeAsync(topics.slice(i, i + 500), { qos: 1 });
      }),
    );
  }

  /** Publishes one event payload for a serial and resolves when the platform has stored it. */
  send(serial: string, id: string, payload: string): Promise<SentEvent> {
    const key = `${serial}\u0000${id}`;
    if (this.#resend.has(key))
      return Promise.reject(new Error(`event ${id} of ${serial} is already in flight`));
    const client = this.#clientOf(serial);
    return this.#resend.send(key, id, () => client.publish(this.topics.events(serial), payload, { qos: 1 }));
  }

  #onAck(topic: string, raw: Buffer): void {
    const parts = topic.split('/');
    const serial = parts[parts.length - 2];
    const read = readAck(raw);
    if (serial && read) this.#resend.settle(`${serial}\u0000${read.id}`, read.ack);
  }

  get inFlight(): number {
    return this.#resend.size;
  }

  async close(): Promise<void> {
    this.#resend.closeAll();
    await Promise.all(this.#clients.splice(0).map((c) => c.endAsync()));
  }
}

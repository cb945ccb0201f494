import { randomUUID } from 'node:crypto';
import { type DeviceTopics, deviceTopics, type EventType } from '@telecare/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { Resender, readAck, resendPolicy, type SentEvent } from './resend.ts';

export { AckTimeoutError, EventRejectedError, type SentEvent } from './resend.ts';

/** An event `send` built and the platform stored: its device time as sent and its type too. */
export interface SentDeviceEvent extends SentEvent {
  readonly at: string;
  readonly type: EventType;
}

export interface DeviceOptions {
  serial: string;
  mqttUrl: string;
  namespace?: string;
  /** Resend an unacknowledged event after this long at first (default 2 s); the wait doubles each time. */
  resendMs?: number;
  /** The longest wait between resends (default a minute). */
  resendMaxMs?: number;
  /** Give up after this many sends. Unset: resend until acked or closed, as a real device does. */
  maxAttempts?: number;
  username?: string;
  password?: string;
}

/** The broker URL without the user and password it may carry. */
export function withoutLogin(url: string): string {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/**
 * A device as the v1 MQTT contract describes it: publishes events at QoS 1, resends each one with
 * the same id until the platform acks it on the ack topic, and keeps a retained status with a
 * last will.
 */
export class SimulatedDevice {
  readonly serial: string;
  readonly topics: DeviceTopics;
  #client: MqttClient | undefined;
  #seq = 0;
  readonly #resend: Resender;

  constructor(private readonly options: DeviceOptions) {
    this.serial = options.serial;
    this.topics = deviceTopics(options.namespace);
    this.#resend = new Resender(resendPolicy({ ...options, defaultResendMs: 2_000 }));
  }

  async connect(): Promise<void> {
    // A login in the URL (the gateway's, in a stack's MQTT_URL) would win over the device's own.
    const url =
      this.options.username === undefined ? this.options.mqttUrl : withoutLogin(this.options.mqttUrl);
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      // The broker binds a device's login to this id (its serial): no other id is accepted.
      clientId: this.serial,
      clean: true,
      reconnectPeriod: 1_000,
      connectTimeout: 5_000,
      username: this.options.username,
      password: this.options.password,
      will: { topic: this.topics.status(this.serial), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    // Small request/answer packets: without this each one can wait ~40 ms on a delayed ACK.
    const noDelay = () => (client.stream as { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(true);
    noDelay();
    client.on('connect', noDelay);
    client.on('message', (_topic, payload) => this.#onAck(payload));
    await client.subscribeAsync(this.topics.ack(this.serial), { qos: 1 });
    await client.publishAsync(this.topics.status(this.serial), 'online', { qos: 1, retain: true });
    this.#client = client;
  }

  /**
   * Sends one event and resolves when the platform has stored it, with the time and type it sent:
   * with its id they name the stored event (`eventIdFor(serial, sent.id, sent.at, sent.type)`).
   */
  send(
    type: EventType,
    data: Record<string, unknown> = {},
    /** `traceparent`: the W3C trace context to send in the MQTT v5 user property of that name. */
    options: { id?: string; at?: Date; traceparent?: string } = {},
  ): Promise<SentDeviceEvent> {
    const id = options.id ?? randomUUID();
    const at = (options.at ?? new Date()).toISOString();
    const payload = JSON.stringify({ id, type, at, seq: this.#seq++, data });
    return this.sendRaw(id, payload, options.traceparent).then((sent) => ({ ...sent, at, type }));
  }

  /** Sends a raw payload (for tests of bad input) and waits for its ack or rejection. */
  sendRaw(id: string, payload: string | Buffer, traceparent?: string): Promise<SentEvent> {
    const client = this.#requireClient();
    if (this.#resend.has(id)) return Promise.reject(new Error(`event ${id} is already waiting for its ack`));
    const text = payload.toString();
    const properties = traceparent ? { properties: { userProperties: { traceparent } } } : {};
    return this.#resend.send(id, id, () =>
      client.publish(this.topics.events(this.serial), text, { qos: 1, ...properties }),
    );
  }

  #onAck(raw: Buffer): void {
    const read = readAck(raw);
    if (read) this.#resend.settle(read.id, read.ack);
  }

  #requireClient(): MqttClient {
    if (!this.#client) throw new Error(`device ${this.serial} is not connected`);
    return this.#client;
  }

  async close(): Promise<void> {
    this.#resend.closeAll();
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      await client
        .publishAsync(this.topics.status(this.serial), 'offline', { qos: 1, retain: true })
        .catch(() => undefined);
      await client.endAsync();
    }
  }
}

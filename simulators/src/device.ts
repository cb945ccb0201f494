import { randomUUID } from 'node:crypto';
import { type DeviceAck, type DeviceTopics, deviceTopics, type EventType } from '@telecare/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { type ResendPolicy, resendDelay, resendPolicy } from './resend.ts';

/** The platform refused an event; a real device would log this and not resend. */
export class EventRejectedError extends Error {
  constructor(
    readonly eventId: string,
    readonly reason: string,
  ) {
    super(`event ${eventId} rejected: ${reason}`);
    this.name = 'EventRejectedError';
  }
}

/** No ack arrived: the device was closed first, or it gave up after `maxAttempts` sends. */
export class AckTimeoutError extends Error {
  constructor(
    readonly eventId: string,
    readonly attempts: number,
  ) {
    super(`event ${eventId} not acknowledged after ${attempts} attempts`);
    this.name = 'AckTimeoutError';
  }
}

export interface SentEvent {
  readonly id: string;
  readonly attempts: number;
  /** Milliseconds from first send to the `stored` ack. */
  readonly latencyMs: number;
}

interface Pending {
  payload: string;
  attempts: number;
  firstSentAt: number;
  timer: NodeJS.Timeout | undefined;
  resolve(sent: SentEvent): void;
  reject(err: Error): void;
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
  readonly #pending = new Map<string, Pending>();
  readonly #resend: ResendPolicy;

  constructor(private readonly options: DeviceOptions) {
    this.serial = options.serial;
    this.topics = deviceTopics(options.namespace);
    this.#resend = resendPolicy({ ...options, defaultResendMs: 2_000 });
  }

  async connect(): Promise<void> {
    const client = await mqtt.connectAsync(this.options.mqttUrl, {
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

  /** Sends one event and resolves when the platform has stored it. */
  send(
    type: EventType,
    data: Record<string, unknown> = {},
    options: { id?: string; at?: Date } = {},
  ): Promise<SentEvent> {
    const id = options.id ?? randomUUID();
    const payload = JSON.stringify({
      id,
      type,
      at: (options.at ?? new Date()).toISOString(),
      seq: this.#seq++,
      data,
    });
    return this.sendRaw(id, payload);
  }

  /** Sends a raw payload (for tests of bad input) and waits for its ack or rejection. */
  sendRaw(id: string, payload: string | Buffer): Promise<SentEvent> {
    const client = this.#requireClient();
    if (this.#pending.has(id)) return Promise.reject(new Error(`event ${id} is already waiting for its ack`));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        payload: payload.toString(),
        attempts: 0,
        firstSentAt: performance.now(),
        timer: undefined,
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      const attempt = () => {
        if (pending.attempts >= this.#resend.maxAttempts) {
          this.#pending.delete(id);
          reject(new AckTimeoutError(id, pending.attempts));
          return;
        }
        pending.attempts++;
        client.publish(this.topics.events(this.serial), pending.payload, { qos: 1 });
        pending.timer = setTimeout(attempt, resendDelay(this.#resend, pending.attempts));
      };
      attempt();
    });
  }

  #onAck(raw: Buffer): void {
    let ack: DeviceAck;
    try {
      ack = JSON.parse(raw.toString()) as DeviceAck;
    } catch {
      return;
    }
    const id = 'id' in ack ? ack.id : undefined;
    if (!id) return;
    const pending = this.#pending.get(id);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    if ('stored' in ack) {
      pending.resolve({ id, attempts: pending.attempts, latencyMs: performance.now() - pending.firstSentAt });
    } else {
      pending.reject(new EventRejectedError(id, ack.rejected));
    }
  }

  #requireClient(): MqttClient {
    if (!this.#client) throw new Error(`device ${this.serial} is not connected`);
    return this.#client;
  }

  async close(): Promise<void> {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new AckTimeoutError(id, pending.attempts));
    }
    this.#pending.clear();
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

import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from './logger.ts';
import { plaintextHosts, type TlsCa, warnPlaintext } from './tls.ts';

export type { IPublishPacket, MqttClient };

/**
 * mqtt.js's `handleMessage` hook: the client sends PUBACK (QoS 1) only when `callback` is
 * called without an error, and processes the next incoming packet only after it is called.
 * Calling back with an error sends no PUBACK, so the broker redelivers on the next session.
 */
export type MqttMessageHandler = (packet: IPublishPacket, callback: (error?: Error) => void) => void;

/**
 * MQTT v5 client that reconnects every second for ever. Services pass `clean: false` and a
 * stable `clientId` so the broker keeps their QoS 1 messages while they are down. `mqtts:` and
 * `wss:` are verified against `tls` (TELECARE_TLS_CA; unset, the public CAs), the name checked.
 */
export async function connectMqtt(
  options: {
    url: string;
    clientId: string;
    logger: Logger;
    /**
     * Installed before the connection opens: a persistent session delivers the messages queued
     * while the client was away right after CONNACK, and they must not meet mqtt.js's default
     * handler (which acknowledges at once).
     */
    handleMessage?: MqttMessageHandler;
    tls?: TlsCa | undefined;
    /** The setting `url` comes from, for the warning of a plaintext connection (`MQTT_URL` unless said). */
    setting?: string;
  } & Pick<
    IClientOptions,
    'clean' | 'will' | 'username' | 'password' | 'properties' | 'customHandleAcks' | 'queueQoSZero'
  >,
): Promise<MqttClient> {
  const { url, logger, handleMessage, tls, setting, ...rest } = options;
  const log = logger.child({ component: 'mqtt' });
  const secure = ['mqtts:', 'wss:'].includes(new URL(url).protocol);
  warnPlaintext(
    log,
    setting ?? 'MQTT_URL',
    plaintextHosts([url], () => secure),
    'mqtts:// verified against TELECARE_TLS_CA',
  );
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    reconnectPeriod: 1_000,
    connectTimeout: 5_000,
    keepalive: 30,
    // A ping every keepalive whatever the traffic, instead of the ping timer cleared and set again
    // on every PUBACK received: a gateway receives one per device ack it sends.
    reschedulePings: false,
    resubscribe: true,
    ...(mqttDebugWanted(process.env.DEBUG) ? {} : { log: quiet }),
    ...rest,
    // Said, not left to mqtt.js's defaults: the server's certificate and name are always checked.
    ...(secure ? { rejectUnauthorized: true, ...(tls ? { ca: tls.pem } : {}) } : {}),
    manualConnect: true,
  });
  if (handleMessage) client.handleMessage = handleMessage;
  client.on('connect', () => disableNagle(client));
  // The same settling rules as mqtt.connectAsync.
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      client.off('connect', onConnect);
      client.off('end', onEnd);
      client.off('error', onError);
      if (error) {
        client.end();
        reject(error);
      } else resolve();
    };
    const onConnect = () => settle();
    const onEnd = () => settle();
    const onError = (error: Error) => settle(error);
    client.on('connect', onConnect);
    client.on('end', onEnd);
    client.on('error', onError);
    client.connect();
  });
  client.on('offline', () => log.warn('mqtt offline'));
  client.on('reconnect', () => log.info('mqtt reconnecting'));
  client.on('error', (err) => log.warn({ err: err.message }, 'mqtt error'));
  log.info({ clientId: options.clientId }, 'connected to mqtt');
  return client;
}

const quiet = (): void => {};

/**
 * Whether `DEBUG` (the `debug` package's variable) asks for mqtt.js's own log. Unless it does, the
 * client gets a no-op log: mqtt.js calls its log dozens of times per message, and through `debug`
 * each call gathers its arguments into an array even when nothing is printed (3 KB of garbage
 * per device event in the gateway).
 */
export function mqttDebugWanted(debug: string | undefined): boolean {
  return (debug ?? '')
    .split(/[\s,]+/)
    .some((name) => name !== '' && !name.startsWith('-') && /^(\*|mqttjs)/.test(name));
}

/**
 * Alarm traffic is many small packets each waiting on an answer; with Nagle's algorithm on, a
 * small write waits for the peer's delayed ACK (about 40 ms on Linux). mqtt.js does not turn it
 * off, so every connection of ours does, on each (re)connect.
 */
export function disableNagle(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
  stream?.setNoDelay?.(true);
}

/** MQTT v5 DISCONNECT reason code: another connection logged in with this client id. */
export const SESSION_TAKEN_OVER = 0x8e;

/**
 * Watches a persistent-session client for being kicked. A broker hands a session to whichever
 * connection last logged in with its client id, so a second process with the same id (a
 * misconfigured twin, or a login the broker failed to bind to its id) and this client take the
 * session from each other in turn: each is connected most of the time, yet the messages queued
 * for the session go to either. Connected is therefore not healthy: `stable` is false while the
 * session was taken over, or an established connection dropped `maxDrops` times, within the last
 * `windowMs`. Mosquitto 2.0 closes the old connection without the MQTT v5 DISCONNECT "session
 * taken over" (newer brokers send it), so repeated drops are the sign that covers both.
 */
export class MqttSessionWatch {
  readonly #log: Logger;
  readonly #clientId: string;
  readonly #windowMs: number;
  readonly #maxDrops: number;
  readonly #now: () => number;
  readonly #takeovers: number[] = [];
  readonly #drops: number[] = [];
  #up = true;
  #ending = false;

  constructor(
    client: MqttClient,
    options: {
      clientId: string;
      logger: Logger;
      windowMs?: number;
      maxDrops?: number;
      now?: () => number;
      /** Called on each drop of an established connection (a metric). */
      onDrop?: (takenOver: boolean) => void;
    },
  ) {
    this.#log = options.logger.child({ component: 'mqtt-session' });
    this.#clientId = options.clientId;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxDrops = options.maxDrops ?? 3;
    this.#now = options.now ?? Date.now;
    let takenOver = false;
    client.on('disconnect', (packet) => {
      if (packet.reasonCode !== SESSION_TAKEN_OVER) return;
      takenOver = true;
      this.#takeovers.push(this.#now());
      this.#log.error(
        { clientId: this.#clientId, takeoversInWindow: this.#recent(this.#takeovers).length },
        'mqtt session taken over: another connection logged in with this client id; the broker must bind the id to this client’s user',
      );
    });
    client.on('connect', () => {
      this.#up = true;
    });
    client.on('end', () => {
      this.#ending = true;
    });
    client.on('close', () => {
      // A refused reconnect attempt is not a drop: the broker being away shows as not connected.
      if (this.#ending || !this.#up) return;
      this.#up = false;
      this.#drops.push(this.#now());
      options.onDrop?.(takenOver);
      takenOver = false;
      const drops = this.#recent(this.#drops).length;
      if (drops >= this.#maxDrops) {
        this.#log.error(
          { clientId: this.#clientId, drops, windowS: this.#windowMs / 1000 },
          'mqtt connection keeps being dropped: another connection may be logging in with this client id and taking the session over; not ready until it holds',
        );
      }
    });
  }

  get stable(): boolean {
    return this.reason === undefined;
  }

  /** Why the session is not stable, for /readyz; undefined when it is. */
  get reason(): string | undefined {
    const windowS = Math.round(this.#windowMs / 1000);
    const takeovers = this.#recent(this.#takeovers).length;
    if (takeovers > 0) {
      return `session taken over ${takeovers} time(s) in the last ${windowS} s: another connection uses client id ${this.#clientId}`;
    }
    const drops = this.#recent(this.#drops).length;
    if (drops >= this.#maxDrops) {
      return `connection dropped ${drops} times in the last ${windowS} s: another connection may be taking over the session of client id ${this.#clientId}`;
    }
    return undefined;
  }

  /** The times within the window (older ones are forgotten). */
  #recent(times: number[]): number[] {
    const since = this.#now() - this.#windowMs;
    while (times.length > 0 && (times[0] ?? 0) < since) times.shift();
    return times;
  }
}

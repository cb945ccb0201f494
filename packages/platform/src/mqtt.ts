import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from './logger.ts';

export type { IPublishPacket, MqttClient };

/**
 * mqtt.js's `handleMessage` hook: the client sends PUBACK (QoS 1) only when `callback` is
 * called without an error, and processes the next incoming packet only after it is called.
 * Calling back with an error sends no PUBACK, so the broker redelivers on the next session.
 */
export type MqttMessageHandler = (packet: IPublishPacket, callback: (error?: Error) => void) => void;

/**
 * MQTT v5 client that reconnects every second for ever. Services pass `clean: false` and a
 * stable `clientId` so the broker keeps their QoS 1 messages while they are down.
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
  } & Pick<IClientOptions, 'clean' | 'will' | 'username' | 'password' | 'properties' | 'customHandleAcks'>,
): Promise<MqttClient> {
  const { url, logger, handleMessage, ...rest } = options;
  const log = logger.child({ component: 'mqtt' });
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    reconnectPeriod: 1_000,
    connectTimeout: 5_000,
    keepalive: 30,
    resubscribe: true,
    ...rest,
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

/**
 * Alarm traffic is many small packets each waiting on an answer; with Nagle's algorithm on, a
 * small write waits for the peer's delayed ACK (about 40 ms on Linux). mqtt.js does not turn it
 * off, so every connection of ours does, on each (re)connect.
 */
export function disableNagle(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
  stream?.setNoDelay?.(true);
}

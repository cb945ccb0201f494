import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from './logger.ts';

export type { MqttClient };

/**
 * MQTT v5 client that reconnects every second for ever. Services pass `clean: false` and a
 * stable `clientId` so the broker keeps their QoS 1 messages while they are down.
 */
export async function connectMqtt(
  options: { url: string; clientId: string; logger: Logger } & Pick<
    IClientOptions,
    'clean' | 'will' | 'username' | 'password' | 'properties' | 'customHandleAcks'
  >,
): Promise<MqttClient> {
  const { url, logger, ...rest } = options;
  const log = logger.child({ component: 'mqtt' });
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    reconnectPeriod: 1_000,
    connectTimeout: 5_000,
    keepalive: 30,
    resubscribe: true,
    ...rest,
  });
  client.on('offline', () => log.warn('mqtt offline'));
  client.on('reconnect', () => log.info('mqtt reconnecting'));
  client.on('error', (err) => log.warn({ err: err.message }, 'mqtt error'));
  log.info({ clientId: options.clientId }, 'connected to mqtt');
  return client;
}

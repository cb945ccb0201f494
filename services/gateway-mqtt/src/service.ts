import type { AddressInfo } from 'node:net';
import { names } from '@telecare/contracts';
import {
  type Clock,
  connectMqtt,
  connectNats,
  createHttpServer,
  createLogger,
  createMetrics,
  ensureStreams,
  jetstream,
  jetstreamManager,
  Lifecycle,
  type Logger,
  MqttSessionWatch,
  natsAnswers,
  systemClock,
} from '@telecare/platform';
import { type GatewayMqttConfig, gatewayClientId } from './config.ts';
import { openDeviceMapMirror } from './device-map.ts';
import { DeviceEventGateway, SERVICE } from './gateway.ts';
import { createGatewayMetrics } from './metrics.ts';

/**
 * How long the broker keeps the gateway's session (subscription and queued QoS 1 messages)
 * while it is away. MQTT v5 ends a session at disconnect unless this is set; a week covers
 * any outage an operator would leave unattended. Devices resend until acked in any case.
 */
const SESSION_EXPIRY_S = 7 * 24 * 60 * 60;

export interface GatewayMqttHandle {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the MQTT gateway: device events from Mosquitto to the EVENTS stream, each acked to
 * its device only once JetStream stored it; bad input dead-lettered and answered.
 */
export async function startGatewayMqtt(
  config: GatewayMqttConfig,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<GatewayMqttHandle> {
  const logger = options.logger ?? createLogger(SERVICE, config.LOG_LEVEL);
  const clock = options.clock ?? systemClock;
  const n = names(config.TELECARE_NAMESPACE);
  const clientId = gatewayClientId(config);
  const lifecycle = new Lifecycle(logger);
  try {
    const registry = createMetrics(SERVICE);
    const metrics = createGatewayMetrics(registry);

    const nc = await connectNats({ url: config.NATS_URL, name: SERVICE, logger });
    lifecycle.add('nats', () => nc.drain());
    const replicas = { replicas: config.TELECARE_STREAM_REPLICAS };
    await ensureStreams(await jetstreamManager(nc), n, ['events', 'deadletter'], replicas);
    const js = jetstream(nc);

    const deviceMap = await openDeviceMapMirror(nc, n, logger, replicas);
    lifecycle.add('device-map', () => deviceMap.close());

    const gateway = new DeviceEventGateway({
      names: n,
      js,
      deviceMap,
      metrics,
      clock,
      partitions: config.TELECARE_PARTITIONS,
      logger,
      concurrency: config.GATEWAY_MQTT_CONCURRENCY,
      maxPending: config.GATEWAY_MQTT_MAX_PENDING,
      shedAt: config.GATEWAY_MQTT_SHED_AT,
      deviceRate: { ratePerS: config.GATEWAY_MQTT_DEVICE_RATE, burst: config.GATEWAY_MQTT_DEVICE_BURST },
    });
    const mqtt = await connectMqtt({
      url: config.MQTT_URL,
      clientId,
      logger,
      clean: false,
      properties: {
        sessionExpiryInterval: SESSION_EXPIRY_S,
        maximumPacketSize: config.GATEWAY_MQTT_MAX_PACKET_BYTES,
      },
      handleMessage: gateway.handleMessage,
    });
    gateway.attach(mqtt);
    const session = new MqttSessionWatch(mqtt, {
      clientId,
      logger,
      onDrop: (takenOver) => metrics.drops.inc({ cause: takenOver ? 'taken-over' : 'closed' }),
    });
    // Closed after the gateway drained, so the acks it published still go out (end waits for them).
    lifecycle.add('mqtt', () => mqtt.endAsync());
    lifecycle.add('gateway', () => gateway.drain());
    // The session keeps the subscription; subscribing again is harmless and covers a new session.
    await mqtt.subscribeAsync({ [n.mqtt.allEvents]: { qos: 1 }, [n.mqtt.allStatus]: { qos: 1 } });

    const app = createHttpServer({
      logger,
      metrics: registry,
      readiness: {
        mqtt: () => mqtt.connected,
        mqttSession: () => session.stable,
        nats: () => natsAnswers(nc),
      },
      details: () => {
        const reason = session.reason;
        return reason === undefined ? {} : { mqttSession: reason };
      },
    });
    await app.listen({ port: config.GATEWAY_MQTT_PORT, host: config.HTTP_HOST });
    // Closes first: it serves only health and metrics, and the gateway's work arrives over MQTT.
    lifecycle.add('http', () => app.close());
    const { port } = app.server.address() as AddressInfo;
    const url = `http://${config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST}:${port}`;
    logger.info({ url, clientId, subscription: n.mqtt.allEvents }, 'gateway-mqtt started');
    return { port, url, close: () => lifecycle.close() };
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

import {
  connectMqtt,
  type DefinedService,
  defineService,
  JetStreamPublisher,
  MqttSessionWatch,
  type ServiceContext,
  type ServiceHandle,
} from '@telecare/platform';
import {
  type GatewayMqttConfig,
  gatewayClientId,
  gatewaySessionExpiryS,
  gatewaySubscriptions,
  loadGatewayMqttConfig,
} from './config.ts';
import { openDeviceMapMirror } from './device-map.ts';
import { DeviceEventGateway, SERVICE } from './gateway.ts';
import { createGatewayMetrics, registerQueuedMessages } from './metrics.ts';

export type GatewayMqttHandle = ServiceHandle<object>;

/**
 * The MQTT gateway: device events from Mosquitto to the EVENTS stream, each acked to its device
 * only once JetStream stored it; bad input dead-lettered and answered.
 */
export const gatewayMqttService: DefinedService<GatewayMqttConfig, object> = defineService({
  name: SERVICE,
  config: () => loadGatewayMqttConfig(),
  streams: ['events', 'deadletter'],
  // Every device event is one JetStream request; a stack captured for each cost more than the
  // gateway's own work on it. A failed store's error keeps its class, without the caller's frames.
  natsAsyncTraces: false,
  http: (config: GatewayMqttConfig) => ({ port: config.GATEWAY_MQTT_PORT, host: config.HTTP_HOST }),
  start: wireGatewayMqtt,
});

export const startGatewayMqtt: DefinedService<GatewayMqttConfig, object>['start'] = gatewayMqttService.start;

async function wireGatewayMqtt(service: ServiceContext<GatewayMqttConfig>): Promise<object> {
  const { config, logger, clock, lifecycle } = service;
  const n = service.names;
  const clientId = gatewayClientId(config);
  const metrics = createGatewayMetrics(service.metrics);
  const { nc, js } = await service.nats();
  // Closed after the gateway drained (closers run in reverse): its last stores still get answers.
  const publisher = new JetStreamPublisher(nc);
  lifecycle.add('publisher', () => publisher.close());
  const deviceMap = await openDeviceMapMirror(nc, n, logger, { replicas: config.TELECARE_STREAM_REPLICAS });
  lifecycle.add('device-map', () => deviceMap.close());

  const gateway = new DeviceEventGateway({
    names: n,
    js,
    publisher,
    deviceMap,
    metrics,
    clock,
    partitions: config.TELECARE_PARTITIONS,
    logger,
    concurrency: config.GATEWAY_MQTT_CONCURRENCY,
    maxPending: config.GATEWAY_MQTT_MAX_PENDING,
    shedAt: config.GATEWAY_MQTT_SHED_AT,
    deviceRate: { ratePerS: config.GATEWAY_MQTT_DEVICE_RATE, burst: config.GATEWAY_MQTT_DEVICE_BURST },
    alarmReserve: {
      ratePerS: config.GATEWAY_MQTT_DEVICE_ALARM_RATE,
      burst: config.GATEWAY_MQTT_DEVICE_ALARM_BURST,
    },
  });
  registerQueuedMessages(service.metrics, () => gateway.waiting);
  const mqtt = await connectMqtt({
    url: config.MQTT_URL,
    clientId,
    logger,
    clean: false,
    properties: {
      // How long the broker keeps the session (subscriptions and queued QoS 1 messages) while the
      // gateway is away: MQTT v5 ends it at disconnect unless this is set. Devices resend until
      // acked in any case.
      sessionExpiryInterval: gatewaySessionExpiryS(config),
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
  // In a shared group the broker hands each message to one member (services/gateway-mqtt README).
  const topics = gatewaySubscriptions(config);
  await mqtt.subscribeAsync({ [topics.events]: { qos: 1 }, [topics.status]: { qos: 1 } });

  service.ready('mqtt', () => mqtt.connected);
  service.ready('mqttSession', () => session.stable);
  service.details(() => {
    const reason = session.reason;
    return reason === undefined ? {} : { mqttSession: reason };
  });
  logger.info(
    { clientId, subscription: topics.events, sharedGroup: config.GATEWAY_MQTT_SHARED_GROUP },
    'gateway-mqtt subscribed',
  );
  return {};
}

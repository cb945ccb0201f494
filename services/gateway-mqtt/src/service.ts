import {
  connectMqtt,
  type DefinedService,
  defineService,
  JetStreamPublisher,
  type Logger,
  type MqttClient,
  MqttSessionWatch,
  type ServiceContext,
  type ServiceHandle,
  securityEventPublisher,
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
import { BROKER_LOG_TOPIC } from './takeover.ts';

interface GatewayMqttOwn {
  /**
   * The device map entry the gateway holds for a device now (for tests and diagnostics: whether it
   * took a registry change, test mode on or off, before a device's message depends on it), or
   * undefined when it holds none.
   */
  device(serial: string): GatewayDeviceView | undefined;
}

/** What the gateway holds of a device: the part of its device map entry a message is handled by. */
export interface GatewayDeviceView {
  readonly serial: string;
  readonly state: string;
  readonly testMode: boolean;
  /** The registry's `updatedAt` of the entry held. */
  readonly updatedAt: string;
}

export type GatewayMqttHandle = ServiceHandle<GatewayMqttOwn>;

/**
 * The MQTT gateway: device events from Mosquitto to the EVENTS stream, each acked to its device
 * only once JetStream stored it; bad input dead-lettered and answered.
 */
export const gatewayMqttService: DefinedService<GatewayMqttConfig, GatewayMqttOwn> = defineService({
  name: SERVICE,
  config: () => loadGatewayMqttConfig(),
  streams: ['events', 'deadletter', 'security'],
  // Taken before NATS is connected: a second instance on the folder is refused having connected to nothing.
  stateDir: (config) => config.GATEWAY_STATE_DIR,
  // Every device event is one JetStream request; a stack captured for each cost more than the
  // gateway's own work on it. A failed store's error keeps its class, without the caller's frames.
  natsAsyncTraces: false,
  http: (config: GatewayMqttConfig) => ({ port: config.GATEWAY_MQTT_PORT, host: config.HTTP_HOST }),
  start: wireGatewayMqtt,
});

export const startGatewayMqtt: DefinedService<GatewayMqttConfig, GatewayMqttOwn>['start'] =
  gatewayMqttService.start;

async function wireGatewayMqtt(service: ServiceContext<GatewayMqttConfig>): Promise<GatewayMqttOwn> {
  const { config, logger, clock, lifecycle } = service;
  const n = service.names;
  const clientId = gatewayClientId(config);
  const metrics = createGatewayMetrics(service.metrics);
  const { nc, js } = await service.nats();
  // Closed after the gateway drained (closers run in reverse): its last stores still get answers.
  const publisher = new JetStreamPublisher(nc);
  lifecycle.add('publisher', () => publisher.close());
  // Stored on SECURITY for the helpline's list, held while NATS is away (and kept in the state
  // folder, if set, through a crash); drained after the gateway stopped raising and before the
  // publisher closes (closers run in reverse).
  const securityEvents = securityEventPublisher(publisher, n, logger.child({ component: 'security' }), {
    metrics: service.metrics,
    stateFolder: service.stateFolder,
  });
  lifecycle.add('security-events', () => securityEvents.close());
  const deviceMap = await openDeviceMapMirror(nc, n, logger, {
    replicas: config.TELECARE_STREAM_REPLICAS,
    storeBytes: config.TELECARE_JETSTREAM_MAX_BYTES,
  });
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
    deadLetters: {
      ratePerS: config.GATEWAY_MQTT_DEVICE_DEAD_LETTERS_PER_MINUTE / 60,
      burst: config.GATEWAY_MQTT_DEVICE_DEAD_LETTER_BURST,
    },
    takeovers: {
      windowMs: config.GATEWAY_MQTT_TAKEOVER_WINDOW_S * 1000,
      takeovers: config.GATEWAY_MQTT_TAKEOVERS,
    },
    // Stored on SECURITY for the helpline's list (`securityEventPublisher`), not only told.
    securityEvent: securityEvents.raise,
  });
  registerQueuedMessages(service.metrics, () => gateway.waiting);
  const mqtt = await connectMqtt({
    url: config.MQTT_URL,
    clientId,
    logger,
    tls: config.TELECARE_TLS_CA,
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
  if (config.GATEWAY_MQTT_SHARED_GROUP !== undefined && new URL(config.MQTT_URL).username !== '') {
    await refuseUncheckedSubscriptions(mqtt, n.mqtt.root, clientId);
  }
  // The session keeps the subscription; subscribing again is harmless and covers a new session.
  // In a shared group the broker hands each message to one member (services/gateway-mqtt README).
  const topics = gatewaySubscriptions(config);
  await mqtt.subscribeAsync({ [topics.events]: { qos: 1 }, [topics.status]: { qos: 1 } });
  await followBrokerLog(mqtt, logger);

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
  return {
    device: (serial) => {
      const entry = deviceMap.held(serial);
      return entry
        ? { serial: entry.serial, state: entry.state, testMode: entry.testMode, updatedAt: entry.updatedAt }
        : undefined;
    },
  };
}

/**
 * The broker's connection log, from which a device's login taken over again and again is found
 * (`src/takeover.ts`). Every member of a shared group reads it whole (not shared): they reach the
 * same finding and store one event. A broker that does not publish its log (`log_dest topic`) or
 * does not let the gateway read it leaves takeovers unseen: said at start, not fatal.
 */
async function followBrokerLog(mqtt: MqttClient, logger: Logger): Promise<void> {
  const refused = await mqtt.subscribeAsync(BROKER_LOG_TOPIC, { qos: 0 }).then(
    (granted) => granted.some((g) => g.qos >= 0x80),
    () => true,
  );
  if (refused)
    logger.warn(
      { topic: BROKER_LOG_TOPIC },
      "the broker refused its connection log: a device login used from two places will not be seen (infra/mosquitto/README.md, 'Takeovers')",
    );
}

/**
 * A shared group is safe only on a broker that checks subscriptions: one that lets any client
 * subscribe to anything (Mosquitto's static ACL file checks deliveries only) lets a device join the
 * group as `$share/<group>/…`, and then hands it its turn of every device's messages and drops them,
 * for it may not read them: neither stored nor answered. So a member with a login (a broker with
 * credentials) first subscribes to a filter no gateway role grants; granted, it refuses to start.
 * An anonymous broker is open to everyone anyway and is not checked.
 */
async function refuseUncheckedSubscriptions(mqtt: MqttClient, root: string, clientId: string): Promise<void> {
  const probe = `${root.slice(0, root.lastIndexOf('/'))}/subscription-check/${clientId}`;
  const granted = await mqtt.subscribeAsync(probe, { qos: 0 }).then(
    () => true,
    () => false,
  );
  if (!granted) return;
  await mqtt.unsubscribeAsync(probe).catch(() => undefined);
  throw new Error(
    `GATEWAY_MQTT_SHARED_GROUP: the broker does not check subscriptions (it granted ${probe}, which the gateway's role does not hold), so any device could join the shared group and the broker would drop the messages it hands it; run a shared group on the dynamic-security broker (infra/mosquitto/README.md)`,
  );
}

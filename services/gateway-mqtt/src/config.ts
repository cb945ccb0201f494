import { names } from '@telecare/contracts';
import { ConfigError, commonEnv, gatewayStateEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const gatewayMqttEnv = {
  ...commonEnv,
  GATEWAY_MQTT_PORT: port(7050),
  HTTP_HOST: z.string().default('127.0.0.1'),
  ...gatewayStateEnv,
  /**
   * Stable across restarts: the broker keeps this client's session (subscription and queued
   * QoS 1 messages) while the gateway is down. Two gateways must never share one. Unset, it is
   * `<namespace>-gateway-mqtt`, the id the broker binds to the gateway's user
   * (infra/mosquitto/README.md); set it only to match a broker that binds another.
   */
  MQTT_CLIENT_ID: z.string().min(1).max(128).optional(),
  /**
   * Several gateways splitting the devices' messages between them: each subscribes to the events
   * and status topics as a member of this MQTT v5 shared subscription group
   * (`$share/<group>/<topic>`), and the broker hands each message to one member. Every member
   * needs an MQTT_CLIENT_ID of its own, and the broker must check subscriptions (the dynamic-security
   * one; the static ACL file lets any device join the group): a member with a login refuses to start
   * on a broker that does not. Unset: the gateway alone takes every message.
   */
  GATEWAY_MQTT_SHARED_GROUP: z
    .string()
    .regex(/^[^/+#\s]{1,64}$/, 'a share name: 1–64 characters, none of / + # or white space')
    .optional(),
  /**
   * How long the broker keeps the gateway's session (its subscriptions and the QoS 1 messages
   * queued for it) after it disconnects. Unset: a week alone, so what devices publish while the
   * gateway is down waits for it; 0 in a shared group, so that the broker stops handing messages
   * to a member that is gone (it would queue a share of every device's messages for it).
   */
  GATEWAY_MQTT_SESSION_EXPIRY_S: z.coerce.number().int().min(0).max(4_294_967_295).optional(),
  /** Device messages stored at once (most urgent first, each device's in order). */
  GATEWAY_MQTT_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
  /**
   * Messages admitted before the gateway stops reading from the broker. Large, so that a storm is
   * read into the queue (a few hundred bytes each) and an alarm behind it can overtake it.
   */
  GATEWAY_MQTT_MAX_PENDING: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  /**
   * Waiting messages past which maintenance and record-only events (heartbeats, movement, low
   * battery) are shed unanswered, so their devices resend them later; alarms and urgent reports are
   * never shed. About a second or two of the gateway's work: what is admitted is stored before its
   * device's resend timer fires.
   */
  GATEWAY_MQTT_SHED_AT: z.coerce.number().int().min(1).max(1_000_000).default(2_000),
  /**
   * Messages per second one device may send, after a burst of GATEWAY_MQTT_DEVICE_BURST; beyond it
   * the gateway drops the device's messages unanswered (it resends later). A real device sends a few
   * a minute. 0 turns the limit off (alarms included).
   */
  GATEWAY_MQTT_DEVICE_RATE: z.coerce.number().min(0).default(20),
  GATEWAY_MQTT_DEVICE_BURST: z.coerce.number().int().min(1).default(100),
  /**
   * A reserve for alarms (P1) once the device's rate is spent: per second, after a burst of
   * GATEWAY_MQTT_DEVICE_ALARM_BURST. A device flooding heartbeats still gets its press through; a
   * login flooding presses, each with a new id, is held to the device's rate plus this. A press
   * dropped is resent by its device until acked. 0 turns the reserve's limit off.
   */
  GATEWAY_MQTT_DEVICE_ALARM_RATE: z.coerce.number().min(0).default(1),
  GATEWAY_MQTT_DEVICE_ALARM_BURST: z.coerce.number().int().min(1).default(30),
  /**
   * Dead letters one device's refused messages may write per minute, after a burst of
   * GATEWAY_MQTT_DEVICE_DEAD_LETTER_BURST. Past it a refusal is still answered and counted, but its
   * bytes are not kept: one login sending 64 KiB refusals at its device's rate would otherwise fill
   * DEADLETTER's bound within the hour and push out every other service's and device's letters.
   * 0 turns the limit off.
   */
  GATEWAY_MQTT_DEVICE_DEAD_LETTERS_PER_MINUTE: z.coerce.number().min(0).default(6),
  GATEWAY_MQTT_DEVICE_DEAD_LETTER_BURST: z.coerce.number().int().min(1).default(20),
  /**
   * A device's login taken over from another address this many times within
   * GATEWAY_MQTT_TAKEOVER_WINDOW_S, between addresses taking turns (the login comes back to an
   * address it had left), is raised as `device.login-contested` (once per window): a copied secret
   * and the real device throwing each other off the broker. Read from the broker's connection log.
   */
  GATEWAY_MQTT_TAKEOVERS: z.coerce.number().int().min(2).max(1000).default(3),
  GATEWAY_MQTT_TAKEOVER_WINDOW_S: z.coerce.number().int().min(10).max(86_400).default(600),
  /**
   * The largest MQTT packet the gateway reads (its MQTT v5 Maximum Packet Size): larger ones the
   * broker discards instead of sending, so the gateway's memory is bounded even on a broker with no
   * limit of its own. Above the 64 KiB payload limit, so that an oversized event up to this size is
   * still answered (refused) and dead-lettered (a prefix) rather than vanishing.
   */
  GATEWAY_MQTT_MAX_PACKET_BYTES: z.coerce.number().int().min(70_000).max(16_777_216).default(1_048_576),
} as const;

export type GatewayMqttConfig = z.infer<z.ZodObject<typeof gatewayMqttEnv>>;

/** The client id the gateway connects with: its own setting, else the namespace's. */
export const gatewayClientId = (config: Pick<GatewayMqttConfig, 'MQTT_CLIENT_ID' | 'TELECARE_NAMESPACE'>) =>
  config.MQTT_CLIENT_ID ?? names(config.TELECARE_NAMESPACE).mqttClientIds.gateway;

/** A week: any outage an operator would leave unattended. */
const SESSION_EXPIRY_ALONE_S = 7 * 24 * 60 * 60;

/** The gateway's session expiry: its own setting, else a week alone and none in a shared group. */
export const gatewaySessionExpiryS = (
  config: Pick<GatewayMqttConfig, 'GATEWAY_MQTT_SESSION_EXPIRY_S' | 'GATEWAY_MQTT_SHARED_GROUP'>,
): number =>
  config.GATEWAY_MQTT_SESSION_EXPIRY_S ??
  (config.GATEWAY_MQTT_SHARED_GROUP === undefined ? SESSION_EXPIRY_ALONE_S : 0);

/** The topic filters the gateway subscribes to: `$share/<group>/…` in a shared group. */
export function gatewaySubscriptions(
  config: Pick<GatewayMqttConfig, 'GATEWAY_MQTT_SHARED_GROUP' | 'TELECARE_NAMESPACE'>,
): { events: string; status: string } {
  const { mqtt } = names(config.TELECARE_NAMESPACE);
  const group = config.GATEWAY_MQTT_SHARED_GROUP;
  const shared = (filter: string) => (group === undefined ? filter : `$share/${group}/${filter}`);
  return { events: shared(mqtt.allEvents), status: shared(mqtt.allStatus) };
}

export function loadGatewayMqttConfig(
  env: Record<string, string | undefined> = process.env,
): GatewayMqttConfig {
  const config = loadConfig('gateway-mqtt', gatewayMqttEnv, env);
  // Members sharing one client id would take the one session from each other in turn.
  if (config.GATEWAY_MQTT_SHARED_GROUP !== undefined && config.MQTT_CLIENT_ID === undefined) {
    throw new ConfigError('gateway-mqtt', [
      'MQTT_CLIENT_ID: required with GATEWAY_MQTT_SHARED_GROUP (each member of the group needs an id of its own)',
    ]);
  }
  return config;
}

import { names } from '@telecare/contracts';
import { commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const gatewayMqttEnv = {
  ...commonEnv,
  GATEWAY_MQTT_PORT: port(7050),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /**
   * Stable across restarts: the broker keeps this client's session (subscription and queued
   * QoS 1 messages) while the gateway is down. Two gateways must never share one. Unset, it is
   * `<namespace>-gateway-mqtt`, the id the broker binds to the gateway's user
   * (infra/mosquitto/README.md); set it only to match a broker that binds another.
   */
  MQTT_CLIENT_ID: z.string().min(1).max(128).optional(),
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

export function loadGatewayMqttConfig(
  env: Record<string, string | undefined> = process.env,
): GatewayMqttConfig {
  return loadConfig('gateway-mqtt', gatewayMqttEnv, env);
}

import { commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const gatewayMqttEnv = {
  ...commonEnv,
  GATEWAY_MQTT_PORT: port(7050),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /**
   * Stable across restarts: the broker keeps this client's session (subscription and queued
   * QoS 1 messages) while the gateway is down. Two gateways must never share one.
   */
  MQTT_CLIENT_ID: z.string().min(1).max(128).default('telecare-gateway-mqtt'),
  /** Device messages stored at once (most urgent first, each device's in order). */
  GATEWAY_MQTT_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
  /**
   * Messages admitted before the gateway stops reading from the broker. Large, so that a storm is
   * read into the queue (a few hundred bytes each) and an alarm behind it can overtake it.
   */
  GATEWAY_MQTT_MAX_PENDING: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
} as const;

export type GatewayMqttConfig = z.infer<z.ZodObject<typeof gatewayMqttEnv>>;

export function loadGatewayMqttConfig(
  env: Record<string, string | undefined> = process.env,
): GatewayMqttConfig {
  return loadConfig('gateway-mqtt', gatewayMqttEnv, env);
}

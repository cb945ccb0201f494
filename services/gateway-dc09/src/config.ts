import { commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const gatewayDc09Env = {
  ...commonEnv,
  /** HTTP: /healthz, /readyz, /metrics. */
  GATEWAY_DC09_PORT: port(7045),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** DC-09 receiver, TCP and UDP on the same port number (0 = any free port each). */
  DC09_PORT: port(7040),
  DC09_HOST: z.string().default('127.0.0.1'),
  /** How far a sender's clock may be behind ours before its message is refused (NAK with our time). */
  DC09_WINDOW_BEHIND_S: z.coerce.number().int().min(0).default(40),
  /** How far it may be ahead. */
  DC09_WINDOW_AHEAD_S: z.coerce.number().int().min(0).default(20),
  /** A TCP connection with nothing to say for this long is closed (senders reconnect). */
  DC09_IDLE_TIMEOUT_S: z.coerce.number().int().min(1).default(300),
  /**
   * How long a frame whose lookup or store failed (NATS, JetStream or the account bucket away) is
   * retried, with backoff, before it is left unanswered for the sender to send again.
   */
  DC09_RETRY_S: z.coerce.number().min(0).max(120).default(10),
  DC09_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(2000),
} as const;

export type GatewayDc09Config = z.infer<z.ZodObject<typeof gatewayDc09Env>>;

export function loadGatewayDc09Config(
  env: Record<string, string | undefined> = process.env,
): GatewayDc09Config {
  return loadConfig('gateway-dc09', gatewayDc09Env, env);
}

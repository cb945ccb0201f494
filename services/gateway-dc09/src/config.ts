import { commonEnv, gatewayStateEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';

export const gatewayDc09Env = {
  ...commonEnv,
  /** HTTP: /healthz, /readyz, /metrics. */
  GATEWAY_DC09_PORT: port(7045),
  HTTP_HOST: z.string().default('127.0.0.1'),
  ...gatewayStateEnv,
  /** DC-09 receiver, TCP and UDP on the same port number (0 = any free port each). */
  DC09_PORT: port(7040),
  DC09_HOST: z.string().default('127.0.0.1'),
  /** How far a sender's clock may be behind ours before its message is refused (NAK with our time). */
  // Bounded: a wide window lets a recorded frame be replayed long after it was sent.
  DC09_WINDOW_BEHIND_S: z.coerce.number().int().min(0).max(3600).default(40),
  /** How far it may be ahead. */
  DC09_WINDOW_AHEAD_S: z.coerce.number().int().min(0).max(3600).default(20),
  /**
   * How far behind a frame carrying a life-critical alarm may be and still be taken, late (`0`: not
   * at all). A panel that lost its line sends its buffered events with their first timestamps, and
   * some never restamp on a NAK: its alarm from during the outage would be refused for ever. Such a
   * frame is remembered, once stored, for as long as it could be taken late: sent again it is a copy.
   */
  DC09_LATE_ALARM_S: z.coerce.number().int().min(0).max(86_400).default(3600),
  /**
   * A TCP connection that completes no frame for this long is closed (senders reconnect). Only
   * whole frames count: stray bytes do not keep a connection open.
   */
  DC09_IDLE_TIMEOUT_S: z.coerce.number().int().min(1).default(300),
  /** A frame must reach its CR within this long of its first byte, or the connection is closed. */
  DC09_FRAME_DEADLINE_S: z.coerce.number().min(0.1).max(300).default(10),
  /**
   * How long a frame whose lookup or store failed (NATS, JetStream or the account bucket away) is
   * retried, with backoff, before it is left unanswered for the sender to send again.
   */
  DC09_RETRY_S: z.coerce.number().min(0).max(120).default(10),
  /**
   * A message that comes again within this long of its last sending is a retransmission, stored
   * once: without a timestamp, the same sequence number and content, whatever its account sent
   * between; with one, the same message with nothing else from its account between. Later (or,
   * timestamped, after another message) it is a new event: a sender whose sequence restarted or
   * stands still.
   */
  DC09_RESEND_GAP_S: z.coerce.number().min(1).max(600).default(120),
  /**
   * Reply bytes a TCP connection may have waiting in memory for its sender to read. Past this the
   * connection's input is paused until the sender takes them, so a sender that writes frames and
   * never reads cannot grow our memory.
   */
  DC09_MAX_PENDING_OUTPUT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  DC09_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(2000),
  /**
   * TCP connections at once from one address, so one source cannot fill the receiver. Raise it for
   * a site that puts many dispersers behind one public address.
   */
  DC09_MAX_CONNECTIONS_PER_SOURCE: z.coerce.number().int().min(1).default(32),
  /**
   * NAKs (and refusals left unanswered) per source address and transport (a forged UDP address
   * must not spend a TCP panel's NAKs): a burst, then this many per minute.
   */
  DC09_NAK_BURST: z.coerce.number().int().min(1).default(20),
  DC09_NAK_PER_MINUTE: z.coerce.number().min(0).default(30),
  /**
   * Answers of every kind (ACK, NAK, DUH) over UDP per source address: a burst, then this many per
   * minute. A datagram's source address costs nothing to forge: copies of a recorded frame sent in a
   * panel's own address are answered ACK each time, and without a bound the receiver would send that
   * address as many answers as it was sent datagrams. Past it a frame is still stored, not answered.
   */
  DC09_UDP_REPLY_BURST: z.coerce.number().int().min(1).default(30),
  DC09_UDP_REPLIES_PER_MINUTE: z.coerce.number().min(0).default(120),
  /**
   * Dead letters of refusals from every source address together (NAKs and UDP datagrams that are
   * not frames): a burst, then this many per minute. Addresses are free to vary (or, over UDP, to
   * forge), so the per-address NAK budget alone would let a flood write a dead letter per datagram.
   * Past it a refusal is still counted and answered within its address's NAK budget.
   */
  DC09_DEAD_LETTER_BURST: z.coerce.number().int().min(1).default(200),
  DC09_DEAD_LETTERS_PER_MINUTE: z.coerce.number().min(0).default(120),
  /**
   * Events one account may have stored per second after a burst (`0`: no limit, for accelerated
   * simulations); a frame costs one per event besides its heartbeat, and may run the account into a
   * debt that holds its next frames back. Every valid frame of an account is stored; without a
   * bound, one panel's key (stolen, or a panel gone wrong) wrote EVENTS, and work for triage, as
   * fast as the gateway stores. Past it a frame is left unanswered and its sender resends it.
   */
  DC09_ACCOUNT_RATE: z.coerce.number().min(0).default(20),
  DC09_ACCOUNT_BURST: z.coerce.number().int().min(1).default(100),
  /**
   * Events of frames carrying a life-critical alarm one account may have stored past its rate: a reserve only
   * such frames spend, so a panel flooding other messages still gets its press through at once.
   */
  DC09_ACCOUNT_ALARM_RATE: z.coerce.number().min(0).default(1),
  DC09_ACCOUNT_ALARM_BURST: z.coerce.number().int().min(1).default(30),
  /**
   * `refuse`: an account with no key is answered as an unknown account is (NAK), so plain frames
   * cannot speak for it and nobody can tell which accounts exist. `allow` is for development only.
   */
  DC09_KEYLESS: z.enum(['refuse', 'allow']).default('refuse'),
} as const;

export type GatewayDc09Config = z.infer<z.ZodObject<typeof gatewayDc09Env>>;

export function loadGatewayDc09Config(
  env: Record<string, string | undefined> = process.env,
): GatewayDc09Config {
  return loadConfig('gateway-dc09', gatewayDc09Env, env);
}

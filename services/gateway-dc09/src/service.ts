import {
  createBucket,
  type DefinedService,
  defineService,
  JetStreamPublisher,
  type ServiceContext,
  type ServiceHandle,
  securityEventPublisher,
} from '@telecare/platform';
import { openDc09AccountsMirror } from './accounts.ts';
import { type GatewayDc09Config, loadGatewayDc09Config } from './config.ts';
import { type Dc09Connection, Dc09Gateway, SERVICE, STORE_ATTEMPT_TIMEOUT_MS } from './gateway.ts';
import { createDc09Metrics } from './metrics.ts';
import { SharedPadStyles } from './pad-styles.ts';
import { CLOCK_KEEP_MS, SharedPanelClocks } from './panel-clocks.ts';

interface GatewayDc09Own {
  /** Where DC-09 senders connect (TCP) and send datagrams (UDP). */
  readonly dc09: { readonly host: string; readonly tcpPort: number; readonly udpPort: number };
  /** The receiver's open TCP connections as they stand now (for tests and diagnostics; read-only). */
  connections(): Dc09Connection[];
  /**
   * The registry entry the receiver holds for an account now, without its keys (for tests and
   * diagnostics: which change of the account it answers by), or undefined when it holds none.
   */
  account(account: string): Dc09AccountView | undefined;
}

/** What the receiver holds of an account, its keys left out. */
export interface Dc09AccountView {
  readonly account: string;
  readonly serial: string;
  /** The registry's `updatedAt` of the entry held. */
  readonly updatedAt: string;
  readonly keySet: boolean;
  /** Until when the account's previous key is accepted beside its key; null: it is not. */
  readonly previousKeyUntil: string | null;
  /** The zone the account's panel clock is on (`clockZone`); null: UTC. */
  readonly clockZone: string | null;
  /** Whether the account's device is in a test call (its events go to the installer, not the queue). */
  readonly testMode: boolean;
}

/** HTTP `port` and `url` (health, metrics), and the DC-09 receiver's own ports. */
export type GatewayDc09Handle = ServiceHandle<GatewayDc09Own>;

/**
 * The DC-09 receiver: frames from IP dispersers and panels over TCP and UDP, each answered only
 * after JetStream stored every event in it (or dead-lettered what it refused).
 */
export const gatewayDc09Service: DefinedService<GatewayDc09Config, GatewayDc09Own> = defineService({
  name: SERVICE,
  config: () => loadGatewayDc09Config(),
  streams: ['events', 'deadletter', 'security'],
  // Taken before NATS is connected: a second instance on the folder is refused having connected to nothing.
  stateDir: (config) => config.GATEWAY_STATE_DIR,
  // Every frame is two JetStream stores (its event and the account's supervision heartbeat; through
  // the publisher, not the client's requests) and, for a refusal, a dead-letter request: a stack
  // captured for each request cost more than the gateway's own work on the frame.
  natsAsyncTraces: false,
  http: (config: GatewayDc09Config) => ({ port: config.GATEWAY_DC09_PORT, host: config.HTTP_HOST }),
  start: wireGatewayDc09,
});

export const startGatewayDc09: DefinedService<GatewayDc09Config, GatewayDc09Own>['start'] =
  gatewayDc09Service.start;

async function wireGatewayDc09(service: ServiceContext<GatewayDc09Config>): Promise<GatewayDc09Own> {
  const { config, logger, clock, lifecycle } = service;
  const n = service.names;
  const metrics = createDc09Metrics(service.metrics);
  const { nc, js } = await service.nats();
  // Closed after the receiver drained (closers run in reverse): its last stores still get answers.
  const publisher = new JetStreamPublisher(nc, { timeoutMs: STORE_ATTEMPT_TIMEOUT_MS });
  lifecycle.add('publisher', () => publisher.close());
  // Stored on SECURITY for the helpline's list, held while NATS is away (and kept in the state
  // folder, if set, through a crash); drained after the gateway stopped raising and before the
  // publisher closes (closers run in reverse).
  const securityEvents = securityEventPublisher(publisher, n, logger.child({ component: 'security' }), {
    metrics: service.metrics,
    stateFolder: service.stateFolder,
  });
  lifecycle.add('security-events', () => securityEvents.close());
  const accounts = await openDc09AccountsMirror(nc, n, logger, {
    replicas: config.TELECARE_STREAM_REPLICAS,
    storeBytes: config.TELECARE_JETSTREAM_MAX_BYTES,
  });
  lifecycle.add('accounts', () => accounts.close());
  // What each zoned account's panel clock was seen on, shared by every instance and kept across
  // restarts; written out once more after the receiver drained (closers run in reverse).
  const bucket = await createBucket(
    nc,
    n.kv.dc09Clocks,
    { kind: 'dc09Clocks', history: 1, ttl: CLOCK_KEEP_MS },
    { replicas: config.TELECARE_STREAM_REPLICAS, storeBytes: config.TELECARE_JETSTREAM_MAX_BYTES, logger },
  );
  const clocks = new SharedPanelClocks({
    kv: bucket,
    unavailable: (op) => metrics.panelClocksUnavailable.inc({ op }),
  });
  lifecycle.add('panel-clocks', () => clocks.close());
  // How each account's panel pads, learned from its accepted encrypted frames: in the same bucket
  // (`pad.<ACCOUNT>`), shared and kept across restarts.
  const pads = new SharedPadStyles({
    kv: bucket,
    unavailable: (op) => metrics.padStylesUnavailable.inc({ op }),
  });
  lifecycle.add('pad-styles', () => pads.close());

  const gateway = new Dc09Gateway({
    names: n,
    js,
    publisher,
    accounts,
    metrics,
    clock,
    partitions: config.TELECARE_PARTITIONS,
    window: {
      behindMs: config.DC09_WINDOW_BEHIND_S * 1000,
      aheadMs: config.DC09_WINDOW_AHEAD_S * 1000,
      lateAlarmMs: config.DC09_LATE_ALARM_S * 1000,
    },
    idleMs: config.DC09_IDLE_TIMEOUT_S * 1000,
    frameDeadlineMs: config.DC09_FRAME_DEADLINE_S * 1000,
    maxConnectionsPerSource: config.DC09_MAX_CONNECTIONS_PER_SOURCE,
    nak: { burst: config.DC09_NAK_BURST, perMinute: config.DC09_NAK_PER_MINUTE },
    udpReplies: { burst: config.DC09_UDP_REPLY_BURST, perMinute: config.DC09_UDP_REPLIES_PER_MINUTE },
    deadLetters: { burst: config.DC09_DEAD_LETTER_BURST, perMinute: config.DC09_DEAD_LETTERS_PER_MINUTE },
    accountRate: { perSecond: config.DC09_ACCOUNT_RATE, burst: config.DC09_ACCOUNT_BURST },
    alarmReserve: { perSecond: config.DC09_ACCOUNT_ALARM_RATE, burst: config.DC09_ACCOUNT_ALARM_BURST },
    keyless: config.DC09_KEYLESS,
    retryMs: config.DC09_RETRY_S * 1000,
    resendGapMs: config.DC09_RESEND_GAP_S * 1000,
    maxConnections: config.DC09_MAX_CONNECTIONS,
    maxPendingOutputBytes: config.DC09_MAX_PENDING_OUTPUT_BYTES,
    // Stored on SECURITY for the helpline's list (`securityEventPublisher`), not only told.
    securityEvent: securityEvents.raise,
    clocks,
    pads,
    logger,
  });
  const { tcpPort, udpPort } = await gateway.listen(config.DC09_HOST, config.DC09_PORT);
  lifecycle.add('receiver', () => gateway.drain());
  logger.info({ tcpPort, udpPort }, 'gateway-dc09 receiving');
  return {
    dc09: { host: config.DC09_HOST, tcpPort, udpPort },
    connections: () => gateway.connections(),
    account: (account) => {
      const entry = accounts.held(account.toUpperCase());
      return entry
        ? {
            account: entry.account,
            serial: entry.serial,
            updatedAt: entry.updatedAt,
            keySet: entry.key !== null,
            previousKeyUntil: entry.previousKey?.until ?? null,
            clockZone: entry.clockZone ?? null,
            testMode: entry.testMode,
          }
        : undefined;
    },
  };
}

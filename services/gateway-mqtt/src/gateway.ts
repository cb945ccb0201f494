import {
  type DeviceAck,
  type DeviceMapEntry,
  DeviceStatus,
  eventIdOfKey,
  mayReport,
  type Names,
  partitionOf,
  repairedAlarmDetail,
  SecurityEvent,
  TAXONOMY,
  TelecareEvent,
} from '@telecare/contracts';
import {
  activeTraceparent,
  backoffDelay,
  type Clock,
  DEAD_LETTER_MAX_RAW_BYTES,
  type IPublishPacket,
  injectTrace,
  inSpan,
  isPermanentFailure,
  type JetStreamClient,
  type JetStreamPublisher,
  LeaderElections,
  type Logger,
  type MqttClient,
  type MqttMessageHandler,
  mqttTraceContext,
  headers as natsHeaders,
  PoisonMessageError,
  publishDeadLetter,
  SpanKind,
  STORE_RETRY,
  TransientError,
  tracingEnabled,
} from '@telecare/platform';
import { AdmissionQueue, admission, isSheddable } from './admission.ts';
import type { DeviceMap } from './device-map.ts';
import { attributionOf, toTelecareEvent } from './event.ts';
import {
  type Accepted,
  MAX_PAYLOAD_BYTES,
  type Refusal,
  readDeviceMessage,
  rejectedAck,
  storedAck,
  topLevelType,
  UNDATED,
} from './intake.ts';
import type { GatewayMetrics } from './metrics.ts';
import { DeviceRateLimit } from './rate-limit.ts';
import {
  BROKER_LOG_TOPIC,
  type Contested,
  readBrokerLog,
  type TakeoverPolicy,
  TakeoverWatch,
} from './takeover.ts';
import { WriteTurn } from './write-turn.ts';

export const SERVICE = 'gateway-mqtt';

/** Status changes and refused input wait behind every alarm and report. */
const RECORD_PRIORITY = 5;
/** Life-critical alarms (DESIGN §4, P1): past the device's rate they draw on a reserve of their own. */
const ALARM_PRIORITY = 1;
/**
 * Stores an alarm may start beyond the concurrency limit. With every worker busy on a slow store
 * (a loaded JetStream or a starved process: 100–300 ms each), a press would otherwise wait for one
 * of them to finish before its own store began.
 */
const ALARM_WORKERS = 16;
/** Security events from every device together: a burst, then this many a second. */
const SECURITY_EVENT_BURST = 20;
const SECURITY_EVENTS_PER_S = 1;
/** At most one log line this often about devices over their rate, with the count dropped. */
const RATE_LOG_EVERY_MS = 10_000;

/** A message admitted from the broker, waiting for a worker. */
interface Pending {
  readonly packet: IPublishPacket;
  /** The connection generation it came on: its retries stop when that connection is gone. */
  readonly generation: number;
  /** The device serial (the topic for anything else): one device's messages run in order. */
  readonly key: string;
  readonly priority: number;
  /** The payload read at admission, so it is parsed once. */
  readonly read?: Accepted | Refusal;
  /** The payload's size when `packet` holds only its first bytes (refused as too large). */
  readonly rawSize?: number;
  /** Admitted past its device's rate as an alarm: stored only with a token of the alarm reserve. */
  readonly reserved?: true;
}

/** The life-critical types (P1), and each as it stands in a device's JSON, in bytes, for `mayBeAlarm`. */
const ALARM_TYPES: ReadonlySet<string> = new Set(
  (Object.keys(TAXONOMY) as (keyof typeof TAXONOMY)[]).filter(
    (type) => TAXONOMY[type].priority === ALARM_PRIORITY,
  ),
);
const ALARM_TYPE_BYTES: readonly Buffer[] = [...ALARM_TYPES].map((type) => Buffer.from(JSON.stringify(type)));

/**
 * Whether a device message past its rate is an alarm, without decoding it: within the size bound
 * and giving itself a life-critical type (`topLevelType`: its top-level `type`, in one pass over
 * the bytes), after a search of the bytes for such a type's name in quotes, so that anything naming
 * none costs no more. A life-critical type named anywhere else (a heartbeat's `data`) does not make
 * a message an alarm, nor spend the alarm reserve. A device writes its type as the contract has
 * it; one escaping the characters of its type or of a top-level key (valid JSON, no device does)
 * is read only within its rate.
 */
export function mayBeAlarm(packet: Pick<IPublishPacket, 'payload'>): boolean {
  const raw = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  if (raw.byteLength > MAX_PAYLOAD_BYTES) return false;
  if (!ALARM_TYPE_BYTES.some((type) => raw.includes(type))) return false;
  const type = topLevelType(raw);
  return type !== undefined && ALARM_TYPES.has(type);
}

/** The last level of a device's events topic (`Names.mqtt.events`). */
const EVENTS_LEVEL = '/events';

/** A device's ack: QoS 1, so the client resends it after a reconnect. */
const ACK_OPTIONS = { qos: 1 } as const;

/** W3C trace context: version-traceid-parentid-flags. Anything else is dropped, not forwarded. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The `traceparent` MQTT v5 user property, if the device sent a well-formed one. */
export function traceparentOf(packet: Pick<IPublishPacket, 'properties'>): string | undefined {
  const raw = packet.properties?.userProperties?.traceparent;
  const value = Array.isArray(raw) ? raw[0] : raw;
  return typeof value === 'string' && TRACEPARENT.test(value) ? value : undefined;
}

/**
 * A message whose handling was given up without a decision: the gateway is draining or the
 * MQTT connection it came on is gone. It is not acknowledged, so the broker delivers it again
 * in the next session (and the device resends it anyway).
 */
export class DeliveryAbandonedError extends TransientError {}

type Stage = 'device-map' | 'store' | 'dead-letter';

/**
 * Turns device messages into stored events. Installed as mqtt.js's `handleMessage`, so the
 * broker's PUBACK to a device message is sent only after this resolves: after JetStream stored
 * the event, or after a refused message was dead-lettered. A transient failure is retried
 * with backoff for as long as the connection lasts and is never acked or dead-lettered.
 *
 * mqtt.js hands over one message at a time per connection; that is the order devices see.
 */
export class DeviceEventGateway {
  readonly #n: Names;
  /** Dead letters (rare) go through the client; every event through the publisher. */
  readonly #js: JetStreamClient;
  readonly #publisher: JetStreamPublisher;
  readonly #deviceMap: DeviceMap;
  readonly #metrics: GatewayMetrics;
  readonly #clock: Clock;
  readonly #partitions: number;
  readonly #log: Logger;
  readonly #inflight = new Set<Promise<void>>();
  readonly #queue = new AdmissionQueue<Pending>();
  /** PUBACKs held back while the queue is full. */
  readonly #held: Array<(error?: Error) => void> = [];
  readonly #concurrency: number;
  readonly #maxPending: number;
  readonly #client: Promise<MqttClient>;
  #resolveClient!: (client: MqttClient) => void;
  #attached: MqttClient | undefined;
  readonly #writes = new WriteTurn();
  /**
   * Device map entries whose events the envelope schema has accepted. The rest of an event comes
   * from its payload, already checked against a schema as strict as the envelope's (event.test.ts
   * checks that), or from the gateway; so an entry's events are checked in full once, not each.
   * A changed entry is a new object, checked again.
   */
  readonly #carried = new WeakSet<DeviceMapEntry>();
  /** Bumped on every (re)connect: a retry never outlives the connection its message came on. */
  #generation = 0;
  /** A `#pump` is due at the end of this tick's messages (`#pumpSoon`). */
  #pumpQueued = false;
  #closing = false;
  /** Aborted by drain: ends every retry's wait at once. */
  readonly #draining = new AbortController();
  /** A new leader of EVENTS or DEADLETTER ends every retry's wait at once too. */
  readonly #elections: LeaderElections;
  readonly #rate: DeviceRateLimit;
  readonly #alarmReserve: DeviceRateLimit;
  /** Per device: dead letters written for its refused messages. */
  readonly #deadLetters: DeviceRateLimit;
  #deadLettersDropped = 0;
  #deadLettersLoggedAt = -Infinity;
  #rateDropped = 0;
  #rateLoggedAt = -Infinity;
  readonly #shedAt: number;
  #shedCount = 0;
  #shedLoggedAt = -Infinity;
  readonly #takeovers: TakeoverWatch;
  readonly #takeoverPolicy: TakeoverPolicy;
  /** Where misuse is told of (`<namespace>.security.events`); none in tests that do not ask. */
  readonly #securityEvent: ((event: SecurityEvent) => Promise<void> | void) | undefined;
  /** Security events of every device together: a burst, then one a second. */
  readonly #securityEventBudget = new DeviceRateLimit({
    ratePerS: SECURITY_EVENTS_PER_S,
    burst: SECURITY_EVENT_BURST,
  });

  constructor(deps: {
    names: Names;
    js: JetStreamClient;
    /** Stores the events: `js.publish`'s answers and failures, for less CPU a message. */
    publisher: JetStreamPublisher;
    deviceMap: DeviceMap;
    metrics: GatewayMetrics;
    clock: Clock;
    partitions: number;
    logger: Logger;
    /** Messages stored at once. */
    concurrency: number;
    /** Messages admitted (queued or being stored) before the broker is held back. */
    maxPending: number;
    /** Waiting messages past which maintenance and record-only events are shed (default: never). */
    shedAt?: number;
    /** Per device: messages per second after a burst (0: no limit). */
    deviceRate?: { ratePerS: number; burst: number };
    /** Per device: alarms admitted past `deviceRate`, per second after a burst (0: no limit). */
    alarmReserve?: { ratePerS: number; burst: number };
    /** Per device: dead letters of its refused messages, per second after a burst (0: no limit). */
    deadLetters?: { ratePerS: number; burst: number };
    /** When a device's login taken over again and again from several addresses is raised (broker log). */
    takeovers?: TakeoverPolicy;
    /**
     * Publishes a security event (`<namespace>.security.events`); what it answers
     * (`SecurityEventOutbox.raise`: once the event is on disk) is awaited before the device whose
     * message raised it is acked.
     */
    securityEvent?: (event: SecurityEvent) => Promise<void> | void;
  }) {
    this.#securityEvent = deps.securityEvent;
    this.#takeoverPolicy = deps.takeovers ?? { windowMs: 600_000, takeovers: 3 };
    this.#takeovers = new TakeoverWatch(this.#takeoverPolicy);
    this.#rate = new DeviceRateLimit(deps.deviceRate ?? { ratePerS: 0, burst: 1 });
    this.#alarmReserve = new DeviceRateLimit(deps.alarmReserve ?? { ratePerS: 0, burst: 1 });
    this.#deadLetters = new DeviceRateLimit(deps.deadLetters ?? { ratePerS: 0, burst: 1 });
    this.#concurrency = deps.concurrency;
    this.#maxPending = Math.max(deps.maxPending, deps.concurrency);
    this.#shedAt = deps.shedAt ?? Number.POSITIVE_INFINITY;
    this.#n = deps.names;
    this.#js = deps.js;
    this.#publisher = deps.publisher;
    // A store sent while the stream elected a leader is never answered: sent again at once, it is
    // stored now rather than after its attempt's timeout (seconds of a press's time).
    this.#elections = new LeaderElections(
      deps.publisher.connection,
      [{ stream: deps.names.streams.events }, { stream: deps.names.streams.deadletter }],
      () => deps.publisher.resendWaiting(),
    );
    this.#deviceMap = deps.deviceMap;
    this.#metrics = deps.metrics;
    this.#clock = deps.clock;
    this.#partitions = deps.partitions;
    this.#log = deps.logger.child({ component: 'gateway' });
    this.#client = new Promise((resolve) => {
      this.#resolveClient = resolve;
    });
  }

  /** The client acks are published on; handling may begin before it is attached. */
  attach(client: MqttClient): void {
    this.#attached = client;
    client.on('connect', () => {
      this.#generation++;
      // The broker's log lines while the gateway was away are lost: who is connected is unknown.
      this.#takeovers.forgetConnections();
    });
    client.on('close', () => {
      this.#generation++;
    });
    this.#resolveClient(client);
  }

  /**
   * Admits a message from the broker. The broker's PUBACK is not the device's ack: a device is
   * acked on its ack topic only after JetStream stored its event, and it resends until then. So
   * messages are admitted at once and stored many at a time, the most urgent first; a full queue
   * holds the PUBACK, which stops mqtt.js reading further packets (backpressure on the broker).
   */
  readonly handleMessage: MqttMessageHandler = (packet, callback) => {
    if (this.#closing) {
      callback(new DeliveryAbandonedError('draining: left for the next session'));
      return;
    }
    if (packet.topic === BROKER_LOG_TOPIC) {
      // The broker's own log (QoS 0): read at once, in order, never queued behind devices' events.
      this.#brokerLog(packet);
      callback();
      return;
    }
    // Every message handed over in this turn is PUBACKed in one write.
    this.#writes.hold(this.#attached?.stream);
    // The rate first, from the topic alone: a message past its device's rate costs no decoding,
    // no JSON and no schema, however large or nested it is.
    const key = this.#n.mqtt.serialOf(packet.topic) ?? packet.topic;
    let pending: Pending;
    if (this.#rate.take(key)) pending = this.#classify(packet);
    else {
      // Over its rate: acknowledged to the broker (so it is not delivered again) but neither stored,
      // dead-lettered nor answered, so it costs the other devices nothing; an unacked device
      // resends later. An alarm past the rate draws on the device's alarm reserve, which nothing
      // else spends, so a device flooding heartbeats still gets its press through at once; only a
      // flood of alarms (a stolen login pressing with a new id each time) exhausts it, and then
      // the real press is stored on a resend, when the reserve has refilled. Only a payload that
      // is an alarm by its own type (`mayBeAlarm`: within the size bound, its top-level `type`
      // life-critical) is read, while the reserve has a token: a heartbeat naming an alarm type in
      // its data is not. The token is spent when the alarm is stored (`#handle`): a payload refused
      // (a serial not the login's, bytes that are not an event) or not stored spends none, so a
      // stolen login sending such payloads cannot drain the reserve the device's presses need.
      const read = mayBeAlarm(packet) && this.#alarmReserve.has(key) ? this.#classify(packet) : undefined;
      if (read?.priority !== ALARM_PRIORITY) {
        this.#rateLimited(key);
        callback();
        return;
      }
      pending = { ...read, reserved: true };
    }
    const decision = admission({
      // Only device events are resent until answered; a status change is sent once.
      sheddable: pending.read?.ok === true && isSheddable(pending.read.payload.type),
      waiting: this.#queue.size,
      admitted: this.#queue.size + this.#queue.running,
      shedAt: this.#shedAt,
      maxPending: this.#maxPending,
    });
    if (decision === 'shed') {
      this.#shed(pending.priority);
      callback();
      return;
    }
    // 'hold' is admitted too (it has been read), but its PUBACK waits for room.
    this.#queue.push({ key: pending.key, priority: pending.priority, item: pending });
    this.#pumpSoon();
    if (this.#hasRoom()) callback();
    else this.#held.push(callback);
  };

  /**
   * A line of the broker's connection log: a device's connection taken over is counted, and its
   * login found contested (taken over again and again from two addresses taking turns) is stored as
   * `device.login-contested`, which triage raises to the helpline (`src/takeover.ts`).
   */
  #brokerLog(packet: IPublishPacket): void {
    const line = readBrokerLog(Buffer.from(packet.payload).toString('utf8'));
    if (line === undefined) return;
    const seen = this.#takeovers.observe(line, this.#clock.now());
    if (!seen.takeover) return;
    this.#metrics.takeovers.inc();
    if (seen.contested === undefined) return;
    const generation = this.#generation;
    const work: Promise<void> = this.#contested(seen.contested, generation)
      .catch((err: unknown) => {
        this.#log.error(
          { err, serial: seen.contested?.clientId },
          'device login contested, but the event could not be stored',
        );
      })
      .finally(() => {
        this.#inflight.delete(work);
      });
    this.#inflight.add(work);
  }

  async #contested(contested: Contested, generation: number): Promise<void> {
    const serial = contested.clientId;
    const windowS = Math.round(this.#takeoverPolicy.windowMs / 1000);
    const device = this.#deviceMap.held(serial) ?? (await this.#lookup(serial, generation));
    if (!device || device.state === 'decommissioned') return;
    this.#metrics.contested.inc();
    // Ids only: the addresses stay in the broker's own log.
    this.#log.warn(
      {
        serial,
        residentId: device.residentId,
        takeovers: contested.takeovers,
        addresses: contested.addresses,
        windowS,
      },
      'device login contested: its connection taken over again and again from two addresses taking turns (a copied secret and the real device throwing each other off); raised as device.login-contested',
    );
    // Named by the broker's time of the takeover that made it contested: gateways in a shared
    // group read the same log and store one event.
    const deviceEventId = `login-contested-${contested.at}`;
    const now = new Date(this.#clock.now());
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdOfKey(serial, deviceEventId),
      source: '/gateway-mqtt',
      type: 'device.login-contested',
      subject: serial,
      time: now.toISOString(),
      datacontenttype: 'application/json',
      residentid: device.residentId,
      devicekind: device.kind,
      deviceeventid: deviceEventId,
      partition: partitionOf(device.residentId, this.#partitions),
      receivedat: now.toISOString(),
      testmode: device.testMode,
      ...(device.location === null ? {} : { location: device.location }),
      ...(device.postcodeDistrict === null ? {} : { postcodedistrict: device.postcodeDistrict }),
      data: { takeovers: contested.takeovers, addresses: contested.addresses, windowS },
    };
    await this.#store(event, generation);
  }

  /** Messages admitted and waiting for a worker (`gateway_mqtt_queued_messages`). */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Stops taking messages, finishes those admitted (their retries give up at once), refuses the held. */
  async drain(): Promise<void> {
    // What was admitted and not yet started is finished like the rest.
    if (this.#pumpQueued) this.#pump();
    this.#closing = true;
    this.#draining.abort();
    for (const callback of this.#held.splice(0)) {
      callback(new DeliveryAbandonedError('draining: left for the next session'));
    }
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    this.#elections.close();
  }

  #rateLimited(key: string): void {
    this.#metrics.rateLimited.inc();
    this.#rateDropped++;
    const now = performance.now();
    if (now - this.#rateLoggedAt < RATE_LOG_EVERY_MS) return;
    this.#log.warn(
      { serial: key, dropped: this.#rateDropped },
      'device over its message rate; its messages are dropped unanswered until it slows down',
    );
    this.#rateLoggedAt = now;
    this.#rateDropped = 0;
  }

  #shed(priority: number): void {
    this.#metrics.shed.inc({ priority: String(priority) });
    this.#shedCount++;
    const now = performance.now();
    if (now - this.#shedLoggedAt < RATE_LOG_EVERY_MS) return;
    this.#log.warn(
      { shed: this.#shedCount, waiting: this.#queue.size, shedAt: this.#shedAt },
      'overloaded: maintenance and record-only events shed unanswered (devices resend them); alarms still admitted',
    );
    this.#shedLoggedAt = now;
    this.#shedCount = 0;
  }

  #hasRoom(): boolean {
    return this.#queue.size + this.#queue.running < this.#maxPending;
  }

  /** Reads what the queue needs to order a message: its device and its priority. */
  #classify(packet: IPublishPacket): Pending {
    const generation = this.#generation;
    const topic = packet.topic;
    const serial = this.#n.mqtt.serialOf(topic);
    // `<root>/<serial>/<last>` with no further level: the events topic is the one ending so.
    if (serial === undefined || !topic.endsWith(EVENTS_LEVEL)) {
      return { packet, generation, key: serial ?? topic, priority: RECORD_PRIORITY };
    }
    const raw = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const read = readDeviceMessage(serial, raw);
    const priority = read.ok ? TAXONOMY[read.payload.type].priority : RECORD_PRIORITY;
    if (!read.ok && raw.byteLength > DEAD_LETTER_MAX_RAW_BYTES) {
      // Only a prefix is dead-lettered: a copy of it waits in the queue, not the whole payload.
      const prefix = Buffer.from(raw.subarray(0, DEAD_LETTER_MAX_RAW_BYTES));
      return {
        packet: { ...packet, payload: prefix },
        generation,
        key: serial,
        priority,
        read,
        rawSize: raw.byteLength,
      };
    }
    return { packet, generation, key: serial, priority, read };
  }

  /**
   * Starts what was admitted once every message of this read is: mqtt.js hands them over a tick
   * apart, and the NATS client writes what was published by the end of a tick, so a store started
   * at once went out in a socket write of its own, one per message. Started in a microtask (run
   * after the ticks), the stores of one read leave in one write, and an alarm among them starts
   * first rather than behind the messages before it.
   */
  #pumpSoon(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      if (!this.#pumpQueued) return;
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    this.#pumpQueued = false;
    for (;;) {
      // An alarm does not wait for a store to finish: it may start on one of ALARM_WORKERS more.
      const room =
        this.#queue.running < this.#concurrency ||
        (this.#queue.running < this.#concurrency + ALARM_WORKERS &&
          this.#queue.peekPriority() === ALARM_PRIORITY);
      if (!room) break;
      const job = this.#queue.take();
      if (!job) break;
      const work: Promise<void> = this.#traced(job.item)
        .catch((err: unknown) => {
          if (!(err instanceof DeliveryAbandonedError)) {
            this.#log.error(
              { err, topic: job.item.packet.topic },
              'device message handling failed; the device resends it',
            );
          }
        })
        .finally(() => {
          this.#queue.done(job.key);
          this.#inflight.delete(work);
          if (this.#hasRoom()) this.#held.shift()?.();
          this.#pump();
        });
      this.#inflight.add(work);
    }
  }

  /**
   * Handles a message inside its `gateway store` span: the child of the trace the device sent in
   * its `traceparent` user property, or the root of a new one. Its context goes on with the event.
   */
  #traced(pending: Pending): Promise<void> {
    // Not tracing, no span options are built for it.
    if (!tracingEnabled()) return this.#handle(pending);
    return inSpan(
      SERVICE,
      'gateway store',
      {
        parent: mqttTraceContext(pending.packet.properties?.userProperties),
        kind: SpanKind.PRODUCER,
        attributes: { 'telecare.device.serial': pending.key, 'telecare.priority': pending.priority },
      },
      () => this.#handle(pending),
    );
  }

  async #handle({ packet, generation, key, read: admitted, rawSize, reserved }: Pending): Promise<void> {
    const topic = packet.topic;
    const raw = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    // A message read at admission came on a device's events topic, whose serial is its key.
    const serial = admitted === undefined ? this.#n.mqtt.serialOf(topic) : key;
    if (admitted === undefined && serial !== undefined && topic === this.#n.mqtt.status(serial)) {
      return this.#status(serial, topic, raw, packet, generation);
    }
    if (serial === undefined || (admitted === undefined && topic !== this.#n.mqtt.events(serial))) {
      // Not a device events topic (the subscription should make this impossible): there is no
      // device to answer, but the bytes are still kept.
      await this.#deadLetter(
        topic,
        raw,
        { reason: 'unhandled', detail: 'not a device events topic' },
        generation,
      );
      return;
    }
    if (packet.retain) {
      // A retained event is handed over again at every subscribe: a press published retained would
      // be replayed after every gateway restart, as a new alarm once JetStream's duplicate window
      // has passed. Live delivery clears the flag, so only such replays carry it; the device got
      // (or, resending until acked, will get) its answer from the live copy.
      this.#metrics.retainedIgnored.inc();
      this.#log.warn({ serial }, 'retained copy of a device event ignored');
      return;
    }
    const read = admitted ?? readDeviceMessage(serial, raw);
    if (!read.ok) return this.#refuse(serial, topic, raw, read, generation, rawSize);
    const { payload } = read;

    const device = this.#deviceMap.held(serial) ?? (await this.#lookup(serial, generation));
    if (!device && TAXONOMY[payload.type].priority === ALARM_PRIORITY) {
      // A device the broker let in but the map does not know: the map lost or behind more likely
      // than a stranger. Told `rejected`, the device would stop resending its alarm; unanswered, it
      // resends until the map knows it (the registry writes a lost map again within seconds).
      const detail = `no device ${serial} in the device map; an alarm is left unanswered, for its device to resend`;
      return this.#deadLetter(topic, raw, { reason: 'unknown-device', detail }, generation);
    }
    if (!device || device.state === 'decommissioned') {
      const detail = device ? `device ${serial} is decommissioned` : `no device ${serial} in the device map`;
      return this.#refuse(
        serial,
        topic,
        raw,
        { ok: false, reason: 'unknown-device', detail, deviceEventId: payload.id },
        generation,
      );
    }

    if (!mayReport(device.kind, payload.type)) {
      // A type this kind of device does not report: a sensor's stolen login sending a dose taken, a
      // carer's arrival or a restore would hide a resident's alert or close a condition it never saw.
      // A life-critical alarm is stored all the same: more likely a device registered as the wrong
      // kind (a pendant as a pull-cord) than an attack, and a lost alarm is worse than a false one.
      const type = payload.type;
      if (TAXONOMY[type].priority !== ALARM_PRIORITY) {
        this.#metrics.kindMismatch.inc({ type, disposition: 'refused' });
        return this.#refuse(
          serial,
          topic,
          raw,
          {
            ok: false,
            reason: 'type-not-for-kind',
            detail: notForKindDetail(device.kind, type),
            deviceEventId: payload.id,
          },
          generation,
        );
      }
      this.#metrics.kindMismatch.inc({ type, disposition: 'stored' });
      this.#log.warn(
        { serial, kind: device.kind, type },
        'life-critical alarm from a device whose kind does not report it: stored as unexpectedkind; check the device’s registered kind',
      );
    }

    const receivedAt = new Date(this.#clock.now());
    const dated = attributionOf(payload, device, receivedAt);
    if (dated.residentId === null) {
      // Timed when the device was with no resident (in stock between two homes, or before the one
      // it left): neither home's. Refused as an unpaired device's event, its bytes dead-lettered;
      // an alarm too, since no resend can make it anyone's (the map knows the device).
      return this.#refuse(
        serial,
        topic,
        raw,
        {
          ok: false,
          reason: 'unknown-device',
          detail: `device ${serial}: an event ${dated.detail}`,
          deviceEventId: payload.id,
        },
        generation,
      );
    }

    const traceparent = activeTraceparent() ?? traceparentOf(packet);
    const event = toTelecareEvent({
      serial,
      payload,
      ...(read.sentAt === undefined ? {} : { sentAt: read.sentAt }),
      device,
      receivedAt,
      dated,
      partitions: this.#partitions,
      ...(traceparent === undefined ? {} : { traceparent }),
    });
    if (!this.#carried.has(device)) {
      const built = TelecareEvent.safeParse(event);
      if (!built.success) {
        // The payload passed its schema, so this is a device map entry the envelope cannot carry.
        const detail = built.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        return this.#unhandled(
          serial,
          topic,
          raw,
          payload.id,
          generation,
          `cannot build the event: ${detail}`,
        );
      }
      this.#carried.add(device);
    }
    // Admitted past its rate: the reserve pays for what is stored, and for nothing else.
    if (reserved && !this.#alarmReserve.take(serial)) {
      this.#rateLimited(serial);
      return;
    }
    let stored: { duplicate: boolean };
    try {
      // A duplicate is the device's resend (the same id, time and type: `eventIdFor`), acked again.
      stored = await this.#store(event, generation);
    } catch (err) {
      if (reserved) this.#alarmReserve.giveBack(serial);
      if (!(err instanceof PoisonMessageError)) throw err;
      // No retry can store it.
      return this.#unhandled(
        serial,
        topic,
        raw,
        payload.id,
        generation,
        `cannot store the event: ${err.message}`,
      );
    }
    // Not acked before what it raised is kept (synced to the state folder, off the event loop): a
    // crash of the machine after the ack does not lose it. Meanwhile other messages are handled.
    if (event.unexpectedkind === true && !stored.duplicate) await this.#unexpectedKind(event);
    this.#sendAck(serial, storedAck(payload.id));
    if (read.repaired !== undefined) {
      // Stored as an alarm although its payload broke the contract: the bytes are kept as a
      // refusal would keep them, for the installer to put the device right.
      const detail = repairedAlarmDetail({
        type: payload.type,
        datedOnReceipt: payload.at === UNDATED,
        wrong: read.repaired,
      });
      await this.#deadLetter(topic, raw, { reason: 'schema', detail }, generation, rawSize, payload.type);
    }
  }

  /**
   * A life-critical alarm stored from a device whose kind does not report it: raised as a security
   * event (a pendant's login sending pull-cord pulls is as likely someone else's hand as a wrong
   * registration), within the budget of every device together. Ids only. Resolves once the event
   * is kept (`securityEvent`'s answer); never rejects.
   */
  async #unexpectedKind(event: TelecareEvent): Promise<void> {
    if (!this.#securityEventBudget.take('all')) {
      this.#metrics.securityEventsDropped.inc();
      return;
    }
    const detail = {
      serial: event.subject,
      residentId: event.residentid,
      kind: event.devicekind,
      type: event.type,
      eventId: event.id,
    };
    this.#log.warn(
      { securityEvent: 'device-kind-unexpected', ...detail },
      'security: device-kind-unexpected',
    );
    try {
      await this.#securityEvent?.(
        SecurityEvent.parse({
          id: null,
          at: event.receivedat,
          service: SERVICE,
          kind: 'device-kind-unexpected',
          userId: null,
          caseId: null,
          detail,
        }),
      );
    } catch (err) {
      // The alarm is stored, counted and logged; only the notice is lost.
      this.#log.error({ err }, 'security event not published');
    }
  }

  async #store(event: TelecareEvent, generation: number): Promise<{ duplicate: boolean; seq: number }> {
    const subject = this.#n.subjects.event(event.partition, event.type);
    let body: string;
    try {
      body = JSON.stringify(event);
    } catch (err) {
      throw new PoisonMessageError('the event cannot be serialised', { cause: err });
    }
    const h = event.traceparent === undefined ? undefined : natsHeaders();
    if (h) injectTrace(h, event.traceparent);
    const stored = await this.#retrying('store', generation, async () => {
      const started = performance.now();
      const pubAck = await this.#publisher.publish(subject, body, {
        msgID: event.id,
        ...(h ? { headers: h } : {}),
      });
      this.#metrics.storeSeconds.observe((performance.now() - started) / 1000);
      return pubAck;
    });
    if (stored.duplicate) this.#metrics.duplicates.inc();
    else this.#metrics.stored.inc({ type: event.type });
    // Checked first: the fields are an object built per event even when the line is not written.
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug(
        {
          eventId: event.id,
          serial: event.subject,
          type: event.type,
          seq: stored.seq,
          duplicate: stored.duplicate,
        },
        'stored',
      );
    }
    return stored;
  }

  /**
   * A device's retained status (`online`, or the last will `offline`) becomes `device.online` /
   * `device.offline`. A retained copy handed over at subscribe time is state already seen (or
   * queued live in the session), so only live changes become events. Nothing is acked back.
   */
  async #status(
    serial: string,
    topic: string,
    raw: Uint8Array,
    packet: IPublishPacket,
    generation: number,
  ): Promise<void> {
    if (packet.retain) return;
    const status = DeviceStatus.safeParse(Buffer.from(raw).toString('utf8').trim());
    if (!status.success) {
      await this.#deadLetter(
        topic,
        raw,
        { reason: 'schema', detail: 'status must be online or offline' },
        generation,
      );
      return;
    }
    const device = this.#deviceMap.held(serial) ?? (await this.#lookup(serial, generation));
    if (!device || device.state === 'decommissioned') {
      const detail = device ? `device ${serial} is decommissioned` : `no device ${serial} in the device map`;
      await this.#deadLetter(topic, raw, { reason: 'unknown-device', detail }, generation);
      return;
    }
    const receivedAt = new Date(this.#clock.now());
    const deviceEventId = `status-${status.data}-${receivedAt.getTime()}`;
    const traceparent = activeTraceparent() ?? traceparentOf(packet);
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdOfKey(serial, deviceEventId),
      source: '/gateway-mqtt',
      type: status.data === 'online' ? 'device.online' : 'device.offline',
      subject: serial,
      time: receivedAt.toISOString(),
      datacontenttype: 'application/json',
      residentid: device.residentId,
      devicekind: device.kind,
      deviceeventid: deviceEventId,
      partition: partitionOf(device.residentId, this.#partitions),
      receivedat: receivedAt.toISOString(),
      testmode: device.testMode,
      ...(device.location === null ? {} : { location: device.location }),
      ...(device.postcodeDistrict === null ? {} : { postcodedistrict: device.postcodeDistrict }),
      ...(traceparent === undefined ? {} : { traceparent }),
      data: {},
    };
    try {
      await this.#store(event, generation);
    } catch (err) {
      if (!(err instanceof PoisonMessageError)) throw err;
      await this.#deadLetter(
        topic,
        raw,
        { reason: 'unhandled', detail: `cannot store the status: ${err.message}` },
        generation,
      );
    }
  }

  /** An event no retry can build or store: refused once, so the device's later ones are not held. */
  #unhandled(
    serial: string,
    topic: string,
    raw: Uint8Array,
    deviceEventId: string,
    generation: number,
    detail: string,
  ): Promise<void> {
    return this.#refuse(
      serial,
      topic,
      raw,
      { ok: false, reason: 'unhandled', detail, deviceEventId },
      generation,
    );
  }

  async #refuse(
    serial: string,
    topic: string,
    raw: Uint8Array,
    refusal: Refusal,
    generation: number,
    rawSize?: number,
  ): Promise<void> {
    await this.#deadLetter(topic, raw, refusal, generation, rawSize);
    this.#sendAck(serial, rejectedAck(refusal));
  }

  async #deadLetter(
    topic: string,
    raw: Uint8Array,
    refusal: Pick<Refusal, 'reason' | 'detail'>,
    generation: number,
    rawSize?: number,
    /** The alarm was stored anyway (intake's `asAlarm`): counted as repaired, not refused. */
    storedAs?: string,
  ): Promise<void> {
    if (!this.#deadLetters.take(this.#n.mqtt.serialOf(topic) ?? topic)) {
      this.#deadLetterDropped(topic, refusal, storedAs);
      return;
    }
    let id: string;
    try {
      id = await this.#retrying('dead-letter', generation, () =>
        publishDeadLetter(
          this.#js,
          this.#n,
          {
            service: SERVICE,
            reason: refusal.reason,
            detail: refusal.detail,
            origin: topic,
            raw,
            ...(rawSize === undefined ? {} : { rawSize }),
          },
          new Date(this.#clock.now()),
        ),
      );
    } catch (err) {
      if (!(err instanceof PoisonMessageError)) throw err;
      // The letter itself cannot be written (it is bounded, so this should not happen): the
      // refusal is still counted, logged and answered rather than retried for ever.
      this.#metrics.rejects.inc({ reason: refusal.reason });
      this.#log.error(
        { err, topic, reason: refusal.reason, detail: refusal.detail },
        'refused; dead letter not written',
      );
      return;
    }
    if (storedAs !== undefined) {
      this.#metrics.alarmsRepaired.inc({ type: storedAs });
      this.#log.warn(
        { topic, detail: refusal.detail, deadLetterId: id },
        'life-critical alarm stored although its payload breaks the contract',
      );
      return;
    }
    this.#metrics.rejects.inc({ reason: refusal.reason });
    this.#log.warn({ topic, reason: refusal.reason, detail: refusal.detail, deadLetterId: id }, 'refused');
  }

  /**
   * A refusal past its device's dead-letter budget: answered (by the caller) and counted as any
   * other, its bytes not kept. What the device sent is then its own dead letters' business: the
   * stream's bound is shared with every service and device.
   */
  #deadLetterDropped(topic: string, refusal: Pick<Refusal, 'reason' | 'detail'>, storedAs?: string): void {
    if (storedAs !== undefined) this.#metrics.alarmsRepaired.inc({ type: storedAs });
    else this.#metrics.rejects.inc({ reason: refusal.reason });
    this.#metrics.deadLettersDropped.inc();
    this.#deadLettersDropped++;
    const now = performance.now();
    if (now - this.#deadLettersLoggedAt < RATE_LOG_EVERY_MS) return;
    this.#log.warn(
      { topic, reason: refusal.reason, detail: refusal.detail, dropped: this.#deadLettersDropped },
      'device over its dead-letter budget: refusals answered and counted, their bytes not kept',
    );
    this.#deadLettersLoggedAt = now;
    this.#deadLettersDropped = 0;
  }

  /**
   * Publishes the device's ack at QoS 1 without waiting for the broker's PUBACK: that PUBACK
   * is an incoming packet, and mqtt.js reads no further packet until this handler calls back.
   * The client keeps the ack in its outgoing store and resends it after a reconnect.
   */
  #sendAck(serial: string, ack: DeviceAck): void {
    // Attached before the first message normally; only a message handled before then waits for it.
    if (this.#attached) this.#publishAck(this.#attached, serial, ack);
    else void this.#client.then((client) => this.#publishAck(client, serial, ack));
  }

  #publishAck(client: MqttClient, serial: string, ack: DeviceAck): void {
    // The acks of the stores that end in one turn leave together.
    this.#writes.hold(client.stream);
    client.publish(this.#n.mqtt.ack(serial), JSON.stringify(ack), ACK_OPTIONS, (err) => {
      if (err) this.#log.warn({ err, serial }, 'ack publish failed; the device will resend');
    });
  }

  /**
   * A device's map entry the watch has not given (yet): read from the bucket, with retries. Callers
   * take the watch's copy in memory first (`held`, what `lookup` would return), without a promise.
   */
  #lookup(serial: string, generation: number): Promise<DeviceMapEntry | undefined> {
    return this.#retrying('device-map', generation, () => this.#deviceMap.lookup(serial));
  }

  async #retrying<T>(stage: Stage, generation: number, attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof PoisonMessageError) throw err;
        if (isPermanentFailure(err)) {
          throw new PoisonMessageError(`${stage}: ${err instanceof Error ? err.message : String(err)}`, {
            cause: err,
          });
        }
        this.#metrics.retries.inc({ stage });
        const delayMs = backoffDelay(STORE_RETRY, n + 1);
        this.#log.warn(
          { err, stage, attempt: n + 1, delayMs: Math.round(delayMs) },
          'transient failure; retrying',
        );
        // Cut short when the stream elects a leader: the failure was most likely its election, and
        // a try that still fails (the leader not serving yet) is tried again soon, not 2 s later.
        if (await this.#elections.sleep(delayMs, this.#draining.signal)) n = -1;
        if (this.#closing) throw new DeliveryAbandonedError(`${stage}: draining`, { cause: err });
        if (generation !== this.#generation || (this.#attached && !this.#attached.connected)) {
          throw new DeliveryAbandonedError(`${stage}: the MQTT connection was replaced`, { cause: err });
        }
      }
    }
  }
}

/** A `type-not-for-kind` refusal in words an installer reads in the device's health and test call. */
export const notForKindDetail = (kind: string, type: string): string => `a ${kind} does not report ${type}`;

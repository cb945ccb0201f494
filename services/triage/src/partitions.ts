import { AckPolicy, type ConsumerConfig, DeliverPolicy } from '@nats-io/jetstream';
import { type Names, TelecareEvent } from '@telecare/contracts';
import {
  ALARM_LANE,
  type Clock,
  type ConsumerLoop,
  type JetStreamClient,
  type JetStreamManager,
  type Logger,
  type Registry,
  startConsumerLoop,
} from '@telecare/platform';
import { type EventProcessor, SERVICE } from './processor.ts';
import { RedisAwayError } from './redis-away.ts';
import { TimerGate } from './timer-gate.ts';
import type { TimerStore } from './timers.ts';

export const consumerName = (partition: number): string => `triage-p${partition}`;
const token = (type: string): string => type.replace(/[^a-z0-9-]/g, '-');
/** The alarm lane of one P1 type on one partition. */
export const alarmConsumerName = (partition: number, type: string): string =>
  `triage-alarm-p${partition}-${token(type)}`;
const AREA_CONSUMER = 'triage-area-';
/** The area lane of one area rule type, over every partition. */
export const areaConsumerName = (type: string): string => `${AREA_CONSUMER}${token(type)}`;

/** How long one pull waits for a message; also the longest a drain waits for an idle lane. */
export const PULL_EXPIRES_MS = 1_000;
/** How often a busy partition looks for due timers between events. */
const TICK_EVERY_MS = 200;
/**
 * How often a lane behind its due timers asks the server how far its stream reaches: under the
 * pull's expiry, so that an idle lane, whose rounds come once a pull expires, asks on every round
 * (at a second, a round that came a few milliseconds early skipped its checkpoint, and its timers
 * waited a round more).
 */
const CHECKPOINT_EVERY_MS = 500;

/** One durable pull consumer: its name, its filter and what handles its events. */
export interface Lane {
  readonly name: string;
  readonly filter: string;
  readonly kind: 'partition' | 'alarm' | 'area';
  /** For a partition or alarm lane: the partition it reads (a partition lane also fires its timers). */
  readonly partition?: number;
  /** For an area lane: the event type it reads. */
  readonly type?: string;
}

/**
 * The lanes of the partitions:
 * - one ordered lane per partition (every event of its residents, and their timers);
 * - an alarm lane per partition and P1 type, so a storm of low-priority events queued on a
 *   partition never delays a pendant press. The partition lane sees the alarm again later and
 *   finds it already in the resident's state (a duplicate, nothing raised). Per partition, so the
 *   instance that owns a partition reads its alarms too and a resident is evaluated in one process.
 */
export function partitionLanes(n: Names, partitions: number, alarmTypes: readonly string[]): Lane[] {
  const all: Lane[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    all.push({
      name: consumerName(partition),
      filter: n.subjects.eventsOfPartition(partition),
      kind: 'partition',
      partition,
    });
    for (const type of alarmTypes)
      all.push({
        name: alarmConsumerName(partition, type),
        filter: n.subjects.event(partition, type),
        kind: 'alarm',
        partition,
      });
  }
  return all;
}

/**
 * An area lane per event type the area rules in force read, across partitions: district state
 * has one writer. The types follow the rule set in force (see `AreaLanes`).
 */
export function areaLanes(n: Names, areaTypes: readonly string[]): Lane[] {
  return areaTypes.map((type) => ({
    name: areaConsumerName(type),
    filter: `${n.namespace}.events.*.${type}`,
    kind: 'area' as const,
    type,
  }));
}

/**
 * One durable pull consumer per lane. An alarm or area lane holds one event at a time
 * (`max_ack_pending: 1`): JetStream hands out the next only once this one is acked or terminated,
 * and a nak'd event comes back before anything behind it. A partition lane holds up to
 * `partitionInHand` (`TRIAGE_LANE_CONCURRENCY`): its loop keeps each resident's events in order
 * (see `runLaneWorkers`).
 */
export async function ensureLaneConsumers(
  jsm: JetStreamManager,
  n: Names,
  all: readonly Lane[],
  ackWaitS: number,
  partitionInHand = 1,
): Promise<void> {
  for (const lane of all) {
    const settings = laneSettings(lane, ackWaitS, partitionInHand);
    const existing = await jsm.consumers.info(n.streams.events, lane.name).catch(() => undefined);
    if (existing) {
      await jsm.consumers.update(n.streams.events, lane.name, settings);
    } else {
      await jsm.consumers.add(n.streams.events, {
        ...laneConsumer(lane, ackWaitS, partitionInHand),
        durable_name: lane.name,
        ack_policy: AckPolicy.Explicit,
      });
    }
  }
}

const laneSettings = (lane: Lane, ackWaitS: number, partitionInHand: number) =>
  ({
    filter_subject: lane.filter,
    max_ack_pending: lane.kind === 'partition' ? partitionInHand : 1,
    ack_wait: ackWaitS * 1_000_000_000,
    // Never give up on an event: a transient failure retries until it succeeds.
    max_deliver: -1,
  }) satisfies Partial<ConsumerConfig>;

/** A lane's consumer as it is created (also when JetStream lost it: the consumer loop's `recreate`). */
export const laneConsumer = (lane: Lane, ackWaitS: number, partitionInHand = 1): Partial<ConsumerConfig> => ({
  ...laneSettings(lane, ackWaitS, partitionInHand),
  // A lane added to a running deployment starts from now: the partition lanes have the past.
  deliver_policy: lane.kind === 'partition' ? DeliverPolicy.All : DeliverPolicy.New,
});

/**
 * Before partitions had owners the alarm lanes were one per P1 type over every partition; nothing
 * reads those consumers any more.
 */
export async function removeRetiredConsumers(
  jsm: JetStreamManager,
  n: Names,
  p1Types: readonly string[],
): Promise<void> {
  for (const type of p1Types)
    await jsm.consumers.delete(n.streams.events, `triage-alarm-${token(type)}`).catch(() => false);
}

/**
 * Deletes the area consumers that are not among `keep` (their type left the area rules): see
 * "The rules in force" in the README for why they are not kept.
 */
export async function removeAreaConsumers(
  jsm: JetStreamManager,
  n: Names,
  keep: readonly Lane[],
): Promise<string[]> {
  const kept = new Set(keep.map((lane) => lane.name));
  const stale: string[] = [];
  for await (const info of jsm.consumers.list(n.streams.events))
    if (info.name.startsWith(AREA_CONSUMER) && !kept.has(info.name)) stale.push(info.name);
  for (const name of stale) await jsm.consumers.delete(n.streams.events, name).catch(() => false);
  return stale;
}

export interface LaneWorkers {
  /** Starts a loop per lane; a lane still finishing from an earlier `stop` starts once that is done. */
  start(lanes: readonly Lane[]): void;
  /** Stops these lanes: no more pulls or timers; resolves once the event in hand is acked. */
  stop(lanes: readonly Lane[]): Promise<void>;
  /**
   * Stops these lanes at once, when another instance may already run them: an event that a pull
   * still delivers is handed back unread (nak). An event already being evaluated finishes.
   */
  abandon(lanes: readonly Lane[]): Promise<void>;
  /** Stops every lane. */
  stopAll(): Promise<void>;
  /** Whether every started lane's loop is running (none ended on an unexpected error). */
  readonly healthy: boolean;
}

interface LaneLoop {
  /** The lane's consumer loop, once a stop still in progress from before has ended. */
  loop: ConsumerLoop | undefined;
  stopping: boolean;
  done: Promise<void>;
  /** When a partition lane's due timers may fire. */
  gate?: TimerGate;
}

/**
 * The loops that read lanes, each the platform's consumer loop on one durable consumer. An alarm
 * or area lane has one event in hand at a time (`max_ack_pending: 1`). A partition lane has up to
 * `inHand` events at once, keyed by resident (the platform's `LanePool`): different residents are
 * evaluated side by side, one resident's events one at a time in stream order. A failure is tried
 * again in hand (`retryInPlace`) after the fixed retry delay, or as soon as ALERTS elects a leader,
 * so that what is behind it in its lane (the resident's later events) waits for it. Which lanes
 * run changes while the process lives: an instance starts the lanes of a partition when it takes
 * its lease and stops them (draining) when it gives it up.
 */
export function runLaneWorkers(options: {
  js: JetStreamClient;
  names: Names;
  processor: EventProcessor;
  timers: TimerStore;
  clock: Clock;
  logger: Logger;
  retryDelayMs: number;
  /** The lanes' ack wait: an evaluation that takes longer says it is still working. */
  ackWaitMs: number;
  /** Events a partition lane holds at once (its consumer's `max_ack_pending`). */
  inHand?: number;
  /** A due timer waits for its lane to read what was stored before it at most this long. */
  timerMaxWaitMs: number;
  /** Told of each timer fired past that wait while its lane was still behind. */
  firedUnread?: () => void;
  /** Ends the retry delay of the events tried again in hand: Redis answers again (`RedisAway`). */
  retrySooner?: () => { readonly ready: Promise<void>; cancel(): void };
  metrics?: Registry;
}): LaneWorkers {
  const log = options.logger.child({ component: 'partitions' });
  const loops = new Map<string, LaneLoop>();

  /**
   * How far a partition's timers may fire: up to the clock time before which its lane has read
   * every stored event (an event still queued may cancel the check), or further for timers that
   * waited too long for a lane that stays behind (`TimerGate`). While a due timer waits, the lane
   * asks for a checkpoint at most twice a second, so the mark moves even when it is never idle.
   */
  const fireBy = async (state: LaneLoop, partition: number): Promise<number> => {
    const loop = state.loop;
    if (!loop) return Number.NEGATIVE_INFINITY;
    state.gate ??= new TimerGate(options.timerMaxWaitMs, CHECKPOINT_EVERY_MS);
    const gate = state.gate;
    const now = options.clock.now();
    if (gate.fireBy(loop.readTo, now) < now) {
      const next = await options.timers.nextDue(partition);
      if (gate.look(loop.readTo, now, next, performance.now()))
        await loop
          .checkpoint()
          .catch((err: unknown) => log.warn({ err, partition }, 'could not read how far the stream reaches'));
      const waitedMs = gate.force(loop.readTo, now, performance.now());
      if (waitedMs !== undefined)
        log.warn(
          { partition, waitedMs: Math.round(waitedMs), behindMs: now - loop.readTo },
          'timers fired before their lane read up to them: it stayed behind too long',
        );
    }
    return gate.fireBy(loop.readTo, now);
  };

  const fireDue = async (state: LaneLoop, partition: number): Promise<void> => {
    for (;;) {
      const by = await fireBy(state, partition);
      const due = await options.timers.due(partition, by);
      if (due.length === 0) return;
      let progressed = false;
      const readTo = state.loop?.readTo ?? Number.NEGATIVE_INFINITY;
      for (const timer of due) {
        if (state.stopping) return;
        if (!(await options.processor.tick(timer))) continue;
        progressed = true;
        if (timer.dueAt > readTo) options.firedUnread?.();
      }
      if (!progressed) return; // failing for now; try again on the next round
    }
  };

  /** A partition lane fires its due timers between events, at most every TICK_EVERY_MS. */
  const timerRounds = (state: LaneLoop, partition: number): (() => Promise<void>) => {
    let lastTick = 0;
    return async () => {
      if (Date.now() - lastTick < TICK_EVERY_MS) return;
      lastTick = Date.now();
      try {
        await fireDue(state, partition);
      } catch (err) {
        // Redis away is logged once, as it goes (`RedisAway`), not on every round.
        if (!(err instanceof RedisAwayError))
          log.warn({ err, partition }, 'could not read due timers; retrying');
      }
    };
  };

  const open = (lane: Lane, state: LaneLoop): ConsumerLoop => {
    const { processor } = options;
    return startConsumerLoop({
      js: options.js,
      names: options.names,
      stream: options.names.streams.events,
      consumer: lane.name,
      service: SERVICE,
      schema: TelecareEvent,
      root: '(event)',
      // The resident lanes dead-letter what cannot be read; an area lane only skips it.
      undecodable: lane.kind === 'area' ? 'skip' : 'dead-letter',
      handle: (event, message) =>
        lane.kind === 'area'
          ? processor.handleArea(event, message)
          : processor.handle(event, message, lane.kind === 'partition' ? lane.partition : undefined),
      logger: log,
      clock: options.clock,
      expiresMs: PULL_EXPIRES_MS,
      // An alarm lane notices a lost pull and JetStream back from a 503 within a fraction of the
      // second a press has; the bulk lanes keep the defaults, which cost less idle traffic.
      ...(lane.kind === 'alarm' ? ALARM_LANE : {}),
      ackWaitMs: options.ackWaitMs,
      retryDelay: () => options.retryDelayMs,
      // A failure is tried again in hand, and at once when ALERTS elects a leader: an alert it
      // could not store during the election is stored with the first try after it. (Handed back,
      // JetStream would hold it for the whole delay.) An alarm or area lane holds one event at a
      // time, so nothing of its lane passes it either way.
      retryInPlace: true,
      retryOnLeaderOf: [options.names.streams.alerts],
      // And at once when Redis answers again: a lane that failed on it all the outage goes on then.
      ...(options.retrySooner ? { retrySooner: options.retrySooner } : {}),
      // A lane JetStream lost is made again as it was made, not waited for.
      recreate: laneConsumer(lane, options.ackWaitMs / 1_000, options.inHand ?? 1),
      ...(lane.kind === 'partition' && lane.partition !== undefined
        ? {
            beforePull: timerRounds(state, lane.partition),
            // Residents side by side, each resident's events in order (a failure waits in hand).
            concurrency: options.inHand ?? 1,
            key: (_subject: string, event: TelecareEvent | undefined) => event?.residentid ?? '',
          }
        : {}),
      // An idle area lane has read everything stored before this pull: held alerts can be decided.
      ...(lane.kind === 'area' && lane.type
        ? { onIdle: (pulledAt: number) => processor.areaCaughtUp(lane.type as string, pulledAt) }
        : {}),
      observe: processor.observe,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      metricsLabel: `triage-${lane.kind}`,
    });
  };

  const startOne = (lane: Lane): void => {
    const previous = loops.get(lane.name);
    if (previous && !previous.stopping) return;
    const state: LaneLoop = { loop: undefined, stopping: false, done: Promise.resolve() };
    state.done = (previous?.done ?? Promise.resolve()).then(() => {
      if (!state.stopping) state.loop = open(lane, state);
    });
    loops.set(lane.name, state);
  };

  const stopOne = async (name: string): Promise<void> => {
    const state = loops.get(name);
    if (!state) return;
    state.stopping = true;
    state.done = state.done.then(() => state.loop?.stop());
    await state.done;
    if (loops.get(name) === state) loops.delete(name);
  };

  return {
    start: (lanes) => {
      for (const lane of lanes) startOne(lane);
    },
    stop: async (lanes) => {
      await Promise.all(lanes.map((lane) => stopOne(lane.name)));
    },
    // A stop already hands back, unread, what a pull delivers once it began.
    abandon: async (lanes) => {
      await Promise.all(lanes.map((lane) => stopOne(lane.name)));
    },
    stopAll: async () => {
      await Promise.all([...loops.keys()].map((name) => stopOne(name)));
    },
    get healthy() {
      return [...loops.values()].every((state) => state.stopping || state.loop?.running !== false);
    },
  };
}

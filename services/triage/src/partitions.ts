import { AckPolicy, type Consumer, type ConsumerConfig, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { Names } from '@telecare/contracts';
import type { Clock, JetStreamClient, JetStreamManager, Logger } from '@telecare/platform';
import type { EventProcessor } from './processor.ts';
import type { TimerStore } from './timers.ts';

export const consumerName = (partition: number): string => `triage-p${partition}`;
/** The alarm lane of one P1 type, over every partition. */
export const alarmConsumerName = (type: string): string => `triage-alarm-${type.replace(/[^a-z0-9-]/g, '-')}`;
/** The area lane of one area rule type, over every partition. */
export const areaConsumerName = (type: string): string => `triage-area-${type.replace(/[^a-z0-9-]/g, '-')}`;

/** How long one pull waits for a message; also the longest a drain waits for an idle partition. */
const PULL_EXPIRES_MS = 1_000;
/** How often a busy partition looks for due timers between events. */
const TICK_EVERY_MS = 200;

/** One durable pull consumer: its name, its filter and what handles its events. */
export interface Lane {
  readonly name: string;
  readonly filter: string;
  readonly kind: 'partition' | 'alarm' | 'area';
  /** For a partition lane: whose timers it fires. */
  readonly partition?: number;
  /** For an area lane: the event type it reads. */
  readonly type?: string;
}

/**
 * The lanes triage reads:
 * - one ordered lane per partition (every event of its residents, and their timers);
 * - an alarm lane per P1 type across partitions, so a storm of low-priority events queued on a
 *   partition never delays a pendant press. The partition lane sees the alarm again later and
 *   finds it already in the resident's state (a duplicate, nothing raised);
 * - an area lane per area rule type across partitions: district state has one writer.
 */
export function lanes(
  n: Names,
  partitions: number,
  alarmTypes: readonly string[],
  areaTypes: readonly string[],
): Lane[] {
  const all: Lane[] = [];
  for (let partition = 0; partition < partitions; partition++)
    all.push({
      name: consumerName(partition),
      filter: n.subjects.eventsOfPartition(partition),
      kind: 'partition',
      partition,
    });
  for (const type of alarmTypes)
    all.push({ name: alarmConsumerName(type), filter: `${n.namespace}.events.*.${type}`, kind: 'alarm' });
  for (const type of areaTypes)
    all.push({ name: areaConsumerName(type), filter: `${n.namespace}.events.*.${type}`, kind: 'area', type });
  return all;
}

/**
 * One durable pull consumer per lane. `max_ack_pending: 1` is what keeps a lane in order:
 * JetStream hands out the next event only once this one is acked or terminated, and a nak'd
 * event comes back before anything behind it.
 */
export async function ensureLaneConsumers(
  jsm: JetStreamManager,
  n: Names,
  all: readonly Lane[],
  ackWaitS: number,
): Promise<void> {
  for (const lane of all) {
    const settings = {
      filter_subject: lane.filter,
      max_ack_pending: 1,
      ack_wait: ackWaitS * 1_000_000_000,
      // Never give up on an event: a transient failure retries until it succeeds.
      max_deliver: -1,
    } satisfies Partial<ConsumerConfig>;
    const existing = await jsm.consumers.info(n.streams.events, lane.name).catch(() => undefined);
    if (existing) {
      await jsm.consumers.update(n.streams.events, lane.name, settings);
    } else {
      await jsm.consumers.add(n.streams.events, {
        ...settings,
        durable_name: lane.name,
        ack_policy: AckPolicy.Explicit,
        // A lane added to a running deployment starts from now: the partition lanes have the past.
        deliver_policy: lane.kind === 'partition' ? DeliverPolicy.All : DeliverPolicy.New,
      });
    }
  }
}

export interface PartitionWorkers {
  /** Stops pulling, lets the event in hand finish and ack, then resolves. */
  stop(): Promise<void>;
  /** Lanes whose loop is running. */
  readonly running: number;
}

export function runPartitionWorkers(options: {
  js: JetStreamClient;
  names: Names;
  lanes: readonly Lane[];
  processor: EventProcessor;
  timers: TimerStore;
  clock: Clock;
  logger: Logger;
  retryDelayMs: number;
}): PartitionWorkers {
  const log = options.logger.child({ component: 'partitions' });
  let stopping = false;
  let running = 0;
  const wakers = new Set<() => void>();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const fireDue = async (partition: number): Promise<void> => {
    for (;;) {
      const due = await options.timers.due(partition, options.clock.now());
      if (due.length === 0) return;
      let progressed = false;
      for (const timer of due) {
        if (stopping) return;
        if (await options.processor.tick(timer)) progressed = true;
      }
      if (!progressed) return; // failing for now; try again on the next round
    }
  };

  const loop = async (lane: Lane): Promise<void> => {
    running++;
    let consumer: Consumer | undefined;
    let lastTick = 0;
    try {
      while (!stopping) {
        if (lane.partition !== undefined && Date.now() - lastTick >= TICK_EVERY_MS) {
          lastTick = Date.now();
          try {
            await fireDue(lane.partition);
          } catch (err) {
            log.warn({ err, partition: lane.partition }, 'could not read due timers; retrying');
          }
        }
        let msg: JsMsg | null;
        const pulledAt = options.clock.now();
        try {
          consumer ??= await options.js.consumers.get(options.names.streams.events, lane.name);
          msg = await consumer.next({
            expires: lane.partition === undefined ? PULL_EXPIRES_MS : TICK_EVERY_MS * 5,
          });
        } catch (err) {
          consumer = undefined;
          log.warn({ err, lane: lane.name }, 'pull failed; retrying');
          await pause(options.retryDelayMs);
          continue;
        }
        // An event in hand is finished even when stopping: it was delivered to us and acking it
        // now saves the next instance from waiting out ack_wait.
        if (!msg) {
          // An idle area lane has read everything stored before this pull: held alerts can be decided.
          if (lane.kind === 'area' && lane.type) options.processor.areaCaughtUp(lane.type, pulledAt);
          continue;
        }
        if (lane.kind === 'area') await options.processor.handleArea(msg);
        else await options.processor.handle(msg);
      }
    } finally {
      running--;
    }
  };

  const loops = options.lanes.map((lane) =>
    loop(lane).catch((err) => log.error({ err, lane: lane.name }, 'lane loop ended unexpectedly')),
  );

  return {
    get running() {
      return running;
    },
    async stop() {
      stopping = true;
      for (const wake of [...wakers]) wake();
      await Promise.all(loops);
    },
  };
}

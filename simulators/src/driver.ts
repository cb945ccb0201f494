import { TAXONOMY } from '@telecare/contracts';
import type { SentEvent } from './device.ts';
import type { SimEvent } from './resident/events.ts';

/** The clock the services were started with, as the driver moves it (ManualClock fits). */
export interface SimClock {
  now(): number;
  set(at: number): void;
}

export interface EventSink {
  send(serial: string, id: string, payload: string): Promise<SentEvent>;
}

export interface DriveOptions {
  readonly clock: SimClock;
  /** Resolves when the platform has processed everything stored so far (no consumer has work). */
  readonly settle: () => Promise<void>;
  readonly serialOf: (event: SimEvent) => string;
  /** Simulated time between settle points at the latest. */
  readonly barrierMs?: number;
  /**
   * How far the clock may run past an event sent but not yet settled (default 30 s, the rules'
   * `reorderGraceS`). A timer fires that long after the moment it checks, so an event taken
   * within it counts; one still in flight when the clock is further on is missed, as if it had
   * come late: a chair vacated 3 min before four hours, still queued when the clock passed
   * four hours, raised a chair-too-long the rules alone did not.
   */
  readonly maxAheadMs?: number;
  /** After the last event, keep moving the clock to here so absence timers can fall due. */
  readonly until?: number;
  /** Sends in flight at once across all devices (each device sends one at a time, in order). */
  readonly maxInFlight?: number;
  readonly onProgress?: (done: number, total: number, at: number) => void;
}

export interface DriveResult {
  readonly sent: number;
  readonly rejected: number;
  readonly failures: readonly string[];
  readonly wallMs: number;
  readonly ackLatencyMs: readonly number[];
}

/** Alarm-carrying types: the driver lets the platform catch up before and after each, so its alert time is exact. */
const isAlarm = (e: SimEvent) => TAXONOMY[e.type].priority <= 4;

/**
 * Sends a run's events through the real gateway in simulated-time order, moving the services'
 * clock with them. Each device sends one event at a time, in order, and waits for its stored
 * ack; devices run side by side up to `maxInFlight`. Every `barrierMs` of simulated time, around
 * every alarm, and before the clock would run more than `maxAheadMs` past an event sent but not yet
 * settled, the driver waits until all sends are acked and the platform has settled before it
 * moves the clock on, so that no timer falls due ahead of an event that would have stopped it and
 * an alarm's alert is raised at its own simulated time.
 */
export async function driveAccelerated(
  events: readonly SimEvent[],
  sink: EventSink,
  options: DriveOptions,
): Promise<DriveResult> {
  const started = performance.now();
  const barrierMs = options.barrierMs ?? 120_000;
  const maxAheadMs = options.maxAheadMs ?? 30_000;
  const maxInFlight = options.maxInFlight ?? 256;
  const tails = new Map<string, Promise<void>>();
  const seqs = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const failures: string[] = [];
  const ackLatencyMs: number[] = [];
  let sent = 0;
  let rejected = 0;

  /** The time of the oldest event sent since the platform last settled. */
  let oldestUnsettled: number | undefined;
  const drain = async () => {
    await Promise.all([...inFlight]);
    await options.settle();
    oldestUnsettled = undefined;
  };
  const moveTo = async (at: number) => {
    if (at <= options.clock.now()) return;
    if (oldestUnsettled !== undefined && at - oldestUnsettled > maxAheadMs) await drain();
    options.clock.set(at);
  };
  let nextBarrier = events.length
    ? Math.floor((events[0] as SimEvent).at / barrierMs) * barrierMs + barrierMs
    : 0;
  const crossBarriersTo = async (at: number) => {
    while (at >= nextBarrier) {
      await drain();
      await moveTo(nextBarrier);
      nextBarrier += barrierMs;
    }
  };

  const send = (event: SimEvent): Promise<void> => {
    const serial = options.serialOf(event);
    const seq = seqs.get(serial) ?? 0;
    seqs.set(serial, seq + 1);
    const id = `e${event.at.toString(36)}-${seq}`;
    const payload = JSON.stringify({
      id,
      type: event.type,
      at: new Date(event.at).toISOString(),
      seq,
      data: event.data ?? {},
    });
    oldestUnsettled ??= event.at;
    const previous = tails.get(serial) ?? Promise.resolve();
    const done = previous.then(async () => {
      try {
        const ack = await sink.send(serial, id, payload);
        ackLatencyMs.push(ack.latencyMs);
        sent++;
      } catch (err) {
        rejected++;
        if (failures.length < 20) failures.push(`${serial} ${event.type}: ${(err as Error).message}`);
      }
    });
    tails.set(serial, done);
    const tracked = done.finally(() => {
      inFlight.delete(tracked);
      if (tails.get(serial) === done) tails.delete(serial);
    });
    inFlight.add(tracked);
    return tracked;
  };

  let index = 0;
  for (const event of events) {
    await crossBarriersTo(event.at);
    if (isAlarm(event)) {
      await drain();
      await moveTo(event.at);
      await send(event);
      await options.settle();
      oldestUnsettled = undefined;
    } else {
      await moveTo(event.at);
      void send(event);
      while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    }
    index++;
    if (options.onProgress && index % 1000 === 0) options.onProgress(index, events.length, event.at);
  }
  await drain();
  if (options.until !== undefined) await crossBarriersTo(options.until);
  await drain();
  return { sent, rejected, failures, wallMs: performance.now() - started, ackLatencyMs };
}

import type { EventType } from '@telecare/contracts';
import type { SentEvent } from './device.ts';
import type { EventSink } from './driver.ts';

/** The devices of one home in a load run: a hub, a pendant and a movement sensor. */
export interface LoadHome {
  readonly key: string;
  readonly hub: string;
  readonly pendant: string;
  readonly pir: string;
}

export interface LoadOptions {
  /** Events per second across every home (heartbeats and movement). */
  readonly rate: number;
  readonly durationMs: number;
  /** Sends in flight at once; a device with one in flight is skipped, as a device would queue. */
  readonly maxInFlight?: number;
  readonly random?: () => number;
  readonly signal?: AbortSignal;
}

export interface LoadResult {
  readonly offered: number;
  readonly stored: number;
  readonly failed: number;
  /** Ticks where the in-flight bound held an event back (the platform could not keep up). */
  readonly heldBack: number;
  readonly ackLatencyMs: number[];
  readonly wallMs: number;
}

let counter = 0;
/** A device event id, unique per process run: time, a counter and the process id. */
export const loadEventId = (): string =>
  `l${Date.now().toString(36)}-${process.pid}-${(counter++).toString(36)}`;

export function devicePayload(
  id: string,
  type: EventType,
  data: Record<string, unknown> = {},
  at = new Date(),
): string {
  return JSON.stringify({ id, type, at: at.toISOString(), data });
}

/**
 * Background traffic at a fixed rate in real time: every 10 ms, the events due by now go out,
 * each a heartbeat (a third) or a movement report from a random home. A device never has two
 * events in flight, and the run never more than `maxInFlight`: what cannot go out is counted as
 * held back rather than queued without bound.
 */
export async function driveLoad(
  homes: readonly LoadHome[],
  sink: EventSink,
  options: LoadOptions,
): Promise<LoadResult> {
  const random = options.random ?? Math.random;
  const maxInFlight = options.maxInFlight ?? 2_000;
  const busy = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  const ackLatencyMs: number[] = [];
  let offered = 0;
  let stored = 0;
  let failed = 0;
  let heldBack = 0;
  const started = performance.now();
  const tick = 10;
  while (performance.now() - started < options.durationMs && !options.signal?.aborted) {
    const due = Math.floor(((performance.now() - started) / 1000) * options.rate) - offered;
    for (let i = 0; i < due; i++) {
      offered++;
      const home = homes[Math.floor(random() * homes.length)];
      if (!home) break;
      const heartbeat = random() < 1 / 3;
      const serial = heartbeat ? home.hub : home.pir;
      if (busy.has(serial) || inFlight.size >= maxInFlight) {
        heldBack++;
        continue;
      }
      busy.add(serial);
      const id = loadEventId();
      const payload = heartbeat
        ? devicePayload(id, 'heartbeat', { batteryPercent: 100, mains: true })
        : devicePayload(id, 'motion');
      const work: Promise<void> = sink
        .send(serial, id, payload)
        .then((sent: SentEvent) => {
          stored++;
          ackLatencyMs.push(sent.latencyMs);
        })
        .catch(() => {
          failed++;
        })
        .finally(() => {
          busy.delete(serial);
          inFlight.delete(work);
        });
      inFlight.add(work);
    }
    await new Promise((resolve) => setTimeout(resolve, tick));
  }
  await Promise.all([...inFlight]);
  return { offered, stored, failed, heldBack, ackLatencyMs, wallMs: performance.now() - started };
}

/**
 * An alarm storm: every hub reports mains lost, at most `maxInFlight` at a time, then (after
 * `pauseMs`) mains restored. Resolves with how long each wave took to be stored.
 */
export async function mainsStorm(
  hubs: readonly string[],
  sink: EventSink,
  options: { maxInFlight?: number; pauseMs?: number } = {},
): Promise<{ lostMs: number; restoredMs: number; failed: number }> {
  let failed = 0;
  const wave = async (type: EventType) => {
    const started = performance.now();
    const queue = [...hubs];
    const worker = async () => {
      for (let serial = queue.pop(); serial; serial = queue.pop()) {
        const id = loadEventId();
        await sink.send(serial, id, devicePayload(id, type, {})).catch(() => {
          failed++;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.maxInFlight ?? 500, hubs.length) }, worker));
    return performance.now() - started;
  };
  const lostMs = await wave('mains.lost');
  await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 1_000));
  const restoredMs = await wave('mains.restored');
  return { lostMs, restoredMs, failed };
}

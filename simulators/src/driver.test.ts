import { describe, expect, it } from 'vitest';
import { driveAccelerated, type SimClock } from './driver.ts';
import type { SimEvent } from './resident/events.ts';

const T0 = Date.parse('2025-01-13T18:00:00.000Z');

/** A chair session that ends 3 min short of the chair rule's 4 h, then the evening goes on. */
function evening(): SimEvent[] {
  const at = (s: number) => T0 + s * 1000;
  const e = (s: number, device: SimEvent['device'], type: SimEvent['type']): SimEvent => ({
    at: at(s),
    home: 'H1',
    device,
    type,
    actor: 'resident',
  });
  return [
    e(0, 'chair', 'chair.occupied'),
    e(4 * 3600 - 180, 'chair', 'chair.vacated'),
    e(4 * 3600 - 170, 'pir.lounge', 'motion'),
    e(4 * 3600 + 60, 'pir.kitchen', 'motion'),
    e(4 * 3600 + 200, 'pir.kitchen', 'motion'),
  ];
}

/**
 * The platform as the driver sees it: an event is stored at its send, evaluated only when the
 * driver lets it settle. Each time the clock moves, it records the events stored but not yet
 * evaluated: a timer falling due then (the clock past an event's time plus the reorder grace)
 * would be decided without them.
 */
function platform() {
  let now = 0;
  const stored: SimEvent[] = [];
  const pending = new Set<string>();
  const behind: number[] = [];
  const byId = new Map<string, SimEvent>();
  const clock: SimClock = {
    now: () => now,
    set: (at) => {
      now = at;
      for (const id of pending) behind.push(now - (byId.get(id) as SimEvent).at);
    },
  };
  return {
    clock,
    sink: {
      send: async (_serial: string, id: string, payload: string) => {
        const event = JSON.parse(payload) as { type: SimEvent['type']; at: string };
        const sim = { at: Date.parse(event.at), type: event.type } as SimEvent;
        stored.push(sim);
        byId.set(id, sim);
        pending.add(id);
        return { id, attempts: 1, latencyMs: 1 };
      },
    },
    settle: async () => pending.clear(),
    /** The furthest the clock ran past an event not yet evaluated. */
    maxBehindMs: () => Math.max(0, ...behind),
  };
}

describe('the accelerated driver', () => {
  it('never runs the clock past an event not yet evaluated by more than the reorder grace', async () => {
    const p = platform();
    await driveAccelerated(evening(), p.sink, {
      clock: p.clock,
      settle: p.settle,
      serialOf: (e) => `SIM-${e.home}-${e.device}`,
      // What the scenario harness runs with: settle points 15 simulated minutes apart.
      barrierMs: 900_000,
      maxAheadMs: 30_000,
    });
    expect(p.maxBehindMs()).toBeLessThanOrEqual(30_000);
  });

  it('still sends every event, in order per device', async () => {
    const p = platform();
    const sent: string[] = [];
    const events = evening();
    await driveAccelerated(
      events,
      {
        send: async (serial, id, payload) => {
          sent.push(`${serial} ${JSON.parse(payload).type}`);
          return p.sink.send(serial, id, payload);
        },
      },
      { clock: p.clock, settle: p.settle, serialOf: (e) => `SIM-${e.home}-${e.device}`, maxAheadMs: 30_000 },
    );
    expect(sent).toEqual(events.map((e) => `SIM-${e.home}-${e.device} ${e.type}`));
  });
});

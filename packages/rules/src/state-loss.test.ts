import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type Timer } from './model.ts';
import { makeEvent } from './testing.ts';

/**
 * The resident state is a cache (Redis); the timers are durable. When the state is lost between a
 * heartbeat and its supervision check, the check must still be decided: the device is silent.
 */
const residentid = 'res_stateloss';
const at = Date.parse('2026-03-02T10:00:00Z');
const device = () => ({ supervisionIntervalS: 600 });

function heartbeat(time: number, id: string) {
  return makeEvent({
    type: 'heartbeat',
    time: new Date(time).toISOString(),
    residentid,
    subject: 'HUB-1',
    devicekind: 'hub',
    deviceEventId: id,
  });
}

/** The supervision check of the heartbeat `hb-1` at `at`, from a state about to be lost. */
function firstCheck(): { beat: ReturnType<typeof heartbeat>; timer: Timer } {
  const beat = heartbeat(at, 'hb-1');
  const first = evaluate(
    initialState(residentid),
    { kind: 'event', event: beat, now: at, device: device() },
    DEFAULT_RULE_SET,
  );
  return { beat, timer: supervisionTimer(first.timers) };
}

function supervisionTimer(timers: ReturnType<typeof evaluate>['timers']): Timer {
  const set = timers.find((t) => t.op === 'set' && t.timer.ruleId === 'absence.supervision');
  if (set?.op !== 'set') throw new Error('no supervision timer');
  return set.timer;
}

describe('a supervision check after the state was lost', () => {
  it('still raises supervision.lost, with the heartbeat as evidence, and the next heartbeat restores', () => {
    const { beat, timer } = firstCheck();
    expect(timer.eventAt).toBe(at);

    // Redis flushed: the tick meets an empty state.
    const tick = evaluate(
      initialState(residentid),
      { kind: 'tick', timer, now: timer.dueAt },
      DEFAULT_RULE_SET,
    );
    const lost = tick.alerts.filter((a) => a.type === 'supervision.lost');
    expect(lost).toHaveLength(1);
    expect(lost[0]?.evidence).toEqual([beat.id]);
    expect(tick.state.devices['HUB-1']?.lost).toBe(lost[0]?.id);

    // Decided once: the same tick again raises nothing more.
    expect(evaluate(tick.state, { kind: 'tick', timer, now: timer.dueAt }, DEFAULT_RULE_SET).alerts).toEqual(
      [],
    );

    const back = heartbeat(timer.dueAt + 60_000, 'hb-2');
    const restored = evaluate(
      tick.state,
      { kind: 'event', event: back, now: back.time ? Date.parse(back.time) : 0, device: device() },
      DEFAULT_RULE_SET,
    );
    expect(restored.alerts.filter((a) => a.type === 'supervision.restored')).toMatchObject([
      { closes: { alertId: lost[0]?.id, outcome: 'restored' } },
    ]);
  });

  it("names the device by the device map's kind when the state that knew it is lost", () => {
    const { timer } = firstCheck();
    const tick = evaluate(
      initialState(residentid),
      { kind: 'tick', timer, now: timer.dueAt, device: { residentId: residentid, kind: 'hub' } },
      DEFAULT_RULE_SET,
    );
    const lost = tick.alerts.filter((a) => a.type === 'supervision.lost');
    expect(lost).toMatchObject([{ deviceKind: 'hub' }]);
    expect(lost[0]?.reason).toContain('hub HUB-1 silent since');
    // Kept in the record: the restore names it too.
    expect(tick.state.devices['HUB-1']?.kind).toBe('hub');
    // Not known to the map either: a device, as before.
    const unknown = evaluate(
      initialState(residentid),
      { kind: 'tick', timer, now: timer.dueAt },
      DEFAULT_RULE_SET,
    );
    expect(unknown.alerts.find((a) => a.type === 'supervision.lost')?.reason).toContain(
      'device HUB-1 silent since',
    );
  });

  it('raises nothing when a heartbeat came after the lost state (the device is in the new state)', () => {
    const { timer } = firstCheck();
    const later = heartbeat(at + 300_000, 'hb-2');
    const afterFlush = evaluate(
      initialState(residentid),
      { kind: 'event', event: later, now: at + 300_000, device: device() },
      DEFAULT_RULE_SET,
    );
    const tick = evaluate(afterFlush.state, { kind: 'tick', timer, now: timer.dueAt }, DEFAULT_RULE_SET);
    expect(tick.alerts.filter((a) => a.type === 'supervision.lost')).toEqual([]);
  });
});

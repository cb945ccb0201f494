import { type Alert, alertIdFor, CaseState } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RaiserTally } from './model.ts';
import {
  allowed,
  closedBy,
  closingEffect,
  FAULT_REPEATS,
  faultRepeatsNote,
  isOpen,
  joins,
  moreUrgent,
  moveRaisers,
  pressesOf,
  raisersClosedBy,
  raisersOf,
  refusal,
  TRANSITIONS,
  tallyOf,
} from './transitions.ts';

const alert = (raisedAt: string): Alert => ({
  id: alertIdFor('pendant', 'res_1', raisedAt),
  residentId: 'res_1',
  priority: 1,
  type: 'pendant.pressed',
  raisedAt,
  rule: { id: 'pendant', version: 1 },
  evidence: ['evt_1'],
  thresholds: {},
  reason: 'Pendant pressed',
  late: false,
  testMode: false,
});

describe('transitions', () => {
  it('accepts only what is waiting or on hold, resolves only what was accepted', () => {
    expect(allowed('accept', 'queued')).toBe(true);
    expect(allowed('accept', 'on_hold')).toBe(true);
    expect(allowed('accept', 'accepted')).toBe(false);
    expect(allowed('accept', 'resolved')).toBe(false);
    expect(allowed('resolve', 'queued')).toBe(false);
    expect(allowed('resolve', 'accepted')).toBe(true);
    expect(allowed('resolve', 'resolved')).toBe(false);
    expect(allowed('hold', 'accepted')).toBe(true);
    expect(allowed('hold', 'queued')).toBe(false);
  });

  it('never leaves a closed state and always explains a refusal', () => {
    for (const action of Object.keys(TRANSITIONS) as Array<keyof typeof TRANSITIONS>) {
      expect(allowed(action, 'resolved')).toBe(false);
      expect(allowed(action, 'closed')).toBe(false);
      for (const state of CaseState.options) {
        if (!allowed(action, state)) expect(refusal(action, state)).toMatch(/\w/);
      }
    }
    expect(refusal('resolve', 'resolved')).toBe('the case is already resolved');
    expect(refusal('accept', 'accepted')).toBe('the case is already accepted');
  });

  it('treats resolved and closed as no longer open', () => {
    expect(CaseState.options.filter(isOpen)).toEqual(['queued', 'offered', 'accepted', 'on_hold']);
  });
});

describe('joining', () => {
  const open = { priority: 3 as const, lastAlertAt: new Date('2025-01-01T10:00:00Z') };

  it('joins within the window on either side and not beyond it', () => {
    expect(joins(open, alert('2025-01-01T10:15:00Z'), 900)).toBe(true);
    expect(joins(open, alert('2025-01-01T09:45:00Z'), 900)).toBe(true);
    expect(joins(open, alert('2025-01-01T10:15:01Z'), 900)).toBe(false);
    expect(joins(undefined, alert('2025-01-01T10:00:00Z'), 900)).toBe(false);
  });

  it('raises priority only for a more urgent alert', () => {
    expect(moreUrgent(1, 3)).toBe(true);
    expect(moreUrgent(3, 3)).toBe(false);
    expect(moreUrgent(4, 3)).toBe(false);
  });
});

type Standing = { readonly type: Alert['type']; readonly closedAs?: 'false-alarm' | 'restored' };

/** Raisers listed one by one, counted as the case row keeps them. */
const counted = (raisers: readonly Standing[]) =>
  raisers.reduce<RaiserTally>((t, r) => moveRaisers(t, r.type, undefined, r.closedAs ?? 'open', 1), {});

describe('closingEffect', () => {
  it('resolves an unaccepted case whose every alert was cancelled as a false alarm', () => {
    expect(
      closingEffect('queued', false, counted([{ type: 'pendant.pressed', closedAs: 'false-alarm' }])),
    ).toEqual({
      effect: 'resolve',
      outcome: 'false-alarm',
    });
    expect(
      closingEffect('offered', false, counted([{ type: 'fall.detected', closedAs: 'false-alarm' }])),
    ).toMatchObject({
      effect: 'resolve',
    });
  });

  it('clears a technical or maintenance fault restored before anyone accepted it', () => {
    expect(closingEffect('queued', false, counted([{ type: 'mains.lost', closedAs: 'restored' }]))).toEqual({
      effect: 'resolve',
      outcome: 'technical-resolved',
    });
    expect(
      closingEffect('queued', false, counted([{ type: 'battery.low', closedAs: 'restored' }])),
    ).toMatchObject({
      effect: 'resolve',
    });
  });

  it('only notes a restore of smoke, CO or flood: the operator still calls', () => {
    expect(
      closingEffect('queued', false, counted([{ type: 'smoke.detected', closedAs: 'restored' }])),
    ).toEqual({
      effect: 'note',
      why: 'alarm-restore',
    });
    expect(
      closingEffect('queued', false, counted([{ type: 'flood.detected', closedAs: 'restored' }])),
    ).toMatchObject({
      why: 'alarm-restore',
    });
  });

  it('never resolves a case once accepted, nor one with an alert still open', () => {
    for (const state of ['accepted', 'on_hold'] as const)
      expect(
        closingEffect(state, false, counted([{ type: 'pendant.pressed', closedAs: 'false-alarm' }])),
      ).toEqual({
        effect: 'note',
        why: 'already-accepted',
      });
    expect(
      closingEffect(
        'queued',
        false,
        counted([{ type: 'pendant.pressed', closedAs: 'false-alarm' }, { type: 'fall.detected' }]),
      ),
    ).toEqual({ effect: 'note', why: 'other-alerts-open' });
    expect(
      closingEffect('resolved', false, counted([{ type: 'pendant.pressed', closedAs: 'false-alarm' }])),
    ).toMatchObject({
      why: 'not-open',
    });
    expect(
      closingEffect('closed', true, counted([{ type: 'pendant.pressed', closedAs: 'false-alarm' }])),
    ).toMatchObject({
      why: 'not-open',
    });
  });

  it('keeps a restored fault for an operator when its device raised it again and again in recent days', () => {
    const noisy = counted([{ type: 'sensor.noisy', closedAs: 'restored' }]);
    const recent = (times: number, type: Alert['type'] = 'sensor.noisy') => ({
      type,
      deviceSerial: 'PIR-L',
      times,
      days: FAULT_REPEATS.days,
    });
    // Once or twice in the days before: a passing fault, cleared without an operator.
    expect(closingEffect('queued', false, noisy, recent(1))).toEqual({
      effect: 'resolve',
      outcome: 'technical-resolved',
    });
    expect(closingEffect('offered', false, noisy, recent(FAULT_REPEATS.times - 1))).toMatchObject({
      effect: 'resolve',
    });
    // The third time within the days: the sensor needs the installer, so a person sees it.
    expect(closingEffect('queued', false, noisy, recent(FAULT_REPEATS.times))).toEqual({
      effect: 'note',
      why: 'fault-repeats',
    });
    expect(closingEffect('offered', false, noisy, recent(FAULT_REPEATS.times + 4))).toMatchObject({
      why: 'fault-repeats',
    });
    // Every fault a restore clears by itself behaves the same: a home unit losing mains day after day.
    expect(
      closingEffect(
        'queued',
        false,
        counted([{ type: 'mains.lost', closedAs: 'restored' }]),
        recent(3, 'mains.lost'),
      ),
    ).toEqual({ effect: 'note', why: 'fault-repeats' });
    // What already kept the case, or could not resolve it, still says so.
    expect(closingEffect('accepted', false, noisy, recent(5))).toMatchObject({ why: 'already-accepted' });
    expect(
      closingEffect(
        'queued',
        false,
        counted([{ type: 'smoke.detected', closedAs: 'restored' }]),
        recent(5, 'smoke.detected'),
      ),
    ).toMatchObject({ why: 'alarm-restore' });
  });

  it('says in words that the fault repeats and what to do', () => {
    expect(faultRepeatsNote({ type: 'sensor.noisy', deviceSerial: 'PIR-L', times: 3, days: 7 })).toBe(
      'PIR-L noisy 3 times in 7 days: book the installer',
    );
    expect(faultRepeatsNote({ type: 'mains.lost', deviceSerial: 'HUB-1', times: 4, days: 7 })).toBe(
      'HUB-1: mains power lost 4 times in 7 days: book the installer',
    );
  });

  it('a pendant cancel and a mains restore together resolve as the false alarm', () => {
    expect(
      closingEffect(
        'queued',
        false,
        counted([
          { type: 'pendant.pressed', closedAs: 'false-alarm' },
          { type: 'mains.lost', closedAs: 'restored' },
        ]),
      ),
    ).toEqual({ effect: 'resolve', outcome: 'false-alarm' });
  });
});

describe('presses of a case', () => {
  const press = (raisedAt: string, event: string, extra: Partial<Alert> = {}): Alert => ({
    ...alert(raisedAt),
    id: alertIdFor('pendant', 'res_1', `${event}:${raisedAt}:${JSON.stringify(extra)}`),
    evidence: [event],
    ...extra,
  });

  it('counts each press once, repeats included, with the latest time; cancels and other alarms are not presses', () => {
    const first = press('2026-12-03T01:20:00.000Z', 'evt_a');
    const alerts = [
      first,
      press('2026-12-03T01:21:15.000Z', 'evt_c', { repeats: { alertId: first.id } }),
      press('2026-12-03T01:20:40.000Z', 'evt_b', { repeats: { alertId: first.id } }),
      // The same press again, as its own alert after a late cancel split its group.
      press('2026-12-03T01:20:40.000Z', 'evt_b'),
      press('2026-12-03T01:22:00.000Z', 'evt_d', { type: 'fall.detected' }),
      press('2026-12-03T01:23:00.000Z', 'evt_e', {
        type: 'alarm.cancelled',
        closes: { alertId: first.id, outcome: 'false-alarm' },
      }),
    ];
    expect(pressesOf(alerts)).toEqual({ presses: 3, lastPressAt: '2026-12-03T01:21:15.000Z' });
    // What the case row keeps: the newest press is the fourth alert (the same press again), so a
    // hold or resolution decided after three alerts is refused as "pressed again".
    expect(tallyOf(alerts)).toEqual({
      count: 6,
      presses: 3,
      lastPressAt: '2026-12-03T01:21:15.000Z',
      lastPressIndex: 3,
      // The cancel closes the first press and the repeats of it; the same press as its own alert
      // (no repeat) and the fall stay open.
      raisers: {
        'pendant.pressed': { open: 1, 'false-alarm': 3, restored: 0 },
        'fall.detected': { open: 1, 'false-alarm': 0, restored: 0 },
      },
    });
    expect(pressesOf([press('2026-12-03T01:22:00.000Z', 'evt_f', { type: 'smoke.detected' })])).toEqual({
      presses: 0,
      lastPressAt: null,
    });
  });
});

describe('what a closing alert closes, read from the counts', () => {
  // The case row keeps the raisers counted (`raisersOf`), and a closing alert reads only what it
  // closes (`closedBy`): the counts after it are those of every alert read again with it.
  const step = fc.oneof(
    fc.record({
      kind: fc.constant('raiser' as const),
      type: fc.constantFrom('pendant.pressed', 'mains.lost', 'smoke.detected', 'battery.low'),
      repeats: fc.option(fc.nat(), { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant('closing' as const),
      target: fc.nat(),
      outcome: fc.constantFrom('false-alarm' as const, 'restored' as const),
    }),
  );
  type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;
  const build = (steps: readonly Step[]) => {
    const alerts: Alert[] = [];
    for (const [i, st] of steps.entries()) {
      const base = {
        ...alert(new Date(Date.UTC(2026, 11, 3, 1, 0, i)).toISOString()),
        evidence: [`evt_${i}`],
      };
      const earlier = (n: number) => alerts[n % Math.max(alerts.length, 1)]?.id;
      if (st.kind === 'raiser') {
        const repeats = st.repeats === undefined ? undefined : earlier(st.repeats);
        alerts.push({ ...base, type: st.type, ...(repeats ? { repeats: { alertId: repeats } } : {}) });
      } else {
        const target = earlier(st.target);
        if (target)
          alerts.push({
            ...base,
            priority: 5,
            type: st.outcome === 'false-alarm' ? 'alarm.cancelled' : 'mains.restored',
            closes: { alertId: target, outcome: st.outcome },
          });
      }
    }
    return alerts;
  };

  it('are those of every alert read again', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 30 }),
        fc.nat(),
        fc.boolean(),
        (steps, n, cancel) => {
          const alerts = build(steps);
          const target = alerts[n % alerts.length];
          if (!target) return;
          const outcome = cancel ? ('false-alarm' as const) : ('restored' as const);
          const closing: Alert = {
            ...alert('2026-12-03T02:00:00.000Z'),
            priority: 5,
            type: cancel ? 'alarm.cancelled' : 'mains.restored',
            evidence: ['evt_closing'],
            closes: { alertId: target.id, outcome },
          };
          const closed = closedBy(alerts, closing);
          expect(closed.type).toBe(target.type);
          const counts = raisersClosedBy(raisersOf(alerts), closed, outcome);
          expect(counts).toEqual(raisersOf([...alerts, closing]));
          for (const state of ['queued', 'accepted'] as const)
            expect(closingEffect(state, false, counts)).toEqual(
              closingEffect(state, false, raisersOf([...alerts, closing])),
            );
        },
      ),
    );
  });
});

import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/**
 * A line or power cut at the home stops every report at once, the hub's included: a silence then
 * raised says the whole home is silent, not only that nothing moved.
 */
const RESIDENT = 'res_homesilent1';
const MIN = 60_000;
const H = 60 * MIN;
/** Mon 2 Mar 2026, 08:00 (Europe/London is UTC then). */
const START = Date.parse('2026-03-02T08:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();
/** The hub beats every 15 min; its supervision interval is six hours, so its loss comes later. */
const BEAT = 15 * MIN;
const HUB_INTERVAL_S = 6 * 3600;

function ev(
  type: EventType,
  at: number,
  subject: string,
  devicekind: string,
  receivedAt = at,
): TelecareEvent {
  return makeEvent({
    type,
    time: iso(at),
    receivedat: iso(receivedAt),
    residentid: RESIDENT,
    subject,
    devicekind,
    location: 'hall',
    deviceEventId: `hs-${subject}-${at}-${type}`,
  });
}

interface Home {
  /** When the person last moves (PIR every 10 min from 08:00 up to it). */
  readonly lastMove: number;
  /** When the hub stops beating (the line or power goes), if it does. */
  readonly hubStops?: number;
  /** When the line comes back and the hub sends what it held, if it does. */
  readonly lineBack?: number;
  /** The person moves again from the line's return (they were about all along). */
  readonly movedThrough?: boolean;
  readonly hubKind?: string;
  /** A smoke detector that dials in by its own path beats every 15 min through the cut. */
  readonly ownPath?: boolean;
  readonly until: number;
}

function run(home: Home): Alert[] {
  const runner = new RulesRunner(DEFAULT_RULE_SET, {
    device: (event) => ({ supervisionIntervalS: event.subject === 'HUB-7' ? HUB_INTERVAL_S : 25 * 3600 }),
  });
  const down = (at: number) =>
    home.hubStops !== undefined && at >= home.hubStops && (home.lineBack === undefined || at < home.lineBack);
  const sends: { event: TelecareEvent; now: number }[] = [];
  const add = (type: EventType, at: number, subject: string, kind: string) => {
    if (!down(at)) sends.push({ event: ev(type, at, subject, kind), now: at });
    // Held by the hub while the line was down, sent when it came back.
    else if (home.lineBack !== undefined) {
      const sent = home.lineBack + (at - home.hubStops!) / 1000;
      sends.push({ event: ev(type, at, subject, kind, sent), now: sent });
    }
  };
  for (let t = START; t < home.until; t += BEAT) add('heartbeat', t, 'HUB-7', home.hubKind ?? 'home-unit');
  if (home.ownPath)
    for (let t = START + MIN; t < home.until; t += BEAT)
      sends.push({ event: ev('heartbeat', t, 'SMK-7', 'smoke-detector'), now: t });
  const movesUntil = home.movedThrough ? home.until : home.lastMove;
  for (let t = START; t <= movesUntil && t < START + 14 * H; t += 10 * MIN) add('motion', t, 'PIR-7', 'pir');
  sends.sort((a, b) => a.now - b.now);
  const alerts: Alert[] = [];
  for (const { event, now } of sends) alerts.push(...runner.event(event, now));
  alerts.push(...runner.advance(home.until));
  return alerts;
}

const silences = (alerts: readonly Alert[]) => alerts.filter((a) => a.type === 'inactivity.unusual');

describe('a silence while the whole home is silent says so', () => {
  it('the hub silent too: the alert fires, its reason says the home is silent, hub included, since when', () => {
    const lastMove = START + 2 * H + 10 * MIN; // 10:10
    const alerts = run({ lastMove, hubStops: lastMove + 5 * MIN, until: START + 9 * H });
    const raised = silences(alerts);
    expect(raised).toHaveLength(1);
    const alert = raised[0] as Alert;
    // The last report heard from the home: the movement at 10:10 (the hub beat last at 10:00).
    // Said first: read first, and kept when a long reason is cut to its bound downstream.
    expect(alert.reason).toMatch(
      /^The whole home is silent, hub included, since 10:10 today \(Mon 2 Mar\): the line or power may be down\. Inactivity unusual/,
    );
    expect(alert.reason).toContain('no movement since 10:10');
    expect(alert.thresholds.homeSilentSince).toBe(iso(lastMove));
    expect(alert.thresholds.silentHub).toBe('HUB-7');
    // Raised before the hub's own supervision loss, as in real homes.
    const lost = alerts.find((a) => a.type === 'supervision.lost');
    expect(lost).toBeDefined();
    expect(Date.parse(alert.raisedAt)).toBeLessThan(Date.parse(lost?.raisedAt ?? ''));
  });

  it("a hub of the older maps' kind `hub` is read the same", () => {
    const lastMove = START + 2 * H + 10 * MIN;
    const raised = silences(run({ lastMove, hubStops: lastMove, hubKind: 'hub', until: START + 8 * H }));
    expect(raised).toHaveLength(1);
    expect(raised[0]?.thresholds.homeSilentSince).toBeDefined();
  });

  it('no hub known: every device the home supervises silent is the whole home silent', () => {
    const lastMove = START + 2 * H + 10 * MIN;
    // The only device that beats is a PIR; nothing of a hub's kind has been heard.
    const raised = silences(
      run({ lastMove, hubStops: lastMove + 5 * MIN, hubKind: 'pir', until: START + 8 * H }),
    );
    expect(raised).toHaveLength(1);
    expect(raised[0]?.reason).toMatch(/^The whole home is silent, every device included, since 10:10 today/);
    expect(raised[0]?.thresholds.silentHub).toBe('every device');
  });

  it('a hub heard once only: its usual gap unknown, nothing claimed', () => {
    const lastMove = START + 2 * H + 10 * MIN;
    // Its first beat at 08:00 is all that was heard (its six-hour interval not yet run out).
    const raised = silences(run({ lastMove, hubStops: START + MIN, until: START + 8 * H }));
    expect(raised).toHaveLength(1);
    expect(raised[0]?.thresholds.homeSilentSince).toBeUndefined();
  });

  it('a device heard by its own path after the hub went quiet: the home is not all silent', () => {
    const lastMove = START + 2 * H + 10 * MIN;
    const raised = silences(
      run({ lastMove, hubStops: lastMove + 5 * MIN, ownPath: true, until: START + 8 * H }),
    );
    expect(raised).toHaveLength(1);
    expect(raised[0]?.thresholds.homeSilentSince).toBeUndefined();
    expect(raised[0]?.reason).not.toContain('whole home');
  });

  it('the hub beating: the ordinary reason, no home-silent fact', () => {
    const lastMove = START + 2 * H + 10 * MIN;
    const raised = silences(run({ lastMove, until: START + 8 * H }));
    expect(raised).toHaveLength(1);
    const alert = raised[0] as Alert;
    expect(alert.reason).toContain('no movement since 10:10');
    expect(alert.reason).not.toContain('whole home');
    expect(alert.thresholds.homeSilentSince).toBeUndefined();
    expect(alert.thresholds.silentHub).toBeUndefined();
  });

  it('the same alert, by id, whether or not the home is silent: only what it says differs', () => {
    const lastMove = START + 2 * H + 10 * MIN;
    const quiet = silences(run({ lastMove, hubStops: lastMove + 5 * MIN, until: START + 8 * H }));
    const beating = silences(run({ lastMove, until: START + 8 * H }));
    expect(quiet.map((a) => a.id)).toEqual(beating.map((a) => a.id));
    expect(quiet.map((a) => a.priority)).toEqual(beating.map((a) => a.priority));
  });

  it('the backlog sent when the line comes back raises nothing more', () => {
    // The person was about all along; the line was down 10:10–14:30, the hub sent its backlog then.
    const lastMove = START + 2 * H + 10 * MIN;
    const alerts = run({
      lastMove,
      hubStops: lastMove,
      lineBack: START + 6 * H + 30 * MIN,
      movedThrough: true,
      until: START + 10 * H,
    });
    const raised = silences(alerts);
    // One silence, in real time while nothing was heard, saying the home was silent.
    expect(raised).toHaveLength(1);
    expect(Date.parse(raised[0]?.raisedAt ?? '')).toBeLessThan(START + 6 * H + 30 * MIN);
    expect(raised[0]?.thresholds.homeSilentSince).toBe(iso(lastMove - 10 * MIN));
    expect(
      alerts.filter((a) => a.type.startsWith('inactivity.') || a.type === 'outing.not-returned'),
    ).toHaveLength(1);
  });

  it('property: a silence says the home is silent exactly when the hub stopped with the movement', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 6, max: 5 * 6 }), // last movement, in 10-min steps after 08:00
        // The hub stops, in beats from it (two beats heard at least: its usual gap is known).
        fc.option(fc.integer({ min: -3, max: 3 }), { nil: undefined }),
        (steps, offset) => {
          const lastMove = START + steps * 10 * MIN;
          const hubStops =
            offset === undefined ? undefined : Math.max(START + 2 * BEAT + MIN, lastMove + offset * BEAT);
          const raised = silences(
            run({ lastMove, ...(hubStops === undefined ? {} : { hubStops }), until: START + 9 * H }),
          );
          expect(raised).toHaveLength(1);
          const alert = raised[0] as Alert;
          if (hubStops === undefined) {
            expect(alert.reason).not.toContain('whole home');
            expect(alert.thresholds.homeSilentSince).toBeUndefined();
          } else {
            // Silent since the latest report heard before the line went: a movement or a beat.
            const before = (step: number) => START + Math.ceil((hubStops - START) / step) * step - step;
            const since = Math.max(Math.min(lastMove, before(10 * MIN)), before(BEAT));
            expect(alert.reason).toContain('The whole home is silent, hub included');
            expect(alert.thresholds.homeSilentSince).toBe(iso(since));
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('a morning not up while the whole home is silent says so', () => {
  function night(hubStops: number | undefined): Alert[] {
    const runner = new RulesRunner(DEFAULT_RULE_SET, {
      device: (event) => ({ supervisionIntervalS: event.subject === 'HUB-7' ? HUB_INTERVAL_S : 25 * 3600 }),
    });
    const until = START + 28 * H; // Tue 3 Mar, 12:00
    const sends: TelecareEvent[] = [];
    for (let t = START; t < until; t += BEAT)
      if (hubStops === undefined || t < hubStops) sends.push(ev('heartbeat', t, 'HUB-7', 'home-unit'));
    for (let t = START; t < START + 14 * H; t += 10 * MIN) sends.push(ev('motion', t, 'PIR-7', 'pir'));
    sends.push(ev('bed.occupied', START + 14 * H, 'BED-7', 'bed-sensor')); // 22:00
    sends.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    const alerts: Alert[] = [];
    for (const event of sends) alerts.push(...runner.event(event, Date.parse(event.time)));
    alerts.push(...runner.advance(until));
    return alerts.filter((a) => a.type === 'inactivity.no-wake');
  }

  it('the line down in the night: "not up" says the home is silent since the last report', () => {
    const raised = night(START + 18 * H); // the hub's last beat at 01:45
    expect(raised).toHaveLength(1);
    expect(raised[0]?.reason).toMatch(
      /^The whole home is silent, hub included, since 01:45 today \(Tue 3 Mar\)/,
    );
    expect(raised[0]?.thresholds.homeSilentSince).toBe(iso(START + 18 * H - BEAT));
  });

  it('the hub beating all night: the ordinary "not up"', () => {
    const raised = night(undefined);
    expect(raised).toHaveLength(1);
    expect(raised[0]?.thresholds.homeSilentSince).toBeUndefined();
  });
});

import type { Dc09AccountEntry, TelecareEvent } from '@telecare/contracts';
import { type DialerEvent, dc09Frame, decodeReply, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
import type { PanelSeen } from './clock.ts';
import { StampedMessages, StoredFrames } from './occurrences.ts';
import { type InterpretContext, interpretFrame } from './receiver.ts';

/**
 * Many panels are installed with their clock on local time (in the UK an hour ahead of UTC in
 * summer) and some never take the time a NAK gives them. An account set to its panel's zone
 * (`clockZone`) has its timestamps read as wall-clock time there: taken at the right instant, and
 * answered with the time on that clock.
 */

const KEY = '000102030405060708090A0B0C0D0E0F';
const HOUR = 3600_000;
const PENDANT: DialerEvent = { kind: 'cid', qualifier: 1, code: '101', zone: '001' };
/** No life-critical alarm: refused behind the window, never taken late. */
const TEST: DialerEvent = { kind: 'cid', qualifier: 1, code: '602', zone: '000' };

const london = testAccount('4321', { key: KEY, serial: 'DC09-BST', clockZone: 'Europe/London' });
const utc = testAccount('4321', { key: KEY, serial: 'DC09-UTC' });

const ctx = (now: Date, entry: Dc09AccountEntry): InterpretContext => ({
  now,
  window: { behindMs: 40_000, aheadMs: 20_000, lateAlarmMs: 3600_000 },
  partitions: 4,
  keyless: 'refuse',
  lookup: (account) => (account === entry.account ? entry : undefined),
});

/**
 * A frame stamped with the wall-clock time `wall` (written as UTC fields: what the panel's clock
 * shows, whatever zone it is on).
 */
const frame = (wall: Date, events: DialerEvent[] = [PENDANT], type: 'ADM-CID' | 'SIA-DCS' = 'ADM-CID') =>
  encodeDc09Message({ type, seq: 7, account: '4321', events, at: wall, key: dialerKey(KEY, 'hex') });

/** The time a reply carries (its wall clock, as UTC fields). */
const replyTime = (reply: Buffer) => decodeReply(reply, dialerKey(KEY, 'hex'))?.at?.toISOString();

const SUMMER = new Date('2026-07-15T12:00:00Z');
const BST = new Date(SUMMER.getTime() + HOUR);

describe('an account whose panel clock runs on local time (clockZone)', () => {
  it('a frame stamped in BST is ACKed with BST, and its alarm stored at the UTC instant', async () => {
    const out = await interpretFrame(frame(BST), ctx(SUMMER, london));
    expect(out.refusal).toBeUndefined();
    expect(out.reply).toBe('ACK');
    // The ACK's time is the panel's own clock: one that takes it stays on local time.
    expect(replyTime(out.replyFrame)).toBe(BST.toISOString());
    expect(out.events.find((e) => e.type === 'pendant.pressed')).toMatchObject({
      time: SUMMER.toISOString(),
      receivedat: SUMMER.toISOString(),
    });
    // Held against a copy until its stamp read as UTC, an hour after its instant, could no longer be
    // taken (below: a zone's panel on UTC): a recording sent again an hour on is a copy.
    expect(out.remember?.until).toBe(BST.getTime() + 3600_000);
  });

  it('an event time (SIA ti/da) is read on the same clock', async () => {
    const pressed = new Date(BST.getTime() - 5 * 60_000);
    const sent = frame(BST, [{ kind: 'sia', code: 'MA', zone: '001', at: pressed }], 'SIA-DCS');
    const out = await interpretFrame(sent, ctx(SUMMER, london));
    expect(out.reply).toBe('ACK');
    expect(out.events.find((e) => e.type !== 'heartbeat')?.time).toBe(
      new Date(SUMMER.getTime() - 5 * 60_000).toISOString(),
    );
  });

  it('the same account sending UTC in summer is NAKed with the time in BST', async () => {
    const out = await interpretFrame(frame(SUMMER, [TEST]), ctx(SUMMER, london));
    expect(out.reply).toBe('NAK');
    expect(replyTime(out.replyFrame)).toBe(BST.toISOString());
    expect(out.refusal?.detail).toMatch(/read on Europe\/London is 1 h behind ours/);
    // An account with a zone is not taken for one on local time (but for one on UTC, below).
    expect(out.clockHoursOff).toBeUndefined();
  });

  it('a refusal of an account with a zone names the zone', async () => {
    const out = await interpretFrame(
      frame(new Date(BST.getTime() - 10 * 60_000), [TEST]),
      ctx(SUMMER, london),
    );
    expect(out.reply).toBe('NAK');
    expect(out.refusal?.detail).toMatch(/read on Europe\/London\) is -600 s from ours/);
  });

  it('in winter London is on UTC: a UTC stamp is ACKed with UTC', async () => {
    const winter = new Date('2026-12-06T12:00:00Z');
    const out = await interpretFrame(frame(winter), ctx(winter, london));
    expect(out.reply).toBe('ACK');
    expect(replyTime(out.replyFrame)).toBe(winter.toISOString());
  });

  it('an account on UTC (no clockZone) sending local time is still NAKed, the hour named', async () => {
    const out = await interpretFrame(frame(BST), ctx(SUMMER, utc));
    expect(out.reply).toBe('NAK');
    expect(out.events).toEqual([]);
    expect(replyTime(out.replyFrame)).toBe(SUMMER.toISOString());
    expect(out.refusal?.detail).toMatch(/1 h ahead of UTC.*clockZone/);
    expect(out.clockHoursOff).toBe(1);
  });

  it('an account whose zone this gateway does not know is read as UTC, never left unanswered', async () => {
    const unknown = { ...london, clockZone: 'Mars/Olympus_Mons' };
    expect((await interpretFrame(frame(SUMMER), ctx(SUMMER, unknown))).reply).toBe('ACK');
    expect((await interpretFrame(frame(BST), ctx(SUMMER, unknown))).reply).toBe('NAK');
  });
});

describe('at the clock changes (Europe/London)', () => {
  // 25 October 2026: 02:00 BST goes back to 01:00 GMT, so 01:00–01:59 is shown twice, first at
  // 00:00–00:59 UTC and then at 01:00–01:59 UTC. The reading nearest our clock is taken.
  it.each([
    ['first (BST)', '2026-10-25T00:30:05Z', '2026-10-25T00:30:00.000Z'],
    ['second (GMT)', '2026-10-25T01:30:05Z', '2026-10-25T01:30:00.000Z'],
  ])('01:30 shown the %s time is taken at %s', async (_which, now, instant) => {
    const out = await interpretFrame(frame(new Date('2026-10-25T01:30:00Z')), ctx(new Date(now), london));
    expect(out.reply).toBe('ACK');
    expect(out.events.find((e) => e.type === 'pendant.pressed')?.time).toBe(instant);
    // Answered with the clock as it reads now: 01:30:05 both times.
    expect(replyTime(out.replyFrame)).toBe('2026-10-25T01:30:05.000Z');
  });

  // 29 March 2026: 01:00 GMT goes forward to 02:00 BST, so no clock that follows the change shows
  // 01:00–01:59. A panel that shows it has not changed yet (or changed early): the reading nearest
  // our clock is taken, either side.
  it.each([
    ['not changed yet', '2026-03-29T01:30:05Z', '2026-03-29T01:30:00.000Z'],
    ['changed an hour early', '2026-03-29T00:30:05Z', '2026-03-29T00:30:00.000Z'],
  ])('01:30 shown by a panel that has %s is taken at %s', async (_which, now, instant) => {
    const out = await interpretFrame(frame(new Date('2026-03-29T01:30:00Z')), ctx(new Date(now), london));
    expect(out.reply).toBe('ACK');
    expect(out.events.find((e) => e.type === 'pendant.pressed')?.time).toBe(instant);
  });

  it('just after the change a panel on BST and one still on GMT are both taken; an hour on, GMT is NAKed', async () => {
    const now = new Date('2026-03-29T01:00:10Z');
    for (const wall of ['2026-03-29T02:00:10Z', '2026-03-29T01:00:10Z']) {
      const out = await interpretFrame(frame(new Date(wall)), ctx(now, london));
      expect(out.reply).toBe('ACK');
      expect(out.events.find((e) => e.type === 'pendant.pressed')?.time).toBe(now.toISOString());
      expect(replyTime(out.replyFrame)).toBe('2026-03-29T02:00:10.000Z');
    }
    const later = new Date('2026-03-29T02:30:00Z');
    const gmt = await interpretFrame(frame(later, [TEST]), ctx(later, london));
    expect(gmt.reply).toBe('NAK');
    expect(replyTime(gmt.replyFrame)).toBe('2026-03-29T03:30:00.000Z');
  });
});

describe('an account set to a zone whose panel sends UTC (summer in London)', () => {
  // The panel's clock 2 s fast: read in London its stamp is just inside the late-alarm bound.
  const now = new Date(SUMMER.getTime() - 2_000);
  const known = (seen: PanelSeen): InterpretContext => ({
    ...ctx(now, london),
    clocks: { seen: () => seen },
  });
  const pressOf = (out: { events: readonly TelecareEvent[] }) =>
    out.events.find((e) => e.type === 'pendant.pressed');

  it('a press stamped in UTC is taken at its UTC time, not an hour early, named and counted as a panel on UTC', async () => {
    const out = await interpretFrame(frame(SUMMER), ctx(now, london));
    expect(out.reply).toBe('ACK');
    expect(out.late).toBeUndefined();
    expect(pressOf(out)?.time).toBe(SUMMER.toISOString());
    // Nothing known rules out a London panel that held the press an hour: the operator is told.
    expect(pressOf(out)?.alttime).toBe(new Date(SUMMER.getTime() - HOUR).toISOString());
    expect(out.zoneHoursOff).toBe(-1);
    expect(out.refusal?.detail).toMatch(
      /read on Europe\/London is 1 h behind ours.*as UTC inside the window: a panel clock on UTC\?/,
    );
    expect(out.seen).toEqual({ clock: 'utc', taken: { seq: 7, at: SUMMER.getTime() } });
    // Mid-summer no stamp means two instants by the change of the clocks.
    expect(out.seenAtChange).toBeUndefined();
  });

  it('a press numbered just after a frame taken within the hour cannot be an hour old: UTC, not ambiguous', async () => {
    const out = await interpretFrame(
      frame(SUMMER),
      known({ taken: { seq: 6, at: SUMMER.getTime() - 30 * 60_000 } }),
    );
    expect(pressOf(out)?.time).toBe(SUMMER.toISOString());
    expect(pressOf(out)?.alttime).toBeUndefined();
  });

  it('a panel last seen on its zone clock: the press is its buffered alarm, taken late, the UTC reading kept as the other', async () => {
    const out = await interpretFrame(frame(SUMMER), known({ clock: 'zone' }));
    expect(out.reply).toBe('ACK');
    expect(out.late).toBe(true);
    expect(pressOf(out)?.time).toBe(new Date(SUMMER.getTime() - HOUR).toISOString());
    expect(pressOf(out)?.alttime).toBe(SUMMER.toISOString());
    expect(out.zoneHoursOff).toBeUndefined();
  });

  it('a panel last seen on UTC (its frames refused so): UTC, not ambiguous', async () => {
    const out = await interpretFrame(frame(SUMMER), known({ clock: 'utc' }));
    expect(pressOf(out)?.time).toBe(SUMMER.toISOString());
    expect(pressOf(out)?.alttime).toBeUndefined();
  });

  it('a frame without a life-critical alarm is NAKed, named and counted the same', async () => {
    const out = await interpretFrame(frame(SUMMER, [TEST]), ctx(now, london));
    expect(out.reply).toBe('NAK');
    expect(out.events).toEqual([]);
    expect(out.zoneHoursOff).toBe(-1);
    expect(out.refusal?.detail).toMatch(/a panel clock on UTC\? .*clockZone to UTC/);
    expect(out.seen).toEqual({ clock: 'utc' });
  });

  it('a frame of another account sent under its header, stamped as UTC, is refused without marking the account on UTC', async () => {
    // A recording of account 9999 (the same installer's key) sent again under 4321's clear header.
    const recorded = encodeDc09Message({
      type: 'ADM-CID',
      seq: 7,
      account: '9999',
      events: [TEST],
      at: SUMMER,
      key: dialerKey(KEY, 'hex'),
    });
    const body = recorded.toString('latin1').slice(9, -1).replace('#9999[', '#4321[');
    const stamped = new StampedMessages();
    const out = await interpretFrame(dc09Frame(body), { ...ctx(now, london), stamped });
    expect(out.reply).toBe('NAK');
    expect(out.forged).toBe('other-account');
    expect(out.seen).toBeUndefined();
  });

  it('a recording of a frame taken on its zone clock, sent again an hour on, is a copy: the account is not marked on UTC', async () => {
    const stored = new StoredFrames();
    const stamped = new StampedMessages();
    const first = await interpretFrame(frame(BST, [TEST]), { ...ctx(SUMMER, london), stored, stamped });
    expect(first.reply).toBe('ACK');
    stored.add(
      first.remember?.key as string,
      first.remember?.until as number,
      SUMMER.getTime(),
      'udp:192.0.2.1:1',
    );
    // An hour on its stamp read in London is an hour behind, read as UTC inside the window.
    const later = new Date(SUMMER.getTime() + HOUR - 2_000);
    const again = await interpretFrame(frame(BST, [TEST]), { ...ctx(later, london), stored, stamped });
    expect(again.copy).toEqual({ origin: 'udp:192.0.2.1:1' });
    expect(again.events).toEqual([]);
    expect(again.seen).toBeUndefined();
  });

  it('a frame refused as from a panel on UTC is not remembered as accepted content', async () => {
    const stamped = new StampedMessages();
    const out = await interpretFrame(frame(SUMMER, [TEST]), { ...ctx(now, london), stamped });
    expect(out.reply).toBe('NAK');
    expect(out.seen).toEqual({ clock: 'utc' });
    expect(stamped.size).toBe(0);
  });

  it('only the alarms of its frame are stored, as for a late frame', async () => {
    const out = await interpretFrame(frame(SUMMER, [PENDANT, TEST]), ctx(now, london));
    expect(out.events.filter((e) => e.type !== 'heartbeat').map((e) => e.type)).toEqual(['pendant.pressed']);
    expect(out.refusal?.detail).toMatch(
      /taken as UTC for its life-critical alarm\(s\): its 1 other event\(s\) not stored/,
    );
  });
});

describe('buffered alarms from the hour repeated when the clocks go back (Europe/London)', () => {
  // 25 October 2026: 01:00–01:59 is shown first at 00:00–00:59 UTC (BST), then at 01:00–01:59 UTC.
  const wall = (hhmm: string) => new Date(`2026-10-25T${hhmm}:00Z`);
  const at = (iso: string, lateAlarmMs = 3600_000, seen?: PanelSeen): InterpretContext => ({
    ...ctx(new Date(iso), london),
    window: { behindMs: 40_000, aheadMs: 20_000, lateAlarmMs },
    ...(seen ? { clocks: { seen: () => seen } } : {}),
  });
  const pressOf = (out: { events: readonly TelecareEvent[] }) =>
    out.events.find((e) => e.type === 'pendant.pressed');

  it('01:40 sent at 01:15 UTC is the first 01:40, 35 min late, not the second 25 min ahead', async () => {
    const out = await interpretFrame(frame(wall('01:40')), at('2026-10-25T01:15:00Z'));
    expect(out.reply).toBe('ACK');
    expect(out.late).toBe(true);
    expect(pressOf(out)?.time).toBe('2026-10-25T00:40:00.000Z');
    expect(pressOf(out)?.alttime).toBeUndefined();
  });

  it('an SIA event time of the first pass in a message of the first pass, sent in the second, is read so too', async () => {
    const sent = frame(
      wall('01:50'),
      [{ kind: 'sia', code: 'MA', zone: '001', at: wall('01:45') }],
      'SIA-DCS',
    );
    const out = await interpretFrame(sent, at('2026-10-25T01:25:00Z'));
    expect(out.reply).toBe('ACK');
    expect(out.events.find((e) => e.type !== 'heartbeat')?.time).toBe('2026-10-25T00:45:00.000Z');
  });

  it('an SIA event time of the first pass that reads later than its message of the second is the first pass', async () => {
    // `ti01:40` in a message stamped 01:15 after the change (01:15 UTC): the second 01:40 would be
    // 25 min after the message, so it is the first, 00:40 UTC, 35 min before it.
    const sent = frame(
      wall('01:15'),
      [{ kind: 'sia', code: 'MA', zone: '001', at: wall('01:40') }],
      'SIA-DCS',
    );
    const out = await interpretFrame(sent, at('2026-10-25T01:15:05Z'));
    expect(out.reply).toBe('ACK');
    const alarm = out.events.find((e) => e.type !== 'heartbeat');
    expect(alarm?.time).toBe('2026-10-25T00:40:00.000Z');
    expect(alarm?.alttime).toBeUndefined();
  });

  it('an SIA event time that reads later than its message with no change of the clocks is still judged ahead', async () => {
    // 1 November: no hour repeated; `ti01:40` is 25 min after the message's 01:15, not believed.
    const sent = frame(
      new Date('2026-11-01T01:15:00Z'),
      [{ kind: 'sia', code: 'MA', zone: '001', at: new Date('2026-11-01T01:40:00Z') }],
      'SIA-DCS',
    );
    const out = await interpretFrame(sent, at('2026-11-01T01:15:05Z'));
    expect(out.reply).toBe('ACK');
    expect(out.events.find((e) => e.type !== 'heartbeat')?.time).toBe('2026-11-01T01:15:00.000Z');
  });

  it('01:10 sent at 01:50 UTC with both readings within the late bound: the later taken, the earlier kept as alttime', async () => {
    const out = await interpretFrame(frame(wall('01:10')), at('2026-10-25T01:50:00Z', 7200_000));
    expect(pressOf(out)?.time).toBe('2026-10-25T01:10:00.000Z');
    expect(pressOf(out)?.alttime).toBe('2026-10-25T00:10:00.000Z');
  });

  it('the heartbeat of such a frame, dated as the frame, says its time is uncertain too', async () => {
    const out = await interpretFrame(frame(wall('01:10')), at('2026-10-25T01:50:00Z', 7200_000));
    expect(out.events.find((e) => e.type === 'heartbeat')).toMatchObject({
      time: '2026-10-25T01:10:00.000Z',
      alttime: '2026-10-25T00:10:00.000Z',
      receivedat: '2026-10-25T01:50:00.000Z',
    });
  });

  it('numbered just after a frame taken at 00:30 UTC, it cannot be the first 01:10 (00:10 UTC): not ambiguous', async () => {
    const seen = { clock: 'zone' as const, taken: { seq: 6, at: Date.parse('2026-10-25T00:30:00Z') } };
    const out = await interpretFrame(frame(wall('01:10')), at('2026-10-25T01:50:00Z', 7200_000, seen));
    expect(pressOf(out)?.time).toBe('2026-10-25T01:10:00.000Z');
    expect(pressOf(out)?.alttime).toBeUndefined();
  });

  it('numbered after one taken at 00:05 UTC, either reading follows it: still ambiguous', async () => {
    const seen = { taken: { seq: 6, at: Date.parse('2026-10-25T00:05:00Z') } };
    const out = await interpretFrame(frame(wall('01:10')), at('2026-10-25T01:50:00Z', 7200_000, seen));
    expect(pressOf(out)?.alttime).toBe('2026-10-25T00:10:00.000Z');
  });

  it('a frame in the window is taken at once, its order noted for the frames after it', async () => {
    const out = await interpretFrame(frame(wall('01:30')), at('2026-10-25T00:30:05Z'));
    expect(out.seen).toEqual({ clock: 'zone', taken: { seq: 7, at: Date.parse('2026-10-25T00:30:00Z') } });
    // On the night of the change: kept at once where the gateway instances share it.
    expect(out.seenAtChange).toBe(true);
  });
});

describe('a stamp a whole day off: a date out of step with its time', () => {
  const DAY = 24 * HOUR;
  // Late at night UTC, a panel that writes its local date (a day on, east of UTC) beside a UTC time;
  // just after midnight, one whose date has not rolled over yet.
  it.each([
    ['a local date beside a UTC time', new Date('2026-07-15T23:30:00Z'), DAY, /a day ahead of ours/],
    ['a date not rolled over yet', new Date('2026-07-16T00:00:05Z'), -DAY, /a day behind ours/],
  ])(
    '%s is NAKed with our time, its alarm too, the dead letter naming the day',
    async (_what, now, off, said) => {
      const out = await interpretFrame(frame(new Date(now.getTime() + off)), ctx(now, utc));
      expect(out.reply).toBe('NAK');
      expect(out.events).toEqual([]);
      expect(replyTime(out.replyFrame)).toBe(now.toISOString());
      expect(out.refusal?.detail).toMatch(said);
      expect(out.refusal?.detail).toMatch(/set the panel's date/);
      // Not a panel clock on local time: no whole number of hours from 1 to 14.
      expect(out.clockHoursOff).toBeUndefined();
    },
  );

  it('a stamp a day and more than the window off is not named so', async () => {
    const now = new Date('2026-07-15T23:30:00Z');
    const out = await interpretFrame(frame(new Date(now.getTime() + DAY + 5 * 60_000)), ctx(now, utc));
    expect(out.reply).toBe('NAK');
    expect(out.refusal?.detail).not.toMatch(/a day/);
  });
});

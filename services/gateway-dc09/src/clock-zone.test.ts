import type { Dc09AccountEntry } from '@telecare/contracts';
import { type DialerEvent, decodeReply, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
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
    expect(out.remember?.until).toBe(SUMMER.getTime() + 3600_000);
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
    expect(out.refusal?.detail).toMatch(/read on Europe\/London.*-3600 s from ours/);
    // An account with a zone is not taken for one on local time.
    expect(out.clockHoursOff).toBeUndefined();
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

import type { Dc09AccountEntry } from '@telecare/contracts';
import { type DialerEvent, decodeReply, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
import { loadGatewayDc09Config } from './config.ts';
import { StoredFrames } from './occurrences.ts';
import { type InterpretContext, interpretFrame } from './receiver.ts';

/**
 * A panel that lost its line buffers its events and, once the line is back, sends them with their
 * first timestamps; some never restamp on a NAK. A life-critical alarm among them is taken late;
 * anything else behind the window is refused as before.
 */

const NOW = new Date(Date.UTC(2026, 11, 6, 12, 0, 0));
const KEY = '000102030405060708090A0B0C0D0E0F';
const MINUTE = 60_000;
const entry: Dc09AccountEntry = testAccount('1234', {
  key: KEY,
  serial: 'DC09-LATE',
  // A fall detector's code, as an installer maps it.
  codeOverrides: { 'CID 140': 'fall.detected' },
});

const ctx = (overrides: Partial<InterpretContext> = {}): InterpretContext => ({
  now: NOW,
  window: { behindMs: 40_000, aheadMs: 20_000, lateAlarmMs: 3600_000 },
  partitions: 4,
  keyless: 'refuse',
  lookup: (account) => (account === entry.account ? entry : undefined),
  ...overrides,
});

const frame = (events: DialerEvent[], behindMs: number, type: 'ADM-CID' | 'SIA-DCS' | 'NULL' = 'ADM-CID') =>
  encodeDc09Message({
    type,
    seq: 42,
    account: entry.account,
    events,
    at: new Date(NOW.getTime() - behindMs),
    key: dialerKey(KEY, 'hex'),
  });

const FIRE: DialerEvent = { kind: 'cid', qualifier: 1, code: '110', zone: '003' };
const FALL: DialerEvent = { kind: 'cid', qualifier: 1, code: '140', zone: '004' };
const PENDANT: DialerEvent = { kind: 'cid', qualifier: 1, code: '101', zone: '001' };

describe('a life-critical alarm sent late with its first timestamp', () => {
  it.each([
    ['fire', FIRE, 'smoke.detected'],
    ['fall', FALL, 'fall.detected'],
    ['pendant', PENDANT, 'pendant.pressed'],
    ['fire (SIA)', { kind: 'sia', code: 'FA', zone: '003' } as DialerEvent, 'smoke.detected'],
  ])(
    'an encrypted %s alarm 25 min behind is ACKed and stored at its own time',
    async (_what, event, type) => {
      const at = new Date(NOW.getTime() - 25 * MINUTE);
      const sent = frame([event], 25 * MINUTE, event.kind === 'sia' ? 'SIA-DCS' : 'ADM-CID');
      const out = await interpretFrame(sent, ctx());
      expect(out.reply).toBe('ACK');
      expect(decodeReply(out.replyFrame, dialerKey(KEY, 'hex'))).toMatchObject({ type: 'ACK', seq: '0042' });
      expect(out.late).toBe(true);
      const alarm = out.events.find((e) => e.type === type);
      // Dated when it happened, received now: triage sees it and marks it late.
      expect(alarm).toMatchObject({ time: at.toISOString(), receivedat: NOW.toISOString() });
      // Remembered for as long as it could be taken late: the same recording again is a copy.
      expect(out.remember?.until).toBe(at.getTime() + 3600_000);
    },
  );

  it('the same frame again is a copy: ACKed, nothing stored', async () => {
    const stored = new StoredFrames();
    const sent = frame([FIRE], 25 * MINUTE);
    const first = await interpretFrame(sent, ctx({ stored }));
    expect(first.reply).toBe('ACK');
    expect(first.events.length).toBeGreaterThan(0);
    const remember = first.remember as { key: string; until: number };
    stored.add(remember.key, remember.until, NOW.getTime(), 'tcp:127.0.0.1:5000');
    // Sent again half an hour later: still within the late bound of its timestamp.
    const later = new Date(NOW.getTime() + 30 * MINUTE);
    const again = await interpretFrame(sent, ctx({ stored, now: later }));
    expect(again).toMatchObject({ reply: 'ACK', events: [], copy: { origin: 'tcp:127.0.0.1:5000' } });
  });

  it('the same message under another sequence number, stamped the same second, is NAKed, not ACKed as a copy: the panel sends it again stamped anew', async () => {
    // A panel sends the presses it queued while its line was down one after another, each stamped
    // as it goes: two presses of one pendant within a second are the same message and the same
    // stamp under two sequence numbers. ACKed as a copy, the second was never stored.
    const stored = new StoredFrames();
    const under = (seq: number, at = NOW) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq,
        account: entry.account,
        events: [PENDANT],
        at,
        key: dialerKey(KEY, 'hex'),
      });
    const first = await interpretFrame(under(42), ctx({ stored }));
    expect(first.reply).toBe('ACK');
    const remember = first.remember as { key: string; until: number; seq: string };
    stored.add(remember.key, remember.until, NOW.getTime(), 'tcp:127.0.0.1:5000', 'ACK', false, remember.seq);
    const second = await interpretFrame(under(43), ctx({ stored }));
    expect(second.reply).toBe('NAK');
    expect(second.events).toEqual([]);
    expect(second.refusal?.detail).toMatch(/sequence 0042.*stamped anew/);
    // Sent again a second later, stamped anew: stored.
    const later = new Date(NOW.getTime() + 1_000);
    const resent = await interpretFrame(under(43, later), ctx({ stored, now: later }));
    expect(resent.reply).toBe('ACK');
    expect(resent.events.map((e) => e.type)).toContain('pendant.pressed');
    // The first frame again under its own number is still the copy it was: ACKed, nothing stored.
    const copy = await interpretFrame(under(42), ctx({ stored }));
    expect(copy).toMatchObject({ reply: 'ACK', events: [] });
  });

  it('an alarm stored in the window is remembered as long as it could be taken late: replayed later, a copy', async () => {
    const stored = new StoredFrames();
    const sent = frame([PENDANT], 0);
    const first = await interpretFrame(sent, ctx({ stored }));
    expect(first.reply).toBe('ACK');
    expect(first.late).toBeUndefined();
    const remember = first.remember as { key: string; until: number };
    expect(remember.until).toBe(NOW.getTime() + 3600_000);
    stored.add(remember.key, remember.until, NOW.getTime(), 'tcp:127.0.0.1:5000');
    const again = await interpretFrame(sent, ctx({ stored, now: new Date(NOW.getTime() + 10 * MINUTE) }));
    expect(again).toMatchObject({ reply: 'ACK', events: [] });
    expect(again.copy).toBeDefined();
    // Anything else is remembered for the window only, as before.
    const poll = await interpretFrame(frame([], 0, 'NULL'), ctx());
    expect(poll.remember?.until).toBe(NOW.getTime() + 40_000);
  });

  it('only the life-critical alarms of a late frame are stored; the rest is dead-lettered', async () => {
    const sent = frame([FIRE, { kind: 'cid', qualifier: 3, code: '101', zone: '001' }], 25 * MINUTE);
    const out = await interpretFrame(sent, ctx());
    expect(out.reply).toBe('ACK');
    expect(out.events.map((e) => e.type)).toEqual(['smoke.detected', 'heartbeat']);
    expect(out.refusal?.reason).toBe('bad-frame');
    expect(out.refusal?.detail).toMatch(/1 other event\(s\).*not stored/);
  });

  it.each([
    ['a restore (Contact ID)', [{ kind: 'cid', qualifier: 3, code: '110', zone: '003' }], 'ADM-CID'],
    ['a restore (SIA)', [{ kind: 'sia', code: 'FH', zone: '003' }], 'SIA-DCS'],
    ['a cancel', [{ kind: 'cid', qualifier: 1, code: '406', zone: '001' }], 'ADM-CID'],
    ['a pendant restore', [{ kind: 'cid', qualifier: 3, code: '101', zone: '001' }], 'ADM-CID'],
    [
      'an opening and closing',
      [
        { kind: 'sia', code: 'OP', zone: '001' },
        { kind: 'sia', code: 'CL', zone: '001' },
      ],
      'SIA-DCS',
    ],
    ['a periodic test', [{ kind: 'cid', qualifier: 1, code: '602', zone: '000' }], 'ADM-CID'],
    ['a flood (not life-critical)', [{ kind: 'cid', qualifier: 1, code: '154', zone: '005' }], 'ADM-CID'],
    ['a poll', [], 'NULL'],
  ] as const)('%s 25 min behind is still NAKed with our time', async (_what, events, type) => {
    const out = await interpretFrame(frame([...events], 25 * MINUTE, type), ctx());
    expect(out.reply).toBe('NAK');
    expect(out.events).toEqual([]);
    expect(out.replyFrame.toString('latin1')).toContain('"NAK"0000R0L0A0[]_12:00:00,12-06-2026');
  });

  it('an alarm past the bound (2 h behind) is NAKed', async () => {
    const out = await interpretFrame(frame([FIRE], 120 * MINUTE), ctx());
    expect(out.reply).toBe('NAK');
    expect(out.events).toEqual([]);
  });

  it('with late alarms off (0), an alarm behind the window is NAKed as before', async () => {
    const off = ctx({ window: { behindMs: 40_000, aheadMs: 20_000, lateAlarmMs: 0 } });
    const out = await interpretFrame(frame([FIRE], 25 * MINUTE), off);
    expect(out.reply).toBe('NAK');
    expect(out.events).toEqual([]);
    // And an alarm in the window is remembered for the window only.
    const inWindow = await interpretFrame(frame([FIRE], 0), off);
    expect(inWindow.remember?.until).toBe(NOW.getTime() + 40_000);
  });

  it('an unknown account, or a frame under another key, is NAKed however it is timestamped', async () => {
    const stranger = await interpretFrame(frame([FIRE], 25 * MINUTE), ctx({ lookup: () => undefined }));
    expect(stranger.reply).toBe('NAK');
    const other = testAccount('1234', { key: 'F0E0D0C0B0A090807060504030201000' });
    const wrongKey = await interpretFrame(frame([FIRE], 25 * MINUTE), ctx({ lookup: () => other }));
    expect(wrongKey.reply).toBe('NAK');
  });

  it('DC09_LATE_ALARM_S: 3600 by default, 0 turns it off, at most a day', () => {
    expect(loadGatewayDc09Config({}).DC09_LATE_ALARM_S).toBe(3600);
    expect(loadGatewayDc09Config({ DC09_LATE_ALARM_S: '0' }).DC09_LATE_ALARM_S).toBe(0);
    expect(() => loadGatewayDc09Config({ DC09_LATE_ALARM_S: '86401' })).toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { Occurrences, StampedMessages, type StoredFrame, StoredFrames } from './occurrences.ts';

describe('Occurrences of a timestamped message', () => {
  it('a message sent again with nothing between, each time within the gap, is one occurrence', () => {
    const o = new Occurrences(120_000);
    expect(o.of('1234', 'press', 1_000)).toBe(1_000);
    expect(o.of('1234', 'press', 100_000)).toBe(1_000);
    // The gap counts from the last sending: a sender retrying every 100 s for minutes is one message.
    expect(o.of('1234', 'press', 200_000)).toBe(1_000);
  });

  it('the same message after a longer silence is a new occurrence', () => {
    const o = new Occurrences(120_000);
    expect(o.of('1234', 'press', 0)).toBe(0);
    expect(o.of('1234', 'press', 120_001)).toBe(120_001);
  });

  it('the same message after another one from the account is a new occurrence', () => {
    const o = new Occurrences(120_000);
    expect(o.of('1234', 'press', 0)).toBe(0);
    expect(o.of('1234', 'restore', 5_000)).toBe(5_000);
    expect(o.of('1234', 'press', 10_000)).toBe(10_000);
  });

  it('accounts are apart', () => {
    const o = new Occurrences(120_000);
    expect(o.of('1234', 'press', 0)).toBe(0);
    expect(o.of('5678', 'other', 1_000)).toBe(1_000);
    expect(o.of('1234', 'press', 2_000)).toBe(0);
    expect(o.size).toBe(2);
  });

  it('a new occurrence takes the name given (the timestamp of its first sending); its retransmissions keep it', () => {
    const o = new Occurrences(120_000);
    expect(o.of('1234', 'press', 10_000, 9_000)).toBe(9_000);
    expect(o.of('1234', 'press', 40_000, 39_000)).toBe(9_000);
  });
});

describe('Occurrences of a message without a timestamp, by sequence number and content', () => {
  it('the same sequence and content again within the gap is its first sending, other messages between or not', () => {
    const o = new Occurrences(120_000);
    expect(o.resent('1234', '0001', 'press', 1_000)).toBe(1_000);
    expect(o.resent('1234', '0002', 'mains', 2_000)).toBe(2_000);
    expect(o.resent('1234', '0001', 'press', 3_000)).toBe(1_000);
    expect(o.resent('1234', '0002', 'mains', 4_000)).toBe(2_000);
    // The gap counts from the last sending: a panel retrying every 100 s is one message.
    expect(o.resent('1234', '0001', 'press', 100_000)).toBe(1_000);
    expect(o.resent('1234', '0001', 'press', 200_000)).toBe(1_000);
  });

  it('past the gap it is a new event', () => {
    const o = new Occurrences(120_000);
    expect(o.resent('1234', '0001', 'press', 0)).toBe(0);
    expect(o.resent('1234', '0001', 'press', 120_001)).toBe(120_001);
  });

  it('another content under a sequence number is a new event, and the number then stands for it', () => {
    // A sender whose number stands still: a press, its restore, the pendant pressed again.
    const o = new Occurrences(120_000);
    expect(o.resent('1234', '0007', 'press', 0)).toBe(0);
    expect(o.resent('1234', '0007', 'restore', 1_000)).toBe(1_000);
    expect(o.resent('1234', '0007', 'press', 2_000)).toBe(2_000);
    expect(o.resent('1234', '0007', 'press', 3_000)).toBe(2_000);
  });

  it('accounts are apart', () => {
    const o = new Occurrences(120_000);
    expect(o.resent('1234', '0001', 'press', 0)).toBe(0);
    expect(o.resent('5678', '0001', 'press', 1_000)).toBe(1_000);
    expect(o.resent('1234', '0001', 'press', 2_000)).toBe(0);
  });

  it('a flood of sequence numbers under one account keeps a bounded memory; the newest are kept', () => {
    const o = new Occurrences(120_000, { perAccount: 16 });
    expect(o.resent('1234', '0001', 'press', 0)).toBe(0);
    for (let seq = 2; seq <= 9999; seq++) o.resent('1234', String(seq).padStart(4, '0'), `junk-${seq}`, seq);
    expect(o.size).toBe(16);
    expect(o.resent('1234', '9999', 'junk-9999', 10_000)).toBe(9999);
    // The press it pushed out is taken as new again: stored twice, never lost.
    expect(o.resent('1234', '0001', 'press', 10_001)).toBe(10_001);
  });

  it('a flood of accounts keeps a bounded memory, the least recently heard going first', () => {
    const o = new Occurrences(120_000, { total: 1_000 });
    for (let i = 0; i < 100_000; i++) o.resent(`A${i}`, '0001', 'press', 1_000);
    expect(o.size).toBeLessThanOrEqual(1_000);
    expect(o.resent('A99999', '0001', 'press', 2_000)).toBe(1_000);
    expect(o.resent('A0', '0001', 'press', 2_000)).toBe(2_000);
    // Timestamped messages' accounts too.
    const stamped = new Occurrences(120_000, { total: 1_000 });
    for (let i = 0; i < 100_000; i++) stamped.of(`A${i}`, 'press', 1_000);
    expect(stamped.size).toBeLessThanOrEqual(1_000);
  });

  it('accounts silent past the gap are forgotten in a sweep', () => {
    const o = new Occurrences(120_000);
    for (let i = 0; i < 1_023; i++) o.resent(`A${i}`, '0001', 'press', 0);
    expect(o.size).toBe(1_023);
    o.resent('late', '0001', 'press', 200_000);
    expect(o.size).toBe(1);
  });
});

describe('StoredFrames', () => {
  it('knows a frame until its time has passed', () => {
    const stored = new StoredFrames();
    stored.add('a', 1_000, 0, 'udp:192.0.2.1:5000');
    expect(stored.has('a', 1_000)).toBe(true);
    expect(stored.has('a', 1_001)).toBe(false);
    expect(stored.size).toBe(0);
  });

  it('forgets the frames whose time has passed in a sweep, and the oldest past its bound', () => {
    const stored = new StoredFrames(100);
    for (let i = 0; i < 1024; i++) stored.add(`old-${i}`, 1_000, 0, 'udp:192.0.2.1:5000');
    // Past the bound: the oldest went, down to nine tenths of it.
    expect(stored.size).toBeLessThanOrEqual(100);
    expect(stored.has('old-1023', 0)).toBe(true);
    expect(stored.has('old-0', 0)).toBe(false);
    // A sweep after their time forgets them all.
    const fresh = new StoredFrames();
    for (let i = 0; i < 1023; i++) fresh.add(`k-${i}`, 1_000, 0, 'udp:192.0.2.1:5000');
    fresh.add('late', 9_000, 5_000, 'udp:192.0.2.1:5000');
    expect(fresh.size).toBe(1);
  });

  it('a frame held past the window (a life-critical alarm) does not hold back the sweep of those after it', () => {
    const stored = new StoredFrames();
    stored.add('alarm', 3_600_000, 0, 'tcp:192.0.2.1:5000', 'ACK', true);
    for (let i = 0; i < 1022; i++) stored.add(`k-${i}`, 1_000, 0, 'tcp:192.0.2.1:5000');
    stored.add('now', 9_000, 5_000, 'tcp:192.0.2.1:5000');
    // The ordinary frames, their time passed, are forgotten; the alarm is still known.
    expect(stored.size).toBe(2);
    expect(stored.has('alarm', 5_000)).toBe(true);
    expect(stored.has('alarm', 3_600_001)).toBe(false);
  });

  it('a copy that comes while the first is being stored waits for it, and is a copy once it is stored', async () => {
    const stored = new StoredFrames();
    expect(await stored.claim('a', 0)).toBeUndefined();
    let copy: StoredFrame | undefined | 'waiting' = 'waiting';
    const waiting = stored.claim('a', 0).then((seen) => {
      copy = seen;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(copy).toBe('waiting');
    stored.add('a', 1_000, 0, 'udp:192.0.2.1:5000');
    await waiting;
    // With where the first came from: a copy over UDP is answered only there.
    expect(copy).toEqual({ origin: 'udp:192.0.2.1:5000', reply: 'ACK' });
  });

  it('a copy waiting on a first whose store failed is handled as a first itself', async () => {
    const stored = new StoredFrames();
    expect(await stored.claim('a', 0)).toBeUndefined();
    const waiting = stored.claim('a', 0);
    stored.release('a');
    expect(await waiting).toBeUndefined();
    // It holds the claim now: a third waits for it, and learns the second's origin.
    let third: StoredFrame | undefined | 'waiting' = 'waiting';
    const after = stored.claim('a', 0).then((seen) => {
      third = seen;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBe('waiting');
    stored.add('a', 1_000, 0, 'udp:192.0.2.2:6000');
    await after;
    expect(third).toEqual({ origin: 'udp:192.0.2.2:6000', reply: 'ACK' });
  });
});

describe('StampedMessages', () => {
  const KEYS = ['1234\u001f0001\u001f1000'];
  it('another content under a key already taken is refused only when it shares an encrypted block with what was taken', () => {
    const s = new StampedMessages();
    expect(s.conflicts(KEYS, 'press', ['A1', 'A2', 'A3'], 60_000, 0)).toBe(false);
    // The same content again is no conflict (a copy: StoredFrames' business).
    expect(s.conflicts(KEYS, 'press', ['A1', 'A2', 'A3'], 60_000, 1)).toBe(false);
    // A change of that frame without the key keeps blocks it did not touch: refused.
    expect(s.conflicts(KEYS, 'press-flipped', ['A1', 'X2', 'A3'], 60_000, 2)).toBe(true);
    // A message the panel encrypted itself (a restart reusing the number in the same second): taken.
    expect(s.conflicts(KEYS, 'mains', ['B1', 'B2'], 60_000, 3)).toBe(false);
    // And remembered beside the first: a change of either is refused.
    expect(s.conflicts(KEYS, 'mains-flipped', ['Y1', 'B2'], 60_000, 4)).toBe(true);
    expect(s.conflicts(KEYS, 'press-spliced', ['A1', 'B2'], 60_000, 5)).toBe(true);
  });

  it('forgets what was taken once its time has passed', () => {
    const s = new StampedMessages();
    expect(s.conflicts(KEYS, 'press', ['A1'], 1_000, 0)).toBe(false);
    expect(s.conflicts(KEYS, 'press-flipped', ['A1'], 2_000, 1_001)).toBe(false);
  });
});

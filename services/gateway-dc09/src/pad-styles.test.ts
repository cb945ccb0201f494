import type { Dc09AccountEntry } from '@telecare/contracts';
import type { KV } from '@telecare/platform';
import { type DialerEvent, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { forgeCancel, memoryBucket, newFirmware, testAccount } from '../test/support.ts';
import { StampedMessages } from './occurrences.ts';
import {
  PAD_PRINTABLE_BYTES,
  PAD_REFRESH_MS,
  type PadProfile,
  type PadSeen,
  PadStyles,
  padBreaks,
  SharedPadStyles,
  withPad,
} from './pad-styles.ts';
import { CLOCK_READ_PAUSE_MS } from './panel-clocks.ts';
import { type Interpretation, interpretFrame } from './receiver.ts';

const KEY = '000102030405060708090A0B0C0D0E0F';
const key = dialerKey(KEY, 'hex');
const NOW = new Date('2026-12-04T12:00:00Z');
const entry = (updatedAt = '2026-01-01T00:00:00Z'): Dc09AccountEntry =>
  testAccount('5E13', { key: KEY, updatedAt });

type Pad = { bytes: 'binary' | 'printable'; fullBlock: boolean };
const PRINTABLE: Pad = { bytes: 'printable', fullBlock: false };

/** A press of zone `zone` (3 blocks: a pad of 9 bytes, `|#5E13|`, then `1101 01 0zz]_12:` and the time). */
const press = (seq: number, pad: Pad) =>
  encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account: '5E13',
    events: [{ kind: 'cid', qualifier: 1, code: '101', zone: String(seq % 1000).padStart(3, '0') }],
    at: NOW,
    key,
    pad,
  });

/** An SIA test of `n` characters of text: one of 16 lengths in a row pads 0 bytes where the panel pads to the next block. */
const test = (seq: number, n: number, pad: Pad) =>
  encodeDc09Message({
    type: 'SIA-DCS',
    seq,
    account: '5E13',
    events: [{ kind: 'sia', code: 'RP', zone: '0', text: 'x'.repeat(n) }],
    at: NOW,
    key,
    pad,
  });

const forge = (genuine: Buffer) => forgeCancel(genuine, key, '5E13');

/** A frame of the account of `events` (`NULL`: a poll), its pad printable letters, never none. */
const message = (seq: number, type: 'ADM-CID' | 'SIA-DCS' | 'NULL', events: DialerEvent[]) =>
  encodeDc09Message({
    type,
    seq,
    account: '5E13',
    events,
    at: NOW,
    key,
    pad: { ...PRINTABLE, fullBlock: true },
  });
/** The same frame as a panel whose new firmware pads with any byte sends it: an 8-bit byte first. */
const repadded = (frame: Buffer) => newFirmware(frame, key);
const PRESS: DialerEvent = { kind: 'cid', qualifier: 1, code: '101', zone: '001' };
const CANCEL: DialerEvent = { kind: 'cid', qualifier: 1, code: '406', zone: '001' };

/** A receiver whose accepted frames' pads are noted, as the gateway notes them once stored. */
function receiver(pads = new PadStyles(), stamped?: StampedMessages) {
  let account = entry();
  const receive = async (frame: Buffer): Promise<Interpretation> => {
    const out = await interpretFrame(frame, {
      now: NOW,
      window: { behindMs: 40_000, aheadMs: 20_000 },
      partitions: 4,
      keyless: 'refuse',
      lookup: (id) => (id === account.account ? account : undefined),
      pads,
      ...(stamped ? { stamped } : {}),
    });
    if (out.pad && out.account) pads.note(out.account, out.pad.seen, out.pad.entry);
    return out;
  };
  return { receive, pads, resave: (updatedAt: string) => (account = entry(updatedAt)) };
}

describe('a first block garbled so that the second reads as the forger wants', () => {
  it('is refused once the account has shown printable pads; ACKed today while nothing is known of them', async () => {
    const { receive } = receiver();
    // An account's first frame cannot be held to anything: the forgery passes.
    const first = await receive(forge(press(79, PRINTABLE)));
    expect(first).toMatchObject({ reply: 'ACK' });
    expect(first.events.map((e) => e.type)).toContain('alarm.cancelled');

    const { receive: later } = receiver();
    for (const seq of [80, 81, 82, 83]) expect((await later(press(seq, PRINTABLE))).reply).toBe('ACK');
    const out = await later(forge(press(84, PRINTABLE)));
    expect(out).toMatchObject({ reply: 'NAK', forged: 'pad', events: [] });
    expect(out.refusal?.detail).toMatch(/8-bit byte in the pad/);
    // The panel's own frames are still taken.
    expect((await later(press(85, PRINTABLE))).reply).toBe('ACK');
  });

  it('a panel that pads only to the next block (a pad of 0 seen): a pad of a block or more is refused, whatever its bytes', async () => {
    const binary: Pad = { bytes: 'binary', fullBlock: false };
    const { receive, pads } = receiver();
    for (let n = 0; n < 16; n++) expect((await receive(test(100 + n, n, binary))).reply).toBe('ACK');
    expect(pads.style('5E13')).toMatchObject({ shortest: 0, high: true });
    const out = await receive(forge(press(120, binary)));
    expect(out).toMatchObject({ reply: 'NAK', forged: 'pad', events: [] });
    expect(out.refusal?.detail).toMatch(/a pad of 16 bytes/);
  });

  it('a panel padding with random bytes up to a whole block gets no protection from its pads (documented)', async () => {
    const binary: Pad = { bytes: 'binary', fullBlock: true };
    const { receive } = receiver();
    for (let n = 0; n < 16; n++) expect((await receive(test(100 + n, n, binary))).reply).toBe('ACK');
    expect(await receive(forge(press(120, binary)))).toMatchObject({ reply: 'ACK' });
  });

  it("a forgery refused for its pad is not remembered as the account's content: the genuine frame it was made from, sent after it, is taken", async () => {
    const { receive } = receiver(new PadStyles(), new StampedMessages());
    for (const seq of [80, 81, 82, 83]) expect((await receive(press(seq, PRINTABLE))).reply).toBe('ACK');
    // Sent on before the genuine frame by whoever holds it on the path: refused.
    const genuine = press(84, PRINTABLE);
    expect(await receive(forge(genuine))).toMatchObject({ reply: 'NAK', forged: 'pad' });
    // The genuine press, the same account, sequence and stamp with other content: the panel's.
    const out = await receive(genuine);
    expect(out).toMatchObject({ reply: 'ACK' });
    expect(out.events.map((e) => e.type)).toContain('pendant.pressed');
  });
});

describe('a panel whose firmware changed how it pads', () => {
  it('its life-critical alarm is ACKed and stored, marked; anything else refused until the account is saved again, then learned anew', async () => {
    const { receive, resave, pads } = receiver();
    for (let seq = 1; seq <= 20; seq++) expect((await receive(press(seq, PRINTABLE))).reply).toBe('ACK');
    const learned = pads.style('5E13');
    expect(learned).toMatchObject({ bytes: PAD_PRINTABLE_BYTES, high: false, control: false });

    // New firmware: a press after it is the resident's, and must not be NAKed till it is lost on site.
    const alarm = await receive(repadded(message(21, 'ADM-CID', [PRESS])));
    expect(alarm).toMatchObject({ reply: 'ACK', forged: 'pad', refusal: { reason: 'bad-frame' } });
    // No heartbeat: a forgery that keeps its alarm must not keep a cut line looking alive.
    expect(alarm.events.map((e) => e.type)).toEqual(['pendant.pressed']);
    expect(alarm.events[0]?.data.padBroken).toMatch(/^an 8-bit byte in the pad/);
    expect(alarm.refusal?.detail).toMatch(/8-bit byte in the pad.*taken for its life-critical alarm/);
    // Refusals teach nothing, nor does a frame taken for its alarm only: a forger could send as many.
    expect(alarm.pad).toBeUndefined();
    expect(pads.style('5E13')).toEqual(learned);

    // Anything without a life-critical alarm is refused as before: a poll, a test, a cancel.
    for (const [seq, type, events] of [
      [22, 'NULL', []],
      [23, 'SIA-DCS', [{ kind: 'sia', code: 'RP', zone: '0' }]],
      [24, 'ADM-CID', [CANCEL]],
    ] as const) {
      const out = await receive(repadded(message(seq, type, [...events])));
      expect(out).toMatchObject({ reply: 'NAK', forged: 'pad', events: [] });
      expect(out.refusal?.detail).toMatch(/save the account again in the registry/);
    }

    // The installer saves the account again: its entry is another, its pads are learned anew.
    const binary: Pad = { bytes: 'binary', fullBlock: true };
    resave('2026-12-04T11:00:00Z');
    for (let seq = 41; seq <= 60; seq++) expect((await receive(press(seq, binary))).reply).toBe('ACK');
    expect(pads.style('5E13')).toMatchObject({ entry: '2026-12-04T11:00:00Z', high: true });
  });

  it('only the life-critical alarms of such a frame are stored; the rest is dead-lettered saying so', async () => {
    const { receive } = receiver();
    for (let seq = 1; seq <= 4; seq++) expect((await receive(press(seq, PRINTABLE))).reply).toBe('ACK');
    const out = await receive(repadded(message(5, 'ADM-CID', [PRESS, CANCEL])));
    expect(out).toMatchObject({ reply: 'ACK', forged: 'pad' });
    expect(out.events.map((e) => e.type)).toEqual(['pendant.pressed']);
    expect(out.refusal?.detail).toMatch(/its 1 other event\(s\) not stored/);
  });
});

describe('learning a pad style', () => {
  const E = '2026-01-01T00:00:00Z';
  const learn = (...seen: PadSeen[]) =>
    seen.reduce<PadProfile | undefined>((profile, s) => withPad(profile, s, E), undefined);
  const alnum = (length: number): PadSeen => ({ length, high: false, control: false });
  const high: PadSeen = { length: 16, high: true, control: false };
  const control: PadSeen = { length: 16, high: false, control: true };

  it('holds nothing to a style before 3 frames, nor to a byte rule before enough bytes', () => {
    expect(padBreaks(learn(alnum(15), alnum(15)), high, E)).toBeUndefined();
    // 3 frames, 30 bytes: not yet enough to tell a panel drawing any byte.
    expect(padBreaks(learn(alnum(10), alnum(10), alnum(10)), high, E)).toBeUndefined();
    expect(padBreaks(learn(alnum(10), alnum(10), alnum(12)), high, E)).toMatch(/8-bit/);
    // Control bytes only past 160 bytes: dc09_spt draws one in nine.
    expect(padBreaks(learn(alnum(10), alnum(10), alnum(12)), control, E)).toBeUndefined();
    const long = learn(...Array.from({ length: 11 }, () => alnum(15)));
    expect(long?.bytes).toBe(PAD_PRINTABLE_BYTES);
    expect(padBreaks(long, control, E)).toMatch(/control byte/);
    expect(padBreaks(long, alnum(15), E)).toBeUndefined();
  });

  it('learns the length rule from a pad of 0 bytes only, and never against a pad of a block seen', () => {
    expect(padBreaks(learn(alnum(3), alnum(0), alnum(9)), alnum(16), E)).toMatch(/a pad of 16 bytes/);
    expect(padBreaks(learn(alnum(3), alnum(1), alnum(9)), alnum(16), E)).toBeUndefined();
    expect(padBreaks(learn(alnum(3), alnum(0), alnum(16)), alnum(16), E)).toBeUndefined();
  });

  it('a profile of another registry entry is not held to, and is started anew', () => {
    const profile = learn(alnum(15), alnum(15), alnum(15));
    expect(padBreaks(profile, high, E)).toMatch(/8-bit/);
    expect(padBreaks(profile, high, '2026-02-01T00:00:00Z')).toBeUndefined();
    expect(withPad(profile, high, '2026-02-01T00:00:00Z')).toMatchObject({ frames: 1, high: true });
  });

  it('a binary panel is written no more once it has shown it', () => {
    const profile = learn(high, high, high);
    expect(withPad(profile, high, E)).toEqual(profile);
  });
});

const bucket = memoryBucket;
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('SharedPadStyles', () => {
  const E = '2026-01-01T00:00:00Z';
  const alnum: PadSeen = { length: 15, high: false, control: false };

  function shared(kv: Pick<KV, 'get' | 'put'>) {
    const time = { now: 0, wall: 1_000 };
    const failed: string[] = [];
    const book = new SharedPadStyles({
      kv,
      now: () => time.now,
      wall: () => time.wall,
      unavailable: (op) => failed.push(op),
    });
    return { book, time, failed };
  }

  it('reads the profile another instance learned, and writes only when a frame widens it', async () => {
    const learned = {
      entry: E,
      frames: 3,
      bytes: PAD_PRINTABLE_BYTES,
      high: false,
      control: false,
      shortest: 15,
      longest: 15,
    };
    const { kv, state } = bucket({ 'pad.5E13': learned });
    const { book, time } = shared(kv);
    expect(await book.style('5E13')).toEqual(learned);
    book.note('5E13', alnum, E);
    await settled();
    expect(state.writes).toEqual([]);
    book.note('5E13', { length: 3, high: false, control: false }, E);
    await settled();
    expect(state.writes).toEqual([['pad.5E13', { ...learned, shortest: 3 }]]);
    // Written again once a week, so the bucket's max age keeps an account it hears.
    time.wall += PAD_REFRESH_MS;
    book.note('5E13', alnum, E);
    await settled();
    expect(state.writes).toHaveLength(2);
  });

  it('the bucket down: an account it knows nothing of is held to nothing, learned in memory and written only once read, merged', async () => {
    const stored = { entry: E, frames: 2, bytes: 20, high: false, control: false, shortest: 5, longest: 15 };
    const { kv, state, held } = bucket({ 'pad.5E13': stored });
    const { book, time, failed } = shared(kv);
    state.down = true;
    expect(await book.style('5E13')).toBeUndefined();
    expect(failed).toEqual(['read']);
    book.note('5E13', alnum, E);
    await settled();
    expect(state.writes).toEqual([]);
    // Left alone for a while, then read again: what memory learned is added to what it holds.
    expect(book.style('5E13')).toMatchObject({ frames: 1 });
    state.down = false;
    time.now += CLOCK_READ_PAUSE_MS;
    expect(await book.style('5E13')).toEqual({ ...stored, frames: 2, bytes: 20 });
    await settled();
    book.note('5E13', alnum, E);
    await settled();
    expect(held['pad.5E13']).toEqual({ ...stored, frames: 3, bytes: 35 });
  });
});

describe('SharedPadStyles memory', () => {
  it('an account memory let go is read from the bucket again, not taken for one never learned', async () => {
    const learned = {
      entry: '2026-01-01T00:00:00Z',
      frames: 3,
      bytes: 40,
      high: false,
      control: false,
      shortest: 9,
      longest: 9,
    };
    const { kv } = bucket({ 'pad.A1': learned, 'pad.B2': learned });
    const book = new SharedPadStyles({ kv, unavailable: () => {}, max: 1 });
    expect(await book.style('A1')).toEqual(learned);
    expect(await book.style('B2')).toEqual(learned);
    expect(await book.style('A1')).toEqual(learned);
  });
});

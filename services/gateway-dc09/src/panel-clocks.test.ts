import type { KV } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { memoryBucket } from '../test/support.ts';
import {
  CLOCK_READ_PAUSE_MS,
  CLOCK_READ_WAIT_MS,
  SharedPanelClocks,
  TAKEN_WRITE_EVERY_MS,
} from './panel-clocks.ts';

const bucket = memoryBucket;

/** Lets the writes started settle. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

function clocks(kv: Pick<KV, 'get' | 'put'>) {
  const time = { now: 0 };
  const failed: string[] = [];
  const book = new SharedPanelClocks({
    kv,
    now: () => time.now,
    unavailable: (op) => failed.push(op),
    flushEveryMs: 0,
  });
  return { book, time, failed };
}

describe('SharedPanelClocks', () => {
  it('reads an account from the bucket at its first frame, then from memory', async () => {
    const { kv } = bucket({ A1: { clock: 'zone', taken: { seq: 6, at: 1_000 } } });
    let reads = 0;
    const get = (key: string) => {
      reads++;
      return kv.get(key);
    };
    const counted = { ...kv, get: get as KV['get'] };
    const { book } = clocks(counted);
    expect(await book.seen('A1')).toEqual({ clock: 'zone', taken: { seq: 6, at: 1_000 } });
    expect(await book.seen('A1')).toEqual({ clock: 'zone', taken: { seq: 6, at: 1_000 } });
    expect(await book.seen('B2')).toEqual({});
    await book.seen('B2');
    expect(reads).toBe(2);
  });

  it('writes a new clock at once, and the last frame taken at most once an interval, the latest after it', async () => {
    const { kv, state, held } = bucket();
    const { book, time } = clocks(kv);
    await book.seen('A1');
    book.note('A1', { clock: 'zone', taken: { seq: 6, at: 1_000 } });
    await settled();
    expect(state.writes).toHaveLength(1);
    // Polls taken within the interval: held back.
    time.now = 10_000;
    book.note('A1', { taken: { seq: 7, at: 11_000 } });
    book.note('A1', { taken: { seq: 8, at: 12_000 } });
    await settled();
    expect(state.writes).toHaveLength(1);
    // The interval's end writes the latest.
    book.flush();
    await settled();
    expect(state.writes).toHaveLength(2);
    expect(held.A1).toEqual({ clock: 'zone', taken: { seq: 8, at: 12_000 } });
    // A frame a whole interval after the last write is written at once.
    time.now = 10_000 + TAKEN_WRITE_EVERY_MS;
    book.note('A1', { taken: { seq: 9, at: 13_000 } });
    await settled();
    expect(state.writes).toHaveLength(3);
    // The clock seen on changing is written at once too.
    time.now += 1_000;
    book.note('A1', { clock: 'utc' });
    await settled();
    expect(state.writes).toHaveLength(4);
    expect(held.A1).toEqual({ clock: 'utc', taken: { seq: 9, at: 13_000 } });
  });

  it('writes at once where the order could read differently: near a change of the clocks, or numbers run far ahead', async () => {
    const { kv, state } = bucket();
    const { book, time } = clocks(kv);
    await book.seen('A1');
    book.note('A1', { clock: 'zone', taken: { seq: 6, at: 1_000 } });
    time.now = 1_000;
    // Near a change of the clocks what was taken last decides which instant a stamp means.
    book.note('A1', { taken: { seq: 7, at: 2_000 } }, true);
    await settled();
    expect(state.writes).toHaveLength(2);
    // Eight on still follows the one written for a frame up to eight on after it; nine on not.
    book.note('A1', { taken: { seq: 15, at: 3_000 } });
    await settled();
    expect(state.writes).toHaveLength(2);
    book.note('A1', { taken: { seq: 16, at: 4_000 } });
    await settled();
    expect(state.writes).toHaveLength(3);
  });

  it('a bucket that does not answer costs a first frame at most its wait, then none for a while; writes are tried again', async () => {
    const { kv, state } = bucket();
    const { book, time, failed } = clocks(kv);
    state.silent = true;
    const asked = performance.now();
    expect(await book.seen('A1')).toBeUndefined();
    expect(performance.now() - asked).toBeLessThan(CLOCK_READ_WAIT_MS + 1_000);
    expect(failed).toEqual(['read']);
    // Paused: answered from memory at once, counted.
    expect(book.seen('A2')).toBeUndefined();
    expect(failed).toEqual(['read', 'read']);
    time.now = CLOCK_READ_PAUSE_MS;
    state.silent = false;
    state.down = true;
    book.note('A1', { clock: 'zone', taken: { seq: 6, at: 1_000 } });
    await settled();
    expect(failed).toEqual(['read', 'read', 'write']);
    // Noted meanwhile: memory answers, and the write goes out at the next interval.
    expect(await book.seen('A1')).toEqual({ clock: 'zone', taken: { seq: 6, at: 1_000 } });
    state.down = false;
    book.flush();
    await settled();
    expect(state.writes).toEqual([['A1', { clock: 'zone', taken: { seq: 6, at: 1_000 } }]]);
  });
});

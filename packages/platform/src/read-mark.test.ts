import { describe, expect, it } from 'vitest';
import { ReadMark } from './read-mark.ts';

describe('ReadMark', () => {
  it('passes a checkpoint only once everything taken up to its sequence is handled', () => {
    const mark = new ReadMark();
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.taken(3);
    mark.taken(5);
    mark.taken(8);
    mark.storedBy(100, 5);
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.handled(5); // 3 is still in hand: 5 is not read through
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.handled(3);
    expect(mark.readTo).toBe(100);
    expect(mark.handledThrough).toBe(7);
  });

  it('waits for a sequence not yet taken (the consumer is behind), and never goes back', () => {
    const mark = new ReadMark();
    mark.storedBy(200, 40);
    mark.taken(10);
    mark.handled(10);
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.taken(41);
    mark.handled(41);
    expect(mark.readTo).toBe(200);
    mark.storedBy(150, 41);
    expect(mark.readTo).toBe(200);
  });

  it('an idle pull reads through what was taken; a message handed back holds the mark', () => {
    const mark = new ReadMark();
    mark.taken(7);
    mark.idle(50); // 7 not handled yet (handed back for another try)
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.idle(60);
    mark.handled(7);
    expect(mark.readTo).toBe(60);
  });

  it('keeps a bounded list of checkpoints while stuck', () => {
    const mark = new ReadMark();
    mark.taken(1);
    for (let i = 0; i < 1_000; i++) mark.storedBy(i, i + 2);
    mark.taken(2_000);
    mark.handled(2_000);
    mark.handled(1);
    expect(mark.readTo).toBe(999);
  });
});

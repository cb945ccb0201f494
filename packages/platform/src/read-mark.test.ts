import { describe, expect, it } from 'vitest';
import { ReadMark } from './read-mark.ts';

describe('ReadMark', () => {
  it('passes a checkpoint once the ack floor reaches its sequence, and never goes back', () => {
    const mark = new ReadMark();
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.ackedThrough(3);
    mark.storedBy(100, 5);
    expect(mark.readTo).toBe(Number.NEGATIVE_INFINITY);
    mark.storedBy(150, 8);
    mark.ackedThrough(6);
    expect(mark.readTo).toBe(100);
    mark.ackedThrough(8);
    expect(mark.readTo).toBe(150);
    mark.storedBy(120, 9);
    mark.ackedThrough(9);
    expect(mark.readTo).toBe(150);
  });

  it('a checkpoint already acked through passes at once (nothing pending, nothing in hand)', () => {
    const mark = new ReadMark();
    mark.ackedThrough(40);
    mark.storedBy(200, 40);
    expect(mark.readTo).toBe(200);
  });

  it('keeps a bounded list of checkpoints while stuck', () => {
    const mark = new ReadMark();
    for (let i = 0; i < 1_000; i++) mark.storedBy(i, i + 2);
    mark.ackedThrough(2_000);
    expect(mark.readTo).toBe(999);
  });
});

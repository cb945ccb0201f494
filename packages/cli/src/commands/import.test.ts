import { describe, expect, it } from 'vitest';
import { importWaitMs } from './import.ts';

describe('how long an import is waited for', () => {
  it('grows with the file, past what the registry takes to write it', () => {
    // Measured: a 20,000-row devices.csv took 114 s to write and publish on a busy 2-core machine;
    // a fixed two minutes gave up on it while it was still being written.
    expect(importWaitMs(20_001)).toBeGreaterThan(2 * 114_000);
    // The largest request the registry takes, some 40,000 short rows.
    expect(importWaitMs(40_001)).toBeGreaterThan(2 * 228_000);
    expect(importWaitMs(3)).toBeGreaterThanOrEqual(120_000);
  });
});

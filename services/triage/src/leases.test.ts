import { ConfigError } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { renewInterval } from './leases.ts';

describe('lease renewal interval', () => {
  it('defaults to a quarter of the lease time less a drain', () => {
    expect(renewInterval(10_000, undefined)).toBe(2_250);
    expect(renewInterval(3_000, undefined)).toBe(500);
  });

  it('keeps a configured interval that leaves two renewals before a lease is given up', () => {
    expect(renewInterval(10_000, 3_000)).toBe(3_000);
  });

  it('refuses an interval too long for the lease time, naming the variable', () => {
    expect(() => renewInterval(10_000, 3_001)).toThrow(ConfigError);
    expect(() => renewInterval(10_000, 3_001)).toThrow(
      /TRIAGE_LEASE_RENEW_MS: 3001 ms with a lease time of 10000 ms/,
    );
    // A lease time shorter than a drain leaves no interval at all.
    expect(() => renewInterval(1_000, undefined)).toThrow(ConfigError);
  });
});

import { alertIdFor } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alertId } from './ids.ts';
import { formatIso, parseEventTime } from './time.ts';

/** Every instant `toISOString` writes with a four-digit year. */
const instant = fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 });

describe('event times without Date objects', () => {
  it('parseEventTime agrees with Date.parse on every canonical instant', () => {
    fc.assert(
      fc.property(instant, (ms) => {
        const iso = new Date(ms).toISOString();
        expect(parseEventTime(iso)).toBe(Date.parse(iso));
      }),
      { numRuns: 20_000 },
    );
  });

  it('parseEventTime hands every other form to Date.parse', () => {
    for (const iso of [
      '2026-11-22T10:30:00Z',
      '2026-11-22T10:30:00.123456Z',
      '2026-11-22T11:30:00.000+01:00',
      '2026-11-22T24:00:00.000Z',
      '2026-13-22T10:30:00.000Z',
      '2026/11/22T10:30:00.000Z',
      '2026-1a-22T10:30:00.000Z',
    ])
      expect(parseEventTime(iso)).toStrictEqual(Date.parse(iso));
  });

  it('formatIso writes what toISOString writes', () => {
    fc.assert(
      fc.property(instant, (ms) => {
        expect(formatIso(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('alert ids', () => {
  it('are the ids alertIdFor gives', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (rule, resident, key) => {
        expect(alertId(rule, resident, key)).toBe(alertIdFor(rule, resident, key));
      }),
      { numRuns: 2_000 },
    );
  });
});

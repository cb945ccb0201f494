import { alertIdFor } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alertId } from './ids.ts';
import {
  addDays,
  epochDay,
  formatAlso,
  formatDay,
  formatIso,
  formatWhen,
  localMinute,
  localTime,
  parseEventTime,
  zonedInstant,
} from './time.ts';

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

  it('dates are read as the Date routes read them, a day past the month running on', () => {
    // What the digit-by-digit readings replace: Date.parse of midnight UTC, Date.UTC of the numbers.
    const dayByParse = (date: string) => Math.round(Date.parse(`${date}T00:00:00Z`) / 86_400_000);
    const byUtc = (date: string, days: number) => {
      const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
      return new Date(Date.UTC(y, mo - 1, d + days));
    };
    const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
    const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const dates = fc.tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    );
    fc.assert(
      fc.property(dates, fc.integer({ min: -400, max: 400 }), ([y, m, d], days) => {
        const date = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
        expect(epochDay(date)).toStrictEqual(dayByParse(date));
        let added: string | Error;
        try {
          added = byUtc(date, days).toISOString().slice(0, 10);
        } catch (error) {
          added = error as Error;
        }
        if (added instanceof Error) expect(() => addDays(date, days)).toThrow(RangeError);
        else expect(addDays(date, days)).toBe(added);
        const day = byUtc(date, 0).getUTCDay();
        expect(formatDay(date)).toBe(
          `${WEEKDAYS[day]} ${Number(date.slice(8))} ${MONTHS[Number(date.slice(5, 7)) - 1]}`,
        );
      }),
      { numRuns: 5_000 },
    );
    for (const odd of ['2026-1-01', '2026-01-0a', '+02026-01-01', ''])
      expect(epochDay(odd)).toStrictEqual(dayByParse(odd));
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

const formats = new Map<string, Intl.DateTimeFormat>();
/** An instant's fields in the zone's own calendar, to the second, through Intl. */
function zoneParts(ms: number, timeZone: string): Record<string, string> {
  const format =
    formats.get(timeZone) ??
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  formats.set(timeZone, format);
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(new Date(ms))) parts[part.type] = part.value;
  return parts;
}

/** What the zone's own calendar says, through Intl, for each instant. */
function reference(ms: number, timeZone: string) {
  const parts = zoneParts(ms, timeZone);
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

describe('local time', () => {
  it('gives the date and minute the zone gives (localMinute the minute alone), whole-hour zones or not, across DST changes', () => {
    const zones = [
      'Europe/London',
      'Europe/Berlin',
      'Asia/Kolkata',
      'Australia/Adelaide',
      'America/St_Johns',
      'Asia/Kathmandu',
      'UTC',
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('1990-01-01T00:00:00Z'), max: Date.parse('2040-01-01T00:00:00Z') }),
        fc.constantFrom(...zones),
        (ms, zone) => {
          const local = localTime(ms, zone);
          expect({ date: local.date, minute: local.minute }).toEqual(reference(ms, zone));
          expect(localMinute(ms, zone)).toBe(reference(ms, zone).minute);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe('local time at zone changes that are not on a whole hour of UTC', () => {
  it('reads the new offset from the minute it starts', () => {
    // Adelaide leaves summer time at 03:00 local, 16:30 UTC; Lord Howe moves by half an hour.
    const changes: Array<[string, string]> = [
      ['Australia/Adelaide', '2015-04-04T16:30:00Z'],
      ['Australia/Adelaide', '2015-10-03T16:30:00Z'],
      ['Australia/Lord_Howe', '2015-04-04T15:00:00Z'],
      ['Australia/Lord_Howe', '2015-10-03T15:30:00Z'],
      ['America/St_Johns', '2015-03-08T05:30:00Z'],
      // Until 2011 Newfoundland changed at 00:01 local: 02:31 and 03:31 UTC, inside a quarter hour.
      ['America/St_Johns', '2007-11-04T02:31:00Z'],
      ['America/St_Johns', '2007-03-11T03:31:00Z'],
    ];
    for (const [zone, iso] of changes) {
      for (const deltaMin of [-16, -1, 0, 1, 14, 16]) {
        const ms = Date.parse(iso) + deltaMin * 60_000;
        const local = localTime(ms, zone);
        expect({ zone, deltaMin, date: local.date, minute: local.minute }).toEqual({
          zone,
          deltaMin,
          ...reference(ms, zone),
        });
      }
    }
  });
});

/** The zone's offset at an instant, to the second, through Intl. */
function offsetOf(ms: number, timeZone: string): number {
  const parts = zoneParts(ms, timeZone);
  const [y, mo, d, h, mi, s] = ['year', 'month', 'day', 'hour', 'minute', 'second'].map((k) =>
    Number(parts[k]),
  );
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s) - ms;
}

/**
 * The instant of a local date and minute by Intl round trips: the offsets the zone has around it,
 * each tried; of those whose instant reads back as that local time, the later (an overlap); when
 * none does (a gap), the later of the instants tried, which is the time read with the offset
 * before the gap (a clock put forward reads the time that much later).
 */
function instantOf(date: string, minute: number, timeZone: string): number {
  const wall = Date.parse(`${date}T00:00:00Z`) + minute * 60_000;
  const tried = [wall - 14 * 3_600_000, wall, wall + 12 * 3_600_000].map(
    (at) => wall - offsetOf(at, timeZone),
  );
  const fits = tried.filter((t) => t + offsetOf(t, timeZone) === wall);
  return Math.max(...(fits.length > 0 ? fits : tried));
}

describe('zonedInstant: a local date and minute in a zone to an instant', () => {
  it('Monrovia in January 1972: from -0:44:30 to UTC, a gap of 44 min 30 s after midnight', () => {
    const zone = 'Africa/Monrovia';
    const at = (date: string, hhmm: string) =>
      new Date(zonedInstant(date, Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3)), zone)).toISOString();
    expect(at('1972-01-06', '12:00')).toBe('1972-01-06T12:44:30.000Z');
    expect(at('1972-01-06', '23:59')).toBe('1972-01-07T00:43:30.000Z');
    // Not on the clocks that night: read with the offset before, as a clock put forward.
    expect(at('1972-01-07', '00:00')).toBe('1972-01-07T00:44:30.000Z');
    expect(at('1972-01-07', '00:30')).toBe('1972-01-07T01:14:30.000Z');
    expect(at('1972-01-07', '00:44')).toBe('1972-01-07T01:28:30.000Z');
    expect(at('1972-01-07', '00:45')).toBe('1972-01-07T00:45:00.000Z');
    expect(at('1972-01-07', '04:00')).toBe('1972-01-07T04:00:00.000Z');
    expect(at('1972-01-08', '00:00')).toBe('1972-01-08T00:00:00.000Z');
  });

  it('agrees with Intl round trips in every zone, across gaps and overlaps, whole minutes of offset or not', () => {
    const zones = [
      'Africa/Monrovia',
      'Europe/London',
      'America/New_York',
      'America/St_Johns',
      'Australia/Adelaide',
      'Australia/Lord_Howe',
      'Pacific/Apia',
      'Asia/Kathmandu',
      'Europe/Dublin',
      'UTC',
    ];
    // Each zone's own changes, and random days: the minutes around each change, every one.
    const changes: Array<[string, string]> = [
      ['Africa/Monrovia', '1972-01-07'],
      ['Africa/Monrovia', '1972-01-06'],
      ['Europe/London', '2026-03-29'],
      ['Europe/London', '2026-10-25'],
      ['America/New_York', '2026-03-08'],
      ['America/New_York', '2026-11-01'],
      ['America/St_Johns', '2007-11-04'],
      ['America/St_Johns', '2007-03-11'],
      ['Australia/Lord_Howe', '2015-04-05'],
      ['Australia/Lord_Howe', '2015-10-04'],
      ['Pacific/Apia', '2011-12-29'],
      ['Pacific/Apia', '2011-12-31'],
      ['Asia/Kathmandu', '1986-01-01'],
    ];
    for (const [zone, date] of changes)
      for (let minute = 0; minute < 1440; minute += 1)
        expect({ zone, date, minute, at: zonedInstant(date, minute, zone) }).toEqual({
          zone,
          date,
          minute,
          at: instantOf(date, minute, zone),
        });
    fc.assert(
      fc.property(
        fc.integer({
          min: Date.parse('1950-01-01T00:00:00Z') / 86_400_000,
          max: Date.parse('2040-01-01T00:00:00Z') / 86_400_000,
        }),
        fc.integer({ min: 0, max: 1439 }),
        fc.constantFrom(...zones),
        (day, minute, zone) => {
          const date = new Date(day * 86_400_000).toISOString().slice(0, 10);
          expect(zonedInstant(date, minute, zone)).toBe(instantOf(date, minute, zone));
        },
      ),
      { numRuns: 5_000 },
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

describe('times in reasons carry their day', () => {
  const at = (iso: string) => Date.parse(iso);
  it('today, yesterday or the date, in the resident’s zone', () => {
    const ref = at('2026-12-03T09:00:00Z');
    expect(formatWhen(at('2026-12-03T08:12:00Z'), 'Europe/London', ref)).toBe('08:12 today (Thu 3 Dec)');
    expect(formatWhen(at('2026-12-02T21:40:00Z'), 'Europe/London', ref)).toBe('21:40 yesterday (Wed 2 Dec)');
    expect(formatWhen(at('2026-11-30T09:05:00Z'), 'Europe/London', ref)).toBe('09:05 on Mon 30 Nov');
    // 23:30 UTC is already the next day in Berlin.
    expect(formatWhen(at('2026-12-02T23:30:00Z'), 'Europe/Berlin', ref)).toBe('00:30 today (Thu 3 Dec)');
    // Summer time: 23:30 UTC on 30 June is 00:30 on 1 July in London.
    expect(formatWhen(at('2026-06-30T23:30:00Z'), 'Europe/London', at('2026-07-01T10:00:00Z'))).toBe(
      '00:30 today (Wed 1 Jul)',
    );
  });
  it('a further moment of the same day is its clock time alone', () => {
    const ref = at('2026-12-03T09:00:00Z');
    expect(formatAlso(at('2026-12-03T02:40:00Z'), 'Europe/London', at('2026-12-03T02:42:00Z'), ref)).toBe(
      '02:40',
    );
    expect(formatAlso(at('2026-12-02T21:42:00Z'), 'Europe/London', at('2026-12-03T02:42:00Z'), ref)).toBe(
      '21:42 yesterday (Wed 2 Dec)',
    );
  });
});

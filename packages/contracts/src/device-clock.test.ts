import { describe, expect, it } from 'vitest';
import {
  attributeEvent,
  type DevicePairings,
  eventTimeOf,
  MAX_CLOCK_AHEAD_MS,
  MAX_CLOCK_BEHIND_MS,
  PAIRING_CLOCK_TOLERANCE_MS,
} from './index.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const received = '2026-03-10T12:00:00.000Z';
const at = (msBefore: number) => new Date(Date.parse(received) - msBefore).toISOString();

// Mrs A had the pendant from five days ago until yesterday; Mr B has it since yesterday noon.
const moved: DevicePairings = {
  residentId: 'res_b',
  pairedAt: at(DAY),
  previousPairing: { residentId: 'res_a', pairedAt: at(5 * DAY), endedAt: at(DAY) },
};

describe('attributeEvent: whose an event is, and when it happened', () => {
  it('keeps a time within the current pairing on the current resident, as sent', () => {
    expect(attributeEvent(at(HOUR), received, moved)).toEqual({ residentId: 'res_b', time: at(HOUR) });
    // Within the tolerance before pairing: the installer's test on site.
    const onSite = at(DAY + PAIRING_CLOCK_TOLERANCE_MS - 1000);
    expect(attributeEvent(onSite, received, moved)).toEqual({ residentId: 'res_b', time: onSite });
  });

  it('gives a time in the previous pairing to the previous resident, at that time, marked moved', () => {
    const lastNight = at(DAY + 10 * HOUR);
    expect(attributeEvent(lastNight, received, moved)).toEqual({
      residentId: 'res_a',
      time: lastNight,
      movedat: at(DAY),
    });
    // Just past the tolerance before the new pairing, and just within it after the old one began.
    for (const t of [
      at(DAY + PAIRING_CLOCK_TOLERANCE_MS + 1000),
      at(5 * DAY + PAIRING_CLOCK_TOLERANCE_MS - 1000),
    ])
      expect(attributeEvent(t, received, moved)).toMatchObject({
        residentId: 'res_a',
        time: t,
        movedat: at(DAY),
      });
  });

  it('takes a time before the previous pairing began for a wrong clock on the current resident', () => {
    const older = { ...moved, previousPairing: { ...moved.previousPairing!, pairedAt: at(3 * DAY) } };
    const t = at(3 * DAY + PAIRING_CLOCK_TOLERANCE_MS + 1000);
    expect(attributeEvent(t, received, older)).toEqual({
      residentId: 'res_b',
      time: received,
      devicetime: t,
    });
  });

  it('reads a previous pairing whose start is not known as open back to the week', () => {
    const { pairedAt: _, ...unknownStart } = moved.previousPairing!;
    const t = at(6 * DAY);
    expect(attributeEvent(t, received, { ...moved, previousPairing: unknownStart })).toEqual({
      residentId: 'res_a',
      time: t,
      movedat: at(DAY),
    });
  });

  it('keeps a time before pairing with no previous pairing a wrong clock (a new device)', () => {
    const { previousPairing: _, ...fresh } = moved;
    const t = at(DAY + 10 * HOUR);
    expect(attributeEvent(t, received, fresh)).toEqual({
      residentId: 'res_b',
      time: received,
      devicetime: t,
    });
    expect(eventTimeOf(t, received, fresh.pairedAt)).toEqual({ time: received, devicetime: t });
  });

  it('never gives a clock too far ahead or behind to the previous resident', () => {
    const ahead = at(-MAX_CLOCK_AHEAD_MS - 1000);
    expect(attributeEvent(ahead, received, moved)).toEqual({
      residentId: 'res_b',
      time: received,
      devicetime: ahead,
    });
    // A clock reset to a date within the previous pairing but more than a week back: a press now
    // in the new home must not go to the previous one.
    const longAgo = { ...moved, previousPairing: { ...moved.previousPairing!, pairedAt: at(400 * DAY) } };
    const reset = at(MAX_CLOCK_BEHIND_MS + DAY);
    expect(attributeEvent(reset, received, longAgo)).toEqual({
      residentId: 'res_b',
      time: received,
      devicetime: reset,
    });
  });

  it('does not mark as moved a backlog from the same home the device went back to', () => {
    const back: DevicePairings = {
      residentId: 'res_a',
      pairedAt: at(DAY),
      previousPairing: { residentId: 'res_a', pairedAt: at(10 * DAY), endedAt: at(2 * DAY) },
    };
    const t = at(3 * DAY);
    expect(attributeEvent(t, received, back)).toEqual({ residentId: 'res_a', time: t });
  });

  it('reads an entry without pairing times by the week alone', () => {
    const t = at(3 * DAY);
    expect(attributeEvent(t, received, { residentId: 'res_b' })).toEqual({ residentId: 'res_b', time: t });
  });
});

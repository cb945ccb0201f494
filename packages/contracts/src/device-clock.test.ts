import { describe, expect, it } from 'vitest';
import {
  attributeEvent,
  type DevicePairings,
  eventTimeOf,
  MAX_CLOCK_AHEAD_MS,
  MAX_CLOCK_BEHIND_MS,
  MOVED_CLOCK_MARGIN_MS,
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
    // Within the tolerance before pairing, the device with nobody: the installer's test on site.
    const { previousPairing: _, ...fresh } = moved;
    const onSite = at(DAY + PAIRING_CLOCK_TOLERANCE_MS - 1000);
    expect(attributeEvent(onSite, received, fresh)).toEqual({ residentId: 'res_b', time: onSite });
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

  it('gives a time before the previous pairing began to nobody: the device was neither home’s then', () => {
    const older = { ...moved, previousPairing: { ...moved.previousPairing!, pairedAt: at(3 * DAY) } };
    const t = at(3 * DAY + PAIRING_CLOCK_TOLERANCE_MS + 1000);
    expect(attributeEvent(t, received, older)).toEqual({
      residentId: null,
      detail: `timed ${t}, before the device's previous pairing began (${at(3 * DAY)}): it belongs to no resident the device map knows`,
    });
    // Within the tolerance before it began: the previous home's installer on site.
    const onSite = at(3 * DAY + PAIRING_CLOCK_TOLERANCE_MS);
    expect(attributeEvent(onSite, received, older)).toMatchObject({ residentId: 'res_a', time: onSite });
  });

  describe('a device in stock between two homes', () => {
    // Mrs A had it from five days ago until three days ago; it sat in stock; Mr B has it since yesterday.
    const stocked: DevicePairings = {
      residentId: 'res_b',
      pairedAt: at(DAY),
      previousPairing: { residentId: 'res_a', pairedAt: at(5 * DAY), endedAt: at(3 * DAY) },
    };

    it('gives a time in stock to nobody, from the moment the previous pairing ended', () => {
      for (const t of [at(2 * DAY), at(3 * DAY), at(DAY + PAIRING_CLOCK_TOLERANCE_MS + 1)]) {
        expect(attributeEvent(t, received, stocked)).toEqual({
          residentId: null,
          detail: `timed ${t}, while the device was in stock (its previous pairing ended ${at(3 * DAY)}, this one began ${at(DAY)}): it belongs to no resident`,
        });
      }
    });

    it("keeps the previous pairing's last moment its resident's and the current pairing's start (less the tolerance) the current one's", () => {
      const last = at(3 * DAY + 1);
      expect(attributeEvent(last, received, stocked)).toEqual({
        residentId: 'res_a',
        time: last,
        movedat: at(3 * DAY),
      });
      for (const t of [at(DAY + PAIRING_CLOCK_TOLERANCE_MS), at(DAY), at(HOUR)])
        expect(attributeEvent(t, received, stocked)).toEqual({ residentId: 'res_b', time: t });
    });

    it('gives a time before the previous pairing began to nobody', () => {
      const t = at(6 * DAY);
      expect(attributeEvent(t, received, stocked)).toMatchObject({ residentId: null });
    });

    it('gives a life-critical alarm so timed to the current resident, on receipt: its clock may have stood still between homes', () => {
      for (const t of [at(2 * DAY), at(3 * DAY), at(6 * DAY)])
        expect(attributeEvent(t, received, stocked, true)).toEqual({
          residentId: 'res_b',
          time: received,
          devicetime: t,
        });
      // In either pairing, as any event.
      expect(attributeEvent(at(4 * DAY), received, stocked, true)).toEqual({
        residentId: 'res_a',
        time: at(4 * DAY),
        movedat: at(3 * DAY),
      });
      expect(attributeEvent(at(HOUR), received, stocked, true)).toEqual({
        residentId: 'res_b',
        time: at(HOUR),
      });
    });

    it('gives nobody a time in stock between two spells in the same home', () => {
      const back = { ...stocked, residentId: 'res_a' };
      expect(attributeEvent(at(2 * DAY), received, back)).toMatchObject({ residentId: null });
      expect(attributeEvent(at(4 * DAY), received, back)).toEqual({ residentId: 'res_a', time: at(4 * DAY) });
    });

    it('still reads a clock too far behind as wrong, on the current resident', () => {
      const longAgo = {
        ...stocked,
        previousPairing: { ...stocked.previousPairing!, pairedAt: at(400 * DAY), endedAt: at(300 * DAY) },
      };
      const reset = at(MAX_CLOCK_BEHIND_MS + DAY);
      expect(attributeEvent(reset, received, longAgo)).toEqual({
        residentId: 'res_b',
        time: received,
        devicetime: reset,
      });
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

  describe('a device moved straight from one home to another', () => {
    // `moved`: Mrs A's pairing ended yesterday noon, the moment Mr B's began; no spell in stock.
    it("gives the previous home's last hour to the previous resident: the tolerance before pairing covers no one else's time", () => {
      for (const t of [at(DAY + PAIRING_CLOCK_TOLERANCE_MS - 1000), at(DAY + 10 * 60_000), at(DAY + 1)])
        expect(attributeEvent(t, received, moved)).toEqual({
          residentId: 'res_a',
          time: t,
          movedat: at(DAY),
        });
      expect(attributeEvent(at(DAY), received, moved)).toEqual({ residentId: 'res_b', time: at(DAY) });
    });

    it('gives a short spell in stock the tolerance from its start only', () => {
      // Taken back from Mrs A twenty minutes before Mr B's pairing.
      const brief: DevicePairings = {
        ...moved,
        previousPairing: { ...moved.previousPairing!, endedAt: at(DAY + 20 * 60_000) },
      };
      expect(attributeEvent(at(DAY + 30 * 60_000), received, brief)).toMatchObject({ residentId: 'res_a' });
      expect(attributeEvent(at(DAY + 10 * 60_000), received, brief)).toEqual({
        residentId: 'res_b',
        time: at(DAY + 10 * 60_000),
      });
    });

    it("gives the previous resident an alarm from their home's last hour that was held, and the new home a press heard at once from a slow clock", () => {
      // Mrs A's press forty minutes before the move, held by the pendant and heard now: hers.
      const held = at(DAY + 40 * 60_000);
      expect(attributeEvent(held, received, moved, true)).toEqual({
        residentId: 'res_a',
        time: held,
        movedat: at(DAY),
      });
      // A press at Mr B's a minute after the move, from a clock three minutes slow, heard at once:
      // made where the device is now. His, dated on receipt, the device's time kept.
      const heard = new Date(Date.parse(at(DAY)) + 60_000).toISOString();
      const slow = new Date(Date.parse(heard) - 3 * 60_000).toISOString();
      expect(attributeEvent(slow, heard, moved, true)).toEqual({
        residentId: 'res_b',
        time: heard,
        devicetime: slow,
      });
      // Heard later than a slow clock explains, it was held: Mrs A's.
      const heldShort = new Date(Date.parse(heard) - MOVED_CLOCK_MARGIN_MS - 1000).toISOString();
      expect(attributeEvent(heldShort, heard, moved, true)).toMatchObject({ residentId: 'res_a' });
      // Another report so timed stays hers.
      expect(attributeEvent(slow, heard, moved)).toEqual({
        residentId: 'res_a',
        time: slow,
        movedat: at(DAY),
      });
    });
  });

  describe('a device paired for the first time, after a spell in stock', () => {
    // Registered into stock five days ago, paired to Mr B yesterday.
    const first: DevicePairings = { residentId: 'res_b', pairedAt: at(DAY), stockedAt: at(5 * DAY) };

    it('gives a time in stock to nobody', () => {
      for (const t of [at(5 * DAY), at(3 * DAY), at(DAY + PAIRING_CLOCK_TOLERANCE_MS + 1)])
        expect(attributeEvent(t, received, first)).toEqual({
          residentId: null,
          detail: `timed ${t}, while the device was in stock (it entered stock ${at(5 * DAY)}, this pairing began ${at(DAY)}): it belongs to no resident`,
        });
    });

    it('keeps the tolerance before pairing the current resident’s', () => {
      for (const t of [at(DAY + PAIRING_CLOCK_TOLERANCE_MS), at(DAY), at(HOUR)])
        expect(attributeEvent(t, received, first)).toEqual({ residentId: 'res_b', time: t });
    });

    it('gives a life-critical alarm so timed to the current resident, on receipt', () => {
      const t = at(3 * DAY);
      expect(attributeEvent(t, received, first, true)).toEqual({
        residentId: 'res_b',
        time: received,
        devicetime: t,
      });
    });

    it('keeps a time before the device was registered a wrong clock', () => {
      const t = at(5 * DAY + 1000);
      expect(attributeEvent(t, received, first)).toEqual({
        residentId: 'res_b',
        time: received,
        devicetime: t,
      });
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

import { describe, expect, it } from 'vitest';
import { kindMismatchOf } from './kind-mismatch.ts';

const at = '2026-03-03T10:00:00.000Z';
const eventId = 'evt_0123456789abcdef0123456789abcdef';

describe('kindMismatchOf', () => {
  it('names a life-critical alarm the registered kind does not report, in an installer’s words', () => {
    expect(kindMismatchOf('pullcord', { type: 'pendant.pressed', at, eventId })).toEqual({
      type: 'pendant.pressed',
      kind: 'pullcord',
      detail:
        "a pullcord does not report pendant.pressed: the alarm was stored all the same; check the device's registered kind",
      at,
      eventId,
    });
  });

  it('is nothing for the kind’s own alarm, a home unit relaying any alarm, or what is not life-critical', () => {
    expect(kindMismatchOf('pullcord', { type: 'pullcord.pulled', at, eventId })).toBeUndefined();
    expect(kindMismatchOf('home-unit', { type: 'fall.detected', at, eventId })).toBeUndefined();
    // Refused by the gateways (and shown as a refusal), or what every device reports.
    expect(kindMismatchOf('door-contact', { type: 'medication.taken', at, eventId })).toBeUndefined();
    expect(kindMismatchOf('door-contact', { type: 'heartbeat', at, eventId })).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  annotations,
  assumedAway,
  doingAt,
  KasterenLineError,
  kasterenToImport,
  parseKasteren,
  sensorEvidence,
  untilAnnotated,
} from './kasteren.ts';

// A few lines in the copy's form (start epoch s, length s, id), made up for the test: the
// bedroom door at 09:33, the toilet door and the flush, out of the front door at 10:19 and back
// at 16:55 (2008-02-25, the flat's clock written as UTC).
const SENSORS = [
  '1203932027\t60\t24',
  '1203932240\t3\t6',
  '1203932271\t1\t14',
  '1203934768\t4\t12',
  '1203958477\t0\t12',
].join('\n');
const ACTIVITIES = ['1203932237\t45\t4', '1203934746\t23792\t1'].join('\n');

describe('van Kasteren house A to pnpm replay --import', () => {
  it('reads the tab-separated lines and says which line is wrong', () => {
    expect(parseKasteren(`${SENSORS}\n\n`)).toHaveLength(5);
    expect(parseKasteren('1203932027 60 24')).toEqual([{ start: 1203932027, lengthS: 60, id: 24 }]);
    expect(() => parseKasteren('1203932027\t60\t24\n1203932240\tx\t6')).toThrow(KasterenLineError);
    expect(() => parseKasteren('1203932240\t3')).toThrow(/line 1/);
  });

  it('makes the front door a door contact and every other sensor movement where it is, both edges, in time order', () => {
    const lines = kasterenToImport(parseKasteren(SENSORS), { residentId: 'res_vk_a' });
    expect(lines.map((l) => [l.event.at.slice(11, 19), l.serial, l.kind, l.event.type, l.location])).toEqual([
      ['09:33:47', 'VK-A-24', 'pir', 'motion', 'bedroom door'],
      ['09:34:47', 'VK-A-24', 'pir', 'motion', 'bedroom door'],
      ['09:37:20', 'VK-A-06', 'pir', 'motion', 'toilet door'],
      ['09:37:23', 'VK-A-06', 'pir', 'motion', 'toilet door'],
      ['09:37:51', 'VK-A-14', 'pir', 'motion', 'toilet, flush'],
      ['09:37:52', 'VK-A-14', 'pir', 'motion', 'toilet, flush'],
      ['10:19:28', 'VK-A-12', 'door-contact', 'door.opened', 'front door'],
      ['10:19:32', 'VK-A-12', 'door-contact', 'door.closed', 'front door'],
      ['16:54:37', 'VK-A-12', 'door-contact', 'door.opened', 'front door'],
      ['16:54:37', 'VK-A-12', 'door-contact', 'door.closed', 'front door'],
    ]);
    // Ids are unique per serial and valid device event ids.
    const keys = lines.map((l) => `${l.serial}/${l.event.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const l of lines) expect(l.event.id).toMatch(/^[\x21-\x7e]{8,64}$/);
    expect(() => kasterenToImport(parseKasteren('1203932027\t1\t99'), { residentId: 'r' })).toThrow(/99/);
  });

  it('tells what the person was doing at an alert, and checks the map against the annotations', () => {
    const notes = annotations(parseKasteren(ACTIVITIES), 'res_vk_a');
    expect(doingAt(notes, 'res_vk_a', Date.parse('2008-02-25T12:00:00Z'))).toBe(
      'leave house 02-25 10:19–02-25 16:55',
    );
    expect(doingAt(notes, 'res_vk_a', Date.parse('2008-02-25T10:00:00Z'))).toBe(
      'nothing annotated (after use toilet 02-25 09:37–02-25 09:38; before leave house 02-25 10:19–02-25 16:55)',
    );
    const evidence = sensorEvidence(parseKasteren(SENSORS), parseKasteren(ACTIVITIES));
    expect([...(evidence.get(4) ?? [])]).toEqual([
      [6, 1],
      [14, 1],
    ]);
    expect(evidence.get(1)?.get(12)).toBe(2);
  });

  it('keeps the firings up to the end of the annotations’ last day', () => {
    const kept = untilAnnotated(parseKasteren(`${SENSORS}\n1204100000\t4\t12`), parseKasteren(ACTIVITIES));
    expect(kept.map((f) => f.start)).toEqual(parseKasteren(SENSORS).map((f) => f.start));
  });

  it('assumes a declared away period for each outing still going on at 03:00, widened to the hour', () => {
    const activities = parseKasteren(
      [
        '1203934746\t23792\t1', // out 10:19–16:55 on Mon 25 Feb: a day out, no declaration
        '1204322587\t164090\t1', // out Fri 29 Feb 22:03 to Sun 2 Mar 19:37: two nights away
        '1204882139\t56347\t1', // out Fri 7 Mar 09:28 to Sat 01:08: a late night, not a night away
        '1204932237\t45\t4',
      ].join('\n'),
    );
    expect(assumedAway(activities, 'res_vk_a')).toEqual([
      {
        residentId: 'res_vk_a',
        id: 'away-2008-02-29',
        from: '2008-02-29T22:00:00.000Z',
        until: '2008-03-02T20:00:00.000Z',
        reason: 'other',
      },
    ]);
  });
});

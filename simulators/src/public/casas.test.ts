import { describe, expect, it } from 'vitest';
import { casasAnnotations, casasToImport, parseCasas, readingOf, zoneClock } from './casas.ts';

// Lines in the early sets' form (Aruba's), made up for the test: asleep, up at 06:10, out of the
// front door at 09:02, back at 11:40; a temperature, a light level and a cut-off line between.
const ARUBA = [
  '2010-11-04 00:03:50.209589 M003 ON Sleeping begin',
  '2010-11-04 00:03:57.399391 M003 OFF',
  '2010-11-04 00:15:08.984841 T002 21.5',
  '2010-11-04 06:10:01.1 M003 ON Sleeping end',
  '2010-11-04 06:12:00 M019\tON',
  '2010-11-04 06:12:30 LS001 27',
  '2010-11-04 06:13',
  '',
  '2010-11-04 09:01:58.000001 M021 ON Leave_Home begin',
  '2010-11-04 09:02:00.5 D001 OPEN',
  '2010-11-04 09:02:07 D001 CLOSE Leave_Home end',
  '2010-11-04 11:40:00 D001 OPEN Enter_Home begin',
  '2010-11-04 11:40:05 D001 CLOSE',
  '2010-11-04 11:40:09 M021 ON Enter_Home end',
  '2010-11-04 11:41:00 D003 OPEN',
  '2010-11-04 11:41:30 D003 CLOSE',
].join('\n');

// The later sets' form: the sensor named by its place and its type, the activity on the line.
const HH = [
  '2012-07-20 10:06:51.183271 BathroomAArea ON Control4-MotionArea Toilet',
  '2012-07-20 10:06:55.2 BathroomAArea OFF Control4-MotionArea Toilet',
  '2012-07-20 10:07:00 BathroomATemp 22.5 Control4-Temperature',
  '2012-07-20 10:07:10 BathroomALight ON Control4-Light',
  '2012-07-20 10:07:11 BathroomALightSensor 40 Control4-LightSensor',
  '2012-07-20 10:09:00 EntrywayDoor OPEN Control4-Door Leave_Home',
  '2012-07-20 10:09:05 EntrywayDoor CLOSE Control4-Door Leave_Home',
].join('\n');

describe('CASAS logs to pnpm replay --import', () => {
  it('reads both forms, to the millisecond, and names the lines it could not read', () => {
    const aruba = parseCasas(ARUBA);
    expect(aruba.lines).toHaveLength(14);
    expect(aruba.unreadable).toEqual([7]);
    expect(aruba.unreadableCount).toBe(1);
    expect(new Date(aruba.lines[0]?.wallMs as number).toISOString()).toBe('2010-11-04T00:03:50.209Z');
    expect(aruba.lines[0]?.mark).toEqual({ activity: 'Sleeping', phase: 'begin' });
    expect(aruba.lines[4]).toMatchObject({ sensor: 'M019', value: 'ON' });
    const hh = parseCasas(HH);
    expect(hh.lines[0]).toMatchObject({
      sensor: 'BathroomAArea',
      type: 'Control4-MotionArea',
      activity: 'Toilet',
    });
    expect(hh.lines[2]?.activity).toBeUndefined();
    expect(
      parseCasas('2010-13-04 00:03:50 M003 ON\nnot a line at all\n2010-11-04 25:00:00 M003 ON').unreadable,
    ).toEqual([1, 2, 3]);
  });

  it('makes the ways out door contacts, movement turning on and every other door, switch or item the person there; leaves readings out', () => {
    const { lines, leftOut } = casasToImport(parseCasas(ARUBA).lines, {
      residentId: 'res_casas_a',
      frontDoors: ['D001'],
      places: { M003: 'bedroom' },
    });
    expect(lines.map((l) => [l.event.at.slice(11, 19), l.serial, l.kind, l.event.type, l.location])).toEqual([
      ['00:03:50', 'CASAS-M003', 'pir', 'motion', 'bedroom'],
      ['06:10:01', 'CASAS-M003', 'pir', 'motion', 'bedroom'],
      ['06:12:00', 'CASAS-M019', 'pir', 'motion', 'sensor M019'],
      ['09:01:58', 'CASAS-M021', 'pir', 'motion', 'sensor M021'],
      ['09:02:00', 'CASAS-D001', 'door-contact', 'door.opened', 'front door'],
      ['09:02:07', 'CASAS-D001', 'door-contact', 'door.closed', 'front door'],
      ['11:40:00', 'CASAS-D001', 'door-contact', 'door.opened', 'front door'],
      ['11:40:05', 'CASAS-D001', 'door-contact', 'door.closed', 'front door'],
      ['11:40:09', 'CASAS-M021', 'pir', 'motion', 'sensor M021'],
      ['11:41:00', 'CASAS-D003', 'pir', 'motion', 'sensor D003'],
    ]);
    expect(leftOut).toEqual({ M: 1, T: 1, LS: 1, D: 1 });
    // Ids unique per serial and long enough for the event contract.
    const ids = lines.map((l) => `${l.serial}/${l.event.id}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(lines.every((l) => l.event.id.length >= 8)).toBe(true);
    const hh = casasToImport(parseCasas(HH).lines, { residentId: 'res_hh', frontDoors: ['EntrywayDoor'] });
    expect(hh.lines.map((l) => [l.serial, l.event.type])).toEqual([
      ['CASAS-BathroomAArea', 'motion'],
      ['CASAS-BathroomALight', 'motion'],
      ['CASAS-EntrywayDoor', 'door.opened'],
      ['CASAS-EntrywayDoor', 'door.closed'],
    ]);
    expect(hh.leftOut).toEqual({
      'Control4-MotionArea': 1,
      'Control4-Temperature': 1,
      'Control4-LightSensor': 1,
    });
  });

  it('reads an inner door opened as the person there and its closing as nothing', () => {
    const [opened, closed] = parseCasas(
      '2010-11-04 11:41:00 D003 OPEN\n2010-11-04 11:41:30 D003 CLOSE',
    ).lines;
    expect(readingOf(opened as never, new Set())).toBe('motion');
    expect(readingOf(closed as never, new Set())).toBeUndefined();
    expect(readingOf(closed as never, new Set(['D003']))).toBe('door.closed');
  });

  it("turns the home's clock into instants across both daylight-saving changes", () => {
    const wall = (s: string) => Date.parse(`${s}Z`);
    const pacific = zoneClock('America/Los_Angeles');
    const iso = (ms: number) => new Date(ms).toISOString();
    expect(iso(pacific(wall('2010-11-04T09:00:00')))).toBe('2010-11-04T16:00:00.000Z'); // PDT
    // The clock goes back at 02:00 on 7 November 2010: 01:00-02:00 comes twice, and a log that
    // goes on through it is read forward (the earlier instant, then the later once it would go back).
    expect(iso(pacific(wall('2010-11-07T01:10:00')))).toBe('2010-11-07T08:10:00.000Z');
    expect(iso(pacific(wall('2010-11-07T01:50:00')))).toBe('2010-11-07T08:50:00.000Z');
    expect(iso(pacific(wall('2010-11-07T01:05:00')))).toBe('2010-11-07T09:05:00.000Z');
    expect(iso(pacific(wall('2010-11-07T03:00:00')))).toBe('2010-11-07T11:00:00.000Z'); // PST
    // Forward at 02:00 on 13 March 2011: 02:30 never was; read with the offset before (03:30 PDT).
    expect(iso(pacific(wall('2011-03-13T01:59:00')))).toBe('2011-03-13T09:59:00.000Z');
    expect(iso(pacific(wall('2011-03-13T02:30:00')))).toBe('2011-03-13T10:30:00.000Z');
    expect(iso(pacific(wall('2011-03-13T03:01:00')))).toBe('2011-03-13T10:01:00.000Z');
    // No zone: the clock as written.
    expect(iso(zoneClock(undefined)(wall('2010-11-07T01:10:00')))).toBe('2010-11-07T01:10:00.000Z');
    // A zone a quarter of an hour off the hour.
    expect(iso(zoneClock('Asia/Kathmandu')(wall('2012-07-20T10:00:00')))).toBe('2012-07-20T04:15:00.000Z');
  });

  it('pairs the early sets begin and end per activity, and runs of the later sets labels', () => {
    expect(casasAnnotations(parseCasas(ARUBA).lines, 'res_casas_a')).toEqual([
      {
        residentId: 'res_casas_a',
        from: '2010-11-04T00:03:50.209Z',
        to: '2010-11-04T06:10:01.100Z',
        activity: 'Sleeping',
      },
      {
        residentId: 'res_casas_a',
        from: '2010-11-04T09:01:58.000Z',
        to: '2010-11-04T09:02:07.000Z',
        activity: 'Leave_Home',
      },
      {
        residentId: 'res_casas_a',
        from: '2010-11-04T11:40:00.000Z',
        to: '2010-11-04T11:40:09.000Z',
        activity: 'Enter_Home',
      },
    ]);
    // An end with no begin is left out; a begin again before its end closes the first there.
    const odd = parseCasas(
      [
        '2010-11-04 07:00:00 M001 ON Relax end',
        '2010-11-04 08:00:00 M001 ON Relax begin',
        '2010-11-04 09:00:00 M001 ON Relax begin',
        '2010-11-04 09:30:00 M001 ON Relax end',
      ].join('\n'),
    ).lines;
    expect(casasAnnotations(odd, 'r').map((a) => [a.from.slice(11, 16), a.to.slice(11, 16)])).toEqual([
      ['08:00', '09:00'],
      ['09:00', '09:30'],
    ]);
    expect(
      casasAnnotations(parseCasas(HH).lines, 'res_hh').map((a) => [
        a.activity,
        a.from.slice(11, 19),
        a.to.slice(11, 19),
      ]),
    ).toEqual([
      ['Toilet', '10:06:51', '10:06:55'],
      ['Leave_Home', '10:09:00', '10:09:05'],
    ]);
  });
});

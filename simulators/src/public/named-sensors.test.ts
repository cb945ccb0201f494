import { describe, expect, it } from 'vitest';
import { kasterenToImport, parseKasteren } from './kasteren.ts';
import { SensorNameLineError, sensorMapFromNames } from './named-sensors.ts';

// Made-up lines in the copies' form: the foyer door (the front door here) and a kitchen cabinet.
const NAMES = '140\tFoyer,Door\n53\tKitchen,Cabinet E \n';

describe('a home whose sensors are named in a .sensor_names file', () => {
  it('maps each sensor to its place, the given one to the front door', () => {
    expect(sensorMapFromNames(NAMES, 140)).toEqual({
      140: { name: 'Foyer,Door', location: 'foyer, door', frontDoor: true },
      53: { name: 'Kitchen,Cabinet E', location: 'kitchen, cabinet e' },
    });
    expect(() => sensorMapFromNames(NAMES, 141)).toThrow(/front door 141/);
    expect(() => sensorMapFromNames('Foyer,Door', 140)).toThrow(SensorNameLineError);
  });

  it('converts the firings with it: the front door a door contact, the rest movement where they are', () => {
    const sensors = sensorMapFromNames(NAMES, 140);
    const lines = kasterenToImport(parseKasteren('1048751329\t4\t140\n1048764999\t9\t53'), {
      residentId: 'res_mit_1',
      sensors,
      serialPrefix: 'MIT-1-',
    });
    expect(lines.map((l) => [l.event.at.slice(11, 19), l.serial, l.kind, l.event.type, l.location])).toEqual([
      ['07:48:49', 'MIT-1-140', 'door-contact', 'door.opened', 'foyer, door'],
      ['07:48:53', 'MIT-1-140', 'door-contact', 'door.closed', 'foyer, door'],
      ['11:36:39', 'MIT-1-53', 'pir', 'motion', 'kitchen, cabinet e'],
      ['11:36:48', 'MIT-1-53', 'pir', 'motion', 'kitchen, cabinet e'],
    ]);
  });
});

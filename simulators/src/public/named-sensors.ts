/**
 * Another home's log in the same form as the van Kasteren copies (`start length id` a line, the
 * home's local clock written as UTC), with its sensors named in a `.sensor_names` file (`id`, a
 * tab, `Room,Name`): the map the converter needs, built from the names. The copies of the MIT
 * home set (Tapia, Intille and Larson, Pervasive 2004: a woman living alone, 14 days, 77 sensors
 * on doors, drawers, cupboards, switches and appliances) come in this form.
 *
 * Which sensor is the front door is not in the names: it is given (`frontDoor`); every other
 * sensor is the person acting where it is.
 */
import type { KasterenSensor } from './kasteren.ts';

export class SensorNameLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'SensorNameLineError';
  }
}

/** `100\tBathroom,Toilet Flush` → sensor 100, "bathroom, toilet flush". */
export function sensorMapFromNames(text: string, frontDoor: number): Record<number, KasterenSensor> {
  const map: Record<number, KasterenSensor> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const match = /^(\d+)\s+(.+)$/.exec(line);
    if (!match) throw new SensorNameLineError(i + 1, `expected "id<TAB>Room,Name", got "${line}"`);
    const id = Number(match[1]);
    const name = (match[2] as string).trim();
    const location = name
      .split(',')
      .map((part) => part.trim().toLowerCase())
      .join(', ');
    map[id] = id === frontDoor ? { name, location, frontDoor: true } : { name, location };
  });
  if (!map[frontDoor]) throw new RangeError(`the front door ${frontDoor} is not among the sensor names`);
  return map;
}

import type { DeviceKind, EventType } from './taxonomy.ts';

/**
 * What proves a device in an installer's test call: the event the device kind exists for, and
 * what the installer does to cause it. A device that only connects (or a disperser that only
 * polls) has proved the line, not the sensor: those events are "connected, no trigger yet".
 */
export interface TestTrigger {
  /** Event types that pass the test: the device's own trigger. */
  readonly passes: readonly EventType[];
  /** What the installer is asked to do, as an imperative ("press the pendant button"). */
  readonly action: string;
}

const trigger = (passes: readonly EventType[], action: string): TestTrigger => ({ passes, action });

/** One entry per device kind (checked by the type): adding a kind without a trigger does not compile. */
export const TEST_TRIGGERS = {
  pendant: trigger(['pendant.pressed'], 'press the pendant button'),
  pullcord: trigger(['pullcord.pulled'], 'pull the cord'),
  'fall-detector': trigger(
    ['fall.detected'],
    'simulate a fall: tip the fall detector over and hold it still',
  ),
  'smoke-detector': trigger(['smoke.detected'], 'press the smoke test button'),
  'heat-detector': trigger(['heat.detected'], 'press the heat detector’s test button'),
  'co-detector': trigger(['co.detected'], 'press the CO detector’s test button'),
  'gas-detector': trigger(['gas.detected'], 'press the gas detector’s test button'),
  'flood-detector': trigger(['flood.detected'], 'wet the flood sensor’s probes'),
  'temperature-sensor': trigger(['temperature'], 'warm the temperature sensor in your hand'),
  'door-contact': trigger(['door.opened', 'door.closed'], 'open the door'),
  pir: trigger(['motion'], 'walk in front of the movement sensor'),
  'bed-sensor': trigger(['bed.occupied'], 'get into bed (or put your weight on the bed sensor pad)'),
  'chair-sensor': trigger(['chair.occupied'], 'sit in the chair'),
  'medication-dispenser': trigger(['medication.taken'], 'take a dose from the dispenser'),
  'epilepsy-sensor': trigger(['epilepsy.seizure'], 'press the epilepsy sensor’s test button'),
  'enuresis-sensor': trigger(['enuresis.detected'], 'wet the enuresis sensor pad'),
  'bogus-caller-button': trigger(['bogus-caller.pressed'], 'press the bogus caller button'),
  // A home unit relays the alarms of the triggers paired with it; its own button is a pendant
  // press, and its test code (Contact ID 601, SIA RX) is sent only when someone keys it.
  'home-unit': trigger(
    [
      'pendant.pressed',
      'pullcord.pulled',
      'fall.detected',
      'smoke.detected',
      'heat.detected',
      'co.detected',
      'gas.detected',
      'epilepsy.seizure',
      'test.manual',
    ],
    'press the home unit’s alarm button',
  ),
} as const satisfies Record<DeviceKind, TestTrigger>;

/**
 * Events that say a device is there, not that its sensor works: a connection, a heartbeat (a
 * DC-09 NULL poll arrives as one), a periodic test, a disconnection.
 */
export const CONNECTION_ONLY_TYPES: readonly EventType[] = [
  'device.online',
  'device.offline',
  'heartbeat',
  'test.periodic',
];

export function testTriggerOf(kind: DeviceKind): TestTrigger {
  return TEST_TRIGGERS[kind];
}

import { z } from 'zod';
import { deviceKindLabel } from './device-kinds.ts';

/** 1 life-critical … 5 record only (DESIGN §4). */
export const Priority = z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(5)]);
export type Priority = z.infer<typeof Priority>;

export type EventCategory = 'alarm' | 'wellbeing' | 'technical' | 'maintenance' | 'record';

export interface EventTypeInfo {
  readonly priority: Priority;
  readonly category: EventCategory;
  /** Raised by the platform from other evidence (triage, or a gateway), never sent by a device. */
  readonly derived: boolean;
  /** The alarm type this event clears, for restores and cancels. */
  readonly restores?: string;
  /**
   * What an alert of this type is about: one device (what it sent, or its silence), the home as a
   * whole (nothing seen of the person, whichever device saw them last), or many homes of an area.
   */
  readonly about: AlertAbout;
  readonly description: string;
}

export type AlertAbout = 'device' | 'home' | 'area';

const t = (
  priority: Priority,
  category: EventCategory,
  description: string,
  extra: { derived?: boolean; restores?: string; about?: AlertAbout } = {},
): EventTypeInfo => ({
  priority,
  category,
  description,
  derived: extra.derived ?? false,
  about: extra.about ?? 'device',
  ...extra,
});

/**
 * The canonical taxonomy. Every event on the platform has one of these types; Contact ID and
 * SIA codes map onto them with their source code kept as provenance.
 */
export const TAXONOMY = {
  // P1 life-critical
  'pendant.pressed': t(1, 'alarm', 'Lifeline pendant pressed'),
  'pullcord.pulled': t(1, 'alarm', 'Pull-cord pulled'),
  'fall.detected': t(1, 'alarm', 'Fall detector triggered'),
  'smoke.detected': t(1, 'alarm', 'Smoke detected'),
  'heat.detected': t(1, 'alarm', 'Heat rise detected'),
  'co.detected': t(1, 'alarm', 'Carbon monoxide detected'),
  'gas.detected': t(1, 'alarm', 'Natural gas detected'),
  'epilepsy.seizure': t(1, 'alarm', 'Epilepsy sensor detected a seizure'),
  // P2 urgent wellbeing
  'flood.detected': t(2, 'wellbeing', 'Flood detected'),
  'door.exit-at-night': t(2, 'wellbeing', 'Property exit at night', { derived: true }),
  'inactivity.no-wake': t(2, 'wellbeing', 'No movement by the end of the wake-up window', {
    derived: true,
    about: 'home',
  }),
  'inactivity.unusual': t(2, 'wellbeing', 'Inactivity unusual for this resident', {
    derived: true,
    about: 'home',
  }),
  'bed.not-returned': t(2, 'wellbeing', 'Out of bed at night and not back', { derived: true }),
  'outing.not-returned': t(2, 'wellbeing', 'Went out and not back', { derived: true, about: 'home' }),
  'chair.too-long': t(2, 'wellbeing', 'Chair occupied too long', { derived: true }),
  'temperature.low': t(2, 'wellbeing', 'Home too cold', { derived: true }),
  'temperature.high': t(2, 'wellbeing', 'Home too hot', { derived: true }),
  'medication.missed': t(2, 'wellbeing', 'Medication not taken'),
  'carer.no-show': t(2, 'wellbeing', 'Carer did not arrive', { derived: true, about: 'home' }),
  'enuresis.detected': t(2, 'wellbeing', 'Enuresis sensor wet'),
  'bogus-caller.pressed': t(2, 'wellbeing', 'Bogus caller button pressed'),
  // P3 technical, urgent
  'mains.lost': t(3, 'technical', 'Mains power lost'),
  'line.fault': t(3, 'technical', 'Communication line fault'),
  'rf.jammed': t(3, 'technical', 'Radio jamming detected'),
  'supervision.lost': t(3, 'technical', 'No heartbeat within the supervision interval', { derived: true }),
  'device.tamper': t(3, 'technical', 'Device tampered with'),
  // A device saying it is faulty itself: a smoke detector dirty, out of its sensitivity or failing
  // its self-test, a panel's fire zone in trouble. Not its line: the device may not sense what it
  // is there for, so someone must see to it.
  'device.fault': t(3, 'technical', 'Device reports a fault of its own'),
  // Raised by gateway-mqtt from the broker's connection log, never sent by a device: its login
  // taken over again and again from more than one address (a copied secret and the real device).
  'device.login-contested': t(3, 'technical', "Device's login in use from two places", { derived: true }),
  'area.mains-lost': t(3, 'technical', 'Many homes in one area lost mains', { derived: true, about: 'area' }),
  // Raised by the learned rhythm: a movement sensor the resident passed every day has seen nothing
  // for days while its heartbeats go on (a dead detector, a PIR covered or turned to the wall).
  'sensor.no-activity': t(3, 'technical', 'Movement sensor sees nothing though it beats', { derived: true }),
  // P4 maintenance
  'battery.low': t(4, 'maintenance', 'Battery low'),
  // Raised by the learned rhythm: a movement sensor reporting far more often than a person moves (a
  // PIR that sees a heater, a curtain in a draught or the sun); its movement is not taken as the
  // resident on its own while it does, which weakens the silence checks until it is seen to.
  'sensor.noisy': t(4, 'technical', 'Movement sensor reports far beyond a person', { derived: true }),
  // P5 record only
  heartbeat: t(5, 'record', 'Periodic heartbeat'),
  'test.manual': t(5, 'record', 'Manual test call'),
  'test.periodic': t(5, 'record', 'Periodic test call'),
  motion: t(5, 'record', 'Movement seen'),
  temperature: t(5, 'record', 'Temperature reading'),
  'door.opened': t(5, 'record', 'Door opened'),
  'door.closed': t(5, 'record', 'Door closed'),
  'bed.occupied': t(5, 'record', 'Bed occupied'),
  'bed.vacated': t(5, 'record', 'Bed vacated'),
  'chair.occupied': t(5, 'record', 'Chair occupied'),
  'chair.vacated': t(5, 'record', 'Chair vacated'),
  'medication.taken': t(5, 'record', 'Medication taken'),
  'medication.due': t(5, 'record', 'Medication dose due'),
  'carer.arrived': t(5, 'record', 'Carer arrived'),
  'carer.left': t(5, 'record', 'Carer left'),
  'device.online': t(5, 'record', 'Device connected'),
  'device.offline': t(5, 'record', 'Device disconnected'),
  // A valid Contact ID or SIA code the platform does not map (yet): kept with its source code so
  // a person can map it per account, never dropped.
  'code.unmapped': t(5, 'record', 'Unmapped code from a panel'),
  'alarm.cancelled': t(5, 'record', 'Resident cancelled the alarm', { restores: 'pendant.pressed' }),
  // A personal alarm's zone back to normal (a panel's restore once the button or cord is let go,
  // which many send by themselves): never a cancel. Triage shows it on the alarm's case (a restore
  // of its alert, `closes.outcome: 'restored'`), which it neither closes nor lowers.
  'alarm.restored': t(5, 'record', 'Alarm button back to normal (not a cancel)'),
  // A panel's status report that an alarm it reported is still present (Contact ID Q=6), on the
  // case of the alarm it follows (a repeat of its alert that is no press): never a new press.
  'alarm.still-present': t(
    5,
    'record',
    'Panel reports the alarm still present (a status report, not a press)',
    {
      derived: true,
    },
  ),
  'smoke.restored': t(5, 'record', 'Smoke cleared', { restores: 'smoke.detected' }),
  'heat.restored': t(5, 'record', 'Heat cleared', { restores: 'heat.detected' }),
  'co.restored': t(5, 'record', 'Carbon monoxide cleared', { restores: 'co.detected' }),
  'gas.restored': t(5, 'record', 'Gas cleared', { restores: 'gas.detected' }),
  'flood.restored': t(5, 'record', 'Flood cleared', { restores: 'flood.detected' }),
  'mains.restored': t(5, 'record', 'Mains power restored', { restores: 'mains.lost' }),
  'line.restored': t(5, 'record', 'Communication line restored', { restores: 'line.fault' }),
  'rf.restored': t(5, 'record', 'Radio jamming ended', { restores: 'rf.jammed' }),
  'tamper.restored': t(5, 'record', 'Tamper cleared', { restores: 'device.tamper' }),
  'fault.restored': t(5, 'record', 'Device fault cleared', { restores: 'device.fault' }),
  'battery.restored': t(5, 'record', 'Battery replaced', { restores: 'battery.low' }),
  'sensor.activity-restored': t(5, 'record', 'Movement sensor sees again', {
    restores: 'sensor.no-activity',
    derived: true,
  }),
  'sensor.quiet': t(5, 'record', 'Movement sensor calm again', {
    restores: 'sensor.noisy',
    derived: true,
  }),
  'supervision.restored': t(5, 'record', 'Heartbeat resumed', {
    restores: 'supervision.lost',
    derived: true,
  }),
} as const satisfies Record<string, EventTypeInfo>;

export type EventType = keyof typeof TAXONOMY;
export const EVENT_TYPES = Object.keys(TAXONOMY) as EventType[];
export const EventTypeSchema = z.enum(EVENT_TYPES as [EventType, ...EventType[]]);

/** Types a device or disperser may send (derived types are raised by triage only). */
export const DEVICE_EVENT_TYPES = EVENT_TYPES.filter((type) => !TAXONOMY[type].derived);
export const DeviceEventTypeSchema = z.enum(DEVICE_EVENT_TYPES as [EventType, ...EventType[]]);

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(TAXONOMY, value);
}

/**
 * Triggers a person works by hand (a button, a cord): pressing again is the resident saying they
 * still need someone, so the helpline counts presses on a case and shows the last one.
 */
export const PRESS_TYPES: readonly EventType[] = [
  'pendant.pressed',
  'pullcord.pulled',
  'bogus-caller.pressed',
];
export const isPress = (type: EventType): boolean => PRESS_TYPES.includes(type);

export function defaultPriority(type: EventType): Priority {
  return TAXONOMY[type].priority;
}

/** The hardware kinds the registry knows. */
export const DEVICE_KINDS = [
  'pendant',
  'pullcord',
  'fall-detector',
  'smoke-detector',
  'heat-detector',
  'co-detector',
  'gas-detector',
  'flood-detector',
  'temperature-sensor',
  'door-contact',
  'pir',
  'bed-sensor',
  'chair-sensor',
  'medication-dispenser',
  'epilepsy-sensor',
  'enuresis-sensor',
  'bogus-caller-button',
  'home-unit',
] as const;
export const DeviceKind = z.enum(DEVICE_KINDS);
export type DeviceKind = z.infer<typeof DeviceKind>;

/**
 * What every device reports about itself, whatever it senses: that it is there (heartbeat,
 * connection), its battery, its case opened, and its test calls.
 */
export const EVERY_DEVICE_REPORTS = [
  'heartbeat',
  'battery.low',
  'battery.restored',
  'device.tamper',
  'tamper.restored',
  'test.manual',
  'test.periodic',
  'device.online',
  'device.offline',
] as const satisfies readonly EventType[];

/**
 * A detector that checks itself (its chamber dirty, its sensitivity out of range, its self-test
 * failed) says so, and says when it is right again: a detector that cannot sense protects nobody.
 */
const DETECTOR_FAULTS = ['device.fault', 'fault.restored'] as const satisfies readonly EventType[];

/**
 * The event types each kind of device reports of its own, beyond `EVERY_DEVICE_REPORTS`. A stolen
 * login of a door contact must not be able to send `medication.taken`, `carer.arrived`, `motion` or
 * a restore and so hide a resident's wellbeing alerts or close a condition it never saw: the
 * gateways hold each device to its kind's list (`mayReport`). The home unit is also the panel or
 * disperser that relays every paired trigger's code, and the hub that carer keys, mains, line and
 * radio faults come from: it reports every device event type. Checked by the type: a new kind
 * without a row does not compile.
 */
export const KIND_REPORTS = {
  pendant: ['pendant.pressed', 'alarm.cancelled', 'alarm.restored'],
  pullcord: ['pullcord.pulled', 'alarm.cancelled', 'alarm.restored'],
  // Its cancel button: a resident who is fine cancels within the pre-alarm window.
  'fall-detector': ['fall.detected', 'alarm.cancelled', 'alarm.restored', ...DETECTOR_FAULTS],
  'smoke-detector': ['smoke.detected', 'smoke.restored', ...DETECTOR_FAULTS],
  'heat-detector': ['heat.detected', 'heat.restored', ...DETECTOR_FAULTS],
  'co-detector': ['co.detected', 'co.restored', ...DETECTOR_FAULTS],
  'gas-detector': ['gas.detected', 'gas.restored', ...DETECTOR_FAULTS],
  'flood-detector': ['flood.detected', 'flood.restored', ...DETECTOR_FAULTS],
  'temperature-sensor': ['temperature'],
  'door-contact': ['door.opened', 'door.closed'],
  pir: ['motion'],
  'bed-sensor': ['bed.occupied', 'bed.vacated'],
  'chair-sensor': ['chair.occupied', 'chair.vacated'],
  // A dispenser knows when a dose falls due, is taken, or is left past its window.
  'medication-dispenser': ['medication.due', 'medication.taken', 'medication.missed'],
  'epilepsy-sensor': ['epilepsy.seizure'],
  'enuresis-sensor': ['enuresis.detected'],
  'bogus-caller-button': ['bogus-caller.pressed'],
  'home-unit': DEVICE_EVENT_TYPES,
} as const satisfies Record<DeviceKind, readonly EventType[]>;

const REPORTS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  DEVICE_KINDS.map((kind) => [kind, new Set<string>([...EVERY_DEVICE_REPORTS, ...KIND_REPORTS[kind]])]),
);

/**
 * Whether a device of `kind` may send an event of `type`. Derived types (raised by triage) are
 * never a device's, whatever its kind; an unknown kind reports nothing.
 */
export function mayReport(kind: string, type: string): boolean {
  return isEventType(type) && !TAXONOMY[type].derived && (REPORTS.get(kind)?.has(type) ?? false);
}

/**
 * Whether a device of `kind` sending `type` sends an alarm of the wrong kind, stored all the same
 * and marked `unexpectedkind`: a life-critical alarm (no type triage derives) its kind never
 * reports. Any other type a kind does not report is refused by the gateways.
 */
export function isUnexpectedKindAlarm(kind: string, type: EventType): boolean {
  const info = TAXONOMY[type];
  return info.priority === 1 && !info.derived && !mayReport(kind, type);
}

/**
 * What an alert raised by an alarm from a device of the wrong kind (the event's `unexpectedkind`)
 * adds to its reason: the operator answers it as any alarm, and knows it came from another device.
 */
export const unexpectedKindReason = (kind: string, type: string): string =>
  `sent by a ${deviceKindLabel(kind)}, which does not report ${type}: check the device (registered as the wrong kind, or its login used by someone else)`;

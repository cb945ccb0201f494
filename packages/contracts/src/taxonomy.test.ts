import { describe, expect, it } from 'vitest';
import {
  DEVICE_EVENT_TYPES,
  DEVICE_KIND_LABELS,
  DEVICE_KINDS,
  deviceKindLabel,
  EVENT_TYPES,
  EVERY_DEVICE_REPORTS,
  isUnexpectedKindAlarm,
  mayReport,
  TAXONOMY,
  TEST_TRIGGERS,
} from './index.ts';

describe('what each kind of device reports', () => {
  it('a door contact reports its door, itself, and nothing that hides or closes another condition', () => {
    expect(mayReport('door-contact', 'door.opened')).toBe(true);
    expect(mayReport('door-contact', 'heartbeat')).toBe(true);
    for (const type of [
      'medication.taken',
      'carer.arrived',
      'bed.occupied',
      'motion',
      'alarm.cancelled',
      'smoke.restored',
      'mains.restored',
      'pendant.pressed',
    ])
      expect(mayReport('door-contact', type), type).toBe(false);
  });

  it('an alarm of the wrong kind is a life-critical alarm the kind never reports, nothing else', () => {
    expect(isUnexpectedKindAlarm('pendant', 'pullcord.pulled')).toBe(true);
    expect(isUnexpectedKindAlarm('pullcord', 'pullcord.pulled')).toBe(false);
    expect(isUnexpectedKindAlarm('home-unit', 'pullcord.pulled')).toBe(false);
    // Not life-critical: refused by the gateways, not stored as an alarm of the wrong kind.
    expect(isUnexpectedKindAlarm('door-contact', 'medication.taken')).toBe(false);
  });

  it('every kind reports its own test trigger and what every device reports about itself', () => {
    for (const kind of DEVICE_KINDS) {
      for (const type of TEST_TRIGGERS[kind].passes)
        expect(mayReport(kind, type), `${kind} ${type}`).toBe(true);
      for (const type of EVERY_DEVICE_REPORTS) expect(mayReport(kind, type), `${kind} ${type}`).toBe(true);
    }
  });

  it('the home unit (panel, disperser, hub) reports every device event type; no kind a derived one', () => {
    for (const type of DEVICE_EVENT_TYPES) expect(mayReport('home-unit', type), type).toBe(true);
    for (const type of EVENT_TYPES.filter((t) => TAXONOMY[t].derived))
      for (const kind of DEVICE_KINDS) expect(mayReport(kind, type), `${kind} ${type}`).toBe(false);
  });

  it('every detector and the home unit report a fault of their own and its clearing; a button does not', () => {
    const detectors = DEVICE_KINDS.filter((k) => k.endsWith('-detector'));
    expect(detectors).toHaveLength(6);
    for (const kind of [...detectors, 'home-unit'])
      for (const type of ['device.fault', 'fault.restored'])
        expect(mayReport(kind, type), `${kind} ${type}`).toBe(true);
    for (const kind of ['pendant', 'pullcord', 'door-contact'])
      expect(mayReport(kind, 'device.fault'), kind).toBe(false);
    expect(TAXONOMY['device.fault']).toMatchObject({ priority: 3, category: 'technical', derived: false });
    expect(TAXONOMY['fault.restored']).toMatchObject({ priority: 5, restores: 'device.fault' });
  });

  it('an unknown kind or type reports nothing', () => {
    expect(mayReport('toaster', 'heartbeat')).toBe(false);
    expect(mayReport('pendant', 'pendant.exploded')).toBe(false);
    expect(mayReport('pendant', 'constructor')).toBe(false);
  });

  it('each alarm and condition is reported by some kind besides the home unit', () => {
    const others = DEVICE_KINDS.filter((k) => k !== 'home-unit');
    const hubOnly = DEVICE_EVENT_TYPES.filter((type) => !others.some((kind) => mayReport(kind, type)));
    // The hub's own: carer keys, mains, line and radio, and codes a panel sends that are not mapped.
    expect(hubOnly.sort()).toEqual(
      [
        'carer.arrived',
        'carer.left',
        'code.unmapped',
        'line.fault',
        'line.restored',
        'mains.lost',
        'mains.restored',
        'rf.jammed',
        'rf.restored',
      ].sort(),
    );
  });
});

describe('device kinds in words', () => {
  it('names each kind as an operator says it, never by its id', () => {
    expect(deviceKindLabel('smoke-detector')).toBe('smoke detector');
    expect(deviceKindLabel('pir')).toBe('movement sensor');
    expect(deviceKindLabel('co-detector')).toBe('carbon monoxide detector');
    expect(deviceKindLabel('home-unit')).toBe('home unit');
    for (const kind of DEVICE_KINDS.filter((k) => k.includes('-')))
      expect(DEVICE_KIND_LABELS[kind], kind).not.toBe(kind);
  });

  it('names a kind it does not know (a newer registry’s) by its id in words', () => {
    expect(deviceKindLabel('stair-lift-sensor')).toBe('stair lift sensor');
  });
});

describe('what an alert of a type is about', () => {
  it('one device, the whole home, or an area', () => {
    expect(TAXONOMY['smoke.detected'].about).toBe('device');
    expect(TAXONOMY['supervision.lost'].about).toBe('device');
    expect(TAXONOMY['temperature.low'].about).toBe('device');
    for (const type of [
      'inactivity.no-wake',
      'inactivity.unusual',
      'outing.not-returned',
      'carer.no-show',
    ] as const)
      expect(TAXONOMY[type].about, type).toBe('home');
    expect(TAXONOMY['area.mains-lost'].about).toBe('area');
    // A device sends only what one device saw.
    for (const type of DEVICE_EVENT_TYPES) expect(TAXONOMY[type].about, type).toBe('device');
  });
});

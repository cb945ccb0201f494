import { Alert, type EventType, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { evaluateArea, initialAreaState } from './area.ts';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/** November: Europe/London is UTC, so local times read as written. */
const T = (hhmm: string) => Date.parse(`2026-11-22T${hhmm}:00.000Z`);
const RESIDENT = 'res_kind0001';

let counter = 0;
const ev = (type: EventType, at: number, extra: Partial<Parameters<typeof makeEvent>[0]> = {}) =>
  makeEvent({
    type,
    time: new Date(at).toISOString(),
    residentid: RESIDENT,
    deviceEventId: `dk-${++counter}-${type}`,
    ...extra,
  });

function run(events: readonly TelecareEvent[], until: number): Alert[] {
  const runner = new RulesRunner(DEFAULT_RULE_SET);
  const alerts: Alert[] = [];
  for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
  alerts.push(...runner.advance(until));
  return alerts.map((alert) => Alert.parse(alert));
}

const device = (alert: Alert | undefined) => [alert?.type, alert?.deviceKind, alert?.deviceSerial];

describe('the kind of device an alert is about', () => {
  it('rides on an alarm raised from the event, and on the restore that closes it', () => {
    const smoke = { devicekind: 'smoke-detector', subject: 'SD-123', location: 'kitchen' } as const;
    const alerts = run(
      [ev('smoke.detected', T('10:00'), smoke), ev('smoke.restored', T('10:05'), smoke)],
      T('10:10'),
    );
    expect(alerts.map(device)).toEqual([
      ['smoke.detected', 'smoke-detector', 'SD-123'],
      ['smoke.restored', 'smoke-detector', 'SD-123'],
    ]);
  });

  it('rides on a repeat press and on a limited fault raised after it settled', () => {
    const pendant = { devicekind: 'pendant', subject: 'PX-7' } as const;
    const hub = { devicekind: 'home-unit', subject: 'HUB-7' } as const;
    const alerts = run(
      [
        ev('pendant.pressed', T('09:00'), pendant),
        ev('pendant.pressed', T('09:01'), pendant),
        // Four reports in ten minutes: the fourth is suppressed, then raised once it settles.
        ...['09:10', '09:11', '09:12', '09:13'].map((at) => ev('mains.lost', T(at), hub)),
      ],
      T('10:00'),
    );
    expect(alerts.filter((a) => a.repeats).map(device)).toEqual([['pendant.pressed', 'pendant', 'PX-7']]);
    const mains = alerts.filter((a) => a.type === 'mains.lost');
    expect(mains).toHaveLength(4);
    expect(new Set(mains.map((a) => a.deviceKind))).toEqual(new Set(['home-unit']));
  });

  it('rides on a condition decided later from a device’s readings', () => {
    const probe = { devicekind: 'temperature-sensor', subject: 'TS-1', location: 'lounge' } as const;
    const alerts = run(
      ['06:00', '06:20', '06:40', '07:10'].map((at) =>
        ev('temperature', T(at), { ...probe, data: { celsius: 14 } }),
      ),
      T('09:00'),
    );
    expect(alerts.filter((a) => a.type === 'temperature.low').map(device)).toEqual([
      ['temperature.low', 'temperature-sensor', 'TS-1'],
    ]);
  });

  it('is absent from an area incident, which no one device raised', () => {
    let state = initialAreaState('GL1');
    const incidents: Alert[] = [];
    for (let i = 0; i < 12; i++) {
      const lost = makeEvent({
        type: 'mains.lost',
        time: new Date(T('10:00') + i * 1000).toISOString(),
        residentid: `res_area${i}`,
        subject: `HUB-A${i}`,
        devicekind: 'home-unit',
        postcodedistrict: 'GL1',
      });
      const result = evaluateArea(state, lost, T('10:01'), DEFAULT_RULE_SET);
      state = result.state;
      incidents.push(...result.alerts);
    }
    expect(incidents).toHaveLength(1);
    expect(device(incidents[0])).toEqual(['area.mains-lost', undefined, undefined]);
  });
});

import { Alert, type EventType, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/**
 * A panel stamps its reports to the second: a fault and its restore within one second (a detector's
 * self-test failing and passing, mains dropping for a moment, a tamper switch knocked) carry one
 * time, and which of the two sorts first is the toss of their ids. The restore must clear its fault
 * whichever sorts first and whichever arrives first.
 */
const T0 = Date.parse('2026-11-22T13:00:00.000Z');
const S = 1000;
const RESIDENT = 'res_instant0001';

let counter = 0;
const ev = (type: EventType, device: { kind: string; serial: string }): TelecareEvent => {
  counter++;
  return makeEvent({
    type,
    time: new Date(T0).toISOString(),
    residentid: RESIDENT,
    devicekind: device.kind,
    subject: device.serial,
    location: 'hall',
    deviceEventId: `i-${counter}-${type}`,
  });
};

const PAIRS: Array<{ fault: EventType; restore: EventType; device: { kind: string; serial: string } }> = [
  { fault: 'mains.lost', restore: 'mains.restored', device: { kind: 'home-unit', serial: 'HUB-I1' } },
  {
    fault: 'device.tamper',
    restore: 'tamper.restored',
    device: { kind: 'smoke-detector', serial: 'SMK-I1' },
  },
  { fault: 'device.fault', restore: 'fault.restored', device: { kind: 'smoke-detector', serial: 'SMK-I2' } },
  { fault: 'line.fault', restore: 'line.restored', device: { kind: 'home-unit', serial: 'HUB-I2' } },
  {
    fault: 'smoke.detected',
    restore: 'smoke.restored',
    device: { kind: 'smoke-detector', serial: 'SMK-I3' },
  },
];

describe('a restore stamped the same second as its fault clears it, whichever id sorts first', () => {
  for (const { fault, restore, device } of PAIRS)
    it(`${fault} and ${restore} in one second, in both orders of arrival`, () => {
      const sorts = new Set<boolean>();
      for (let i = 0; sorts.size < 2 || i < 4; i++) {
        const raised = ev(fault, device);
        const cleared = ev(restore, device);
        sorts.add(cleared.id < raised.id);
        for (const order of [
          [raised, cleared],
          [cleared, raised],
        ]) {
          const runner = new RulesRunner(DEFAULT_RULE_SET);
          const alerts: Alert[] = [];
          for (const event of order) alerts.push(...runner.event(event, T0 + S));
          alerts.push(...runner.advance(T0 + 30 * 60 * S));
          for (const alert of alerts) Alert.parse(alert);
          const faultAlerts = alerts.filter((a) => a.type === fault && !a.closes);
          expect(
            faultAlerts,
            `${fault} raised (${cleared.id < raised.id ? 'restore sorts first' : 'fault sorts first'})`,
          ).toHaveLength(1);
          const closing = alerts.filter((a) => a.closes?.alertId === faultAlerts[0]?.id);
          expect(
            closing.map((a) => [a.type, a.closes?.outcome]),
            `${restore} closes it (${order[0] === raised ? 'fault' : 'restore'} arrived first, ${cleared.id < raised.id ? 'restore' : 'fault'} sorts first)`,
          ).toEqual([[restore, 'restored']]);
        }
      }
    });
});

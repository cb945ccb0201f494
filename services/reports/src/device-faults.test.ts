import { EVENT_TYPES, TAXONOMY } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { assembleCounts } from './counts.ts';
import type { ActivityRow, AlertRow, FaultRow, Rows } from './figures.ts';
import { DEVICE_HEALTH_ALERT_TYPES, FAULT_TYPES } from './records.ts';
import { countsOf, summarise } from './summary.ts';

const FROM = new Date('2026-11-01T00:00:00Z');
const TO = new Date('2026-12-01T00:00:00Z');
const AT = new Date('2026-11-10T08:00:00Z');

const times = <T>(n: number, row: () => T): T[] => Array.from({ length: n }, row);
const alert = (type: string, priority: number, deviceKind: string | null = null): AlertRow => ({
  type,
  priority,
  district: 'GL1',
  raisedAt: AT,
  late: false,
  deviceKind,
});
const fault = (type: string): FaultRow => ({ type, district: 'GL1', at: AT });

/**
 * A month of 100 devices: 10 mains lost (device events), and the alerts of a device's health the
 * platform raised (15 supervision losses: 5 pendants, 5 smoke detectors and 5 whose alert named no
 * kind; 5 dead PIRs, 5 noisy PIRs), besides 10 presses and 5
 * logins contested, which are no device fault.
 */
const rows: Rows = {
  cases: [],
  alerts: [
    ...times(5, () => alert('supervision.lost', 3, 'pendant')),
    ...times(5, () => alert('supervision.lost', 3, 'smoke-detector')),
    ...times(5, () => alert('supervision.lost', 3)),
    ...times(5, () => alert('sensor.no-activity', 3)),
    ...times(5, () => alert('sensor.noisy', 4)),
    ...times(10, () => alert('pendant.pressed', 1)),
    ...times(5, () => alert('device.login-contested', 3)),
  ],
  activity: Array.from(
    { length: 100 },
    (_, i): ActivityRow => ({
      serial: `PIR-${i}`,
      residentId: `res_${i}`,
      deviceKind: 'pir',
      district: 'GL1',
      day: '2026-11-03',
    }),
  ),
  faults: times(10, () => fault('mains.lost')),
};

const FAULTS = {
  'mains.lost': 10,
  'supervision.lost': 15,
  'sensor.no-activity': 5,
  'sensor.noisy': 5,
};

describe('device faults', () => {
  it('counts the alerts of a device’s health with the device events, per 1,000 devices', () => {
    const s = summarise(rows, { from: FROM, to: TO, districts: null, now: TO });
    expect(s.faults.byType).toEqual({ total: 35, cells: FAULTS });
    expect(s.faults.per1000Devices).toBe(350);
    // Still its own figure too, and by the kind of device that went silent (under 5 suppressed).
    expect(s.faults.supervisionLosses).toBe(15);
    expect(s.faults.supervisionLossesByKind).toEqual({
      total: 15,
      cells: { pendant: 5, 'smoke-detector': 5, 'not recorded': 5 },
    });
  });

  it('counts the same from the groups PostgreSQL returns as from the rows', () => {
    const fromRows = countsOf(rows, ['2026-11'], TO).total;
    const groups = (type: string, priority: number, n: number, deviceKind: string | null = null) => ({
      month: '2026-11',
      district: 'GL1',
      type,
      priority,
      late: false,
      deviceKind,
      n,
    });
    const counted = assembleCounts(
      ['2026-11'],
      {
        groups: [],
        answerMs: { count: 0, middle: [] },
        attendMs: { count: 0, middle: [] },
        onFloorMinutes: { count: 0, middle: [] },
        attendP90Ms: [],
      },
      [
        groups('supervision.lost', 3, 5, 'pendant'),
        groups('supervision.lost', 3, 5, 'smoke-detector'),
        groups('supervision.lost', 3, 5),
        groups('sensor.no-activity', 3, 5),
        groups('sensor.noisy', 4, 5),
        groups('pendant.pressed', 1, 10),
        groups('device.login-contested', 3, 5),
      ],
      { residents: [], devices: [{ kind: 'pir', n: 100 }] },
      [{ type: 'mains.lost', n: 10 }],
    ).total;
    expect(fromRows.faultsByType).toEqual(FAULTS);
    expect(counted.faultsByType).toEqual(FAULTS);
    const byKind = { pendant: 5, 'smoke-detector': 5, 'not recorded': 5 };
    expect(fromRows.supervisionLossesByKind).toEqual(byKind);
    expect(counted.supervisionLossesByKind).toEqual(byKind);
  });

  it('classes every technical alert type the platform raises: a device’s health, or said why not', () => {
    const derived = EVENT_TYPES.filter((t) => TAXONOMY[t].category === 'technical' && TAXONOMY[t].derived);
    const notAFault = ['area.mains-lost', 'device.login-contested'];
    expect([...derived].sort()).toEqual([...DEVICE_HEALTH_ALERT_TYPES, ...notAFault].sort());
    // A device's own reports are counted as events, never twice as alerts too.
    for (const type of DEVICE_HEALTH_ALERT_TYPES) expect(FAULT_TYPES).not.toContain(type);
  });

  it('counts every technical and maintenance fault a device sends, a detector reporting a fault of its own among them', () => {
    const sent = EVENT_TYPES.filter(
      (t) =>
        ['technical', 'maintenance'].includes(TAXONOMY[t].category) &&
        !TAXONOMY[t].derived &&
        TAXONOMY[t].priority <= 4,
    );
    expect([...FAULT_TYPES].sort()).toEqual([...sent].sort());
    expect(FAULT_TYPES).toContain('device.fault');
  });
});

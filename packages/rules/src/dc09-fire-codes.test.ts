import { Alert, type EventType } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState } from './model.ts';
import { makeEvent } from './testing.ts';

/**
 * The DC-09 gateway maps a sprinkler flowing (Contact ID 113, SIA SA), a duct detector (116) and a
 * near alarm (118) onto smoke.detected, and a fire detector's fault (373, SIA FT) onto device.fault:
 * triage raises them by type, whatever code they were sent as, as it does a smoke alarm (CID 1111).
 * A fire trouble is the detector's own fault, apart from the panel's line: each has its own limit,
 * and each restore closes its own alert.
 */

const NOW = Date.parse('2026-12-07T03:00:00.000Z');
const RESIDENT = 'res_test0001';

const panelEvent = (type: EventType, sourcecode: string, atMs = NOW - 2_000) =>
  makeEvent({
    type,
    time: new Date(atMs).toISOString(),
    source: '/gateway-dc09',
    devicekind: 'home-unit',
    subject: 'DC09-1234',
    sourcecode,
  });

function alertFor(type: EventType, sourcecode: string) {
  const event = panelEvent(type, sourcecode);
  const result = evaluate(initialState(RESIDENT), { kind: 'event', event, now: NOW }, DEFAULT_RULE_SET);
  expect(result.alerts).toHaveLength(1);
  return Alert.parse(result.alerts[0]);
}

/** The alerts a panel's reports raise, one a minute, as triage evaluates them in turn. */
function alertsOf(reports: ReadonlyArray<readonly [EventType, string]>): Alert[] {
  let state = initialState(RESIDENT);
  const alerts: Alert[] = [];
  reports.forEach(([type, sourcecode], i) => {
    const at = NOW + i * 60_000;
    const result = evaluate(
      state,
      { kind: 'event', event: panelEvent(type, sourcecode, at), now: at + 500 },
      DEFAULT_RULE_SET,
    );
    state = result.state;
    alerts.push(...result.alerts.map((a) => Alert.parse(a)));
  });
  return alerts;
}

describe('fire codes a panel sends over DC-09', () => {
  it('a sprinkler, a duct detector and a near alarm raise the P1 fire alert a smoke alarm raises', () => {
    const smoke = alertFor('smoke.detected', 'CID 1111');
    for (const code of ['CID 1113', 'CID 1116', 'CID 1118', 'SIA SA']) {
      const alert = alertFor('smoke.detected', code);
      expect(alert, code).toMatchObject({ priority: 1, type: 'smoke.detected', rule: smoke.rule });
      expect(alert.reason, code).toBe(smoke.reason);
    }
  });

  it('a fire trouble raises the P3 device fault alert, which reads as the device reporting a fault of its own', () => {
    for (const code of ['CID 1373', 'CID 1393', 'SIA FT']) {
      const alert = alertFor('device.fault', code);
      expect(alert, code).toMatchObject({
        priority: 3,
        type: 'device.fault',
        rule: { id: 'trigger.device-fault' },
      });
      expect(alert.reason, code).toMatch(/^Device reports a fault of its own: /);
      expect(alert.reason, code).not.toContain('line');
    }
  });

  it("a panel's fire troubles past their limit leave its line fault its own alert", () => {
    const alerts = alertsOf([
      ['device.fault', 'CID 1373'],
      ['device.fault', 'CID 1380'],
      ['device.fault', 'CID 1393'],
      ['device.fault', 'SIA FT'],
      ['line.fault', 'CID 1350'],
    ]);
    // Three fire troubles raise (the fourth is flapping); the line fault is not counted with them.
    expect(alerts.filter((a) => a.type === 'device.fault')).toHaveLength(3);
    expect(alerts.filter((a) => a.type === 'line.fault')).toHaveLength(1);
  });

  it("a fire trouble's restore closes the fire trouble, not the panel's line fault; the line's restore closes the line fault", () => {
    const alerts = alertsOf([
      ['device.fault', 'CID 1373'],
      ['line.fault', 'CID 1350'],
      ['fault.restored', 'CID 3373'],
      ['line.restored', 'CID 3350'],
    ]);
    const fault = alerts.find((a) => a.type === 'device.fault');
    const line = alerts.find((a) => a.type === 'line.fault');
    const closed = (type: EventType) => alerts.find((a) => a.type === type)?.closes?.alertId;
    expect(closed('fault.restored')).toBe(fault?.id);
    expect(closed('line.restored')).toBe(line?.id);
  });
});

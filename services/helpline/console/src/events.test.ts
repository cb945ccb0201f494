import { describe, expect, it } from 'vitest';
import { eventText } from './events.ts';
import { sourceText } from './format.ts';
import type { CaseEvent } from './types.ts';

const step = (kind: string, data: Record<string, unknown>): CaseEvent =>
  ({
    id: 'ce_1',
    caseId: 'case_1',
    at: '2026-12-06T03:00:00.000Z',
    actor: 'triage',
    kind,
    data,
  }) as unknown as CaseEvent;
const joined = (data: Record<string, unknown>): CaseEvent => step('alert-joined', data);
/** The audit trail's line for a device's restore of `closedType`. */
const restore = (type: string, closedType: string, more: Record<string, unknown> = {}): string =>
  eventText(joined({ type, closes: { outcome: 'restored' }, closedType, by: 'device', ...more }));

describe("the audit trail's line for a restore", () => {
  it('names the device that reported it, by kind and serial', () => {
    const line = restore('smoke.restored', 'smoke.detected', {
      deviceSerial: 'SM-9',
      deviceKind: 'smoke-detector',
      why: 'alarm-restore',
    });
    expect(line).toMatch(/^the smoke detector SM-9 reported smoke restored \(smoke detected cleared\)/i);
  });

  it('says "the device" with its serial when the kind is not known, and as before with neither', () => {
    expect(restore('mains.restored', 'mains.lost', { deviceSerial: 'HU-1' })).toMatch(
      /^the device HU-1 reported /,
    );
    expect(restore('mains.restored', 'mains.lost')).toMatch(/^the device reported /);
  });
});

describe('the audit trail names the kind of device in words', () => {
  it('for a restore from a kind whose id is not a word an operator says', () => {
    const line = restore('sensor.quiet', 'sensor.noisy', {
      deviceSerial: 'PIR-L',
      deviceKind: 'pir',
      effect: 'resolved',
    });
    expect(line).toMatch(/^the movement sensor PIR-L reported sensor quiet/);
  });

  it('for the alert that opened the case, and for one that joined it', () => {
    expect(
      eventText(
        step('opened', {
          type: 'smoke.detected',
          priority: 1,
          deviceSerial: 'SD-123',
          deviceKind: 'smoke-detector',
        }),
      ),
    ).toBe('opened from smoke.detected (P1) — smoke detector SD-123');
    expect(
      eventText(
        joined({ type: 'co.detected', priority: 1, deviceSerial: 'CO-1', deviceKind: 'co-detector' }),
      ),
    ).toBe('alert joined: co.detected (P1) — carbon monoxide detector CO-1');
    expect(
      eventText(
        joined({ repeat: true, presses: 2, deviceSerial: 'PX-7', deviceKind: 'pendant', lastPressAt: null }),
      ),
    ).toMatch(/^pressed again on the pendant PX-7: 2 presses/);
  });

  it('says when an alert is about the whole home or an area, not one device', () => {
    expect(eventText(step('opened', { type: 'inactivity.unusual', priority: 2, about: 'home' }))).toBe(
      'opened from inactivity.unusual (P2) — the whole home, not one device',
    );
    expect(eventText(step('opened', { type: 'area.mains-lost', priority: 3, about: 'area' }))).toBe(
      'opened from area.mains-lost (P3) — many homes in the area, not one device',
    );
  });

  it('stays as it was for a step from before alerts named their device', () => {
    expect(eventText(step('opened', { type: 'pendant.pressed', priority: 1 }))).toBe(
      'opened from pendant.pressed (P1)',
    );
    expect(eventText(step('opened', { type: 'pendant.pressed', priority: 1, deviceSerial: 'PX-1' }))).toBe(
      'opened from pendant.pressed (P1) — device PX-1',
    );
  });
});

describe("where a case's alert came from, beside its reason", () => {
  it('the device in words, the whole home, or the area by its district', () => {
    expect(sourceText({ deviceSerial: 'SD-123', deviceKind: 'smoke-detector' })).toBe(
      'smoke detector SD-123',
    );
    expect(sourceText({ deviceSerial: 'SD-123' })).toBe('device SD-123');
    expect(sourceText({ about: 'home' })).toBe('the whole home, not one device');
    expect(sourceText({ about: 'area' }, 'GL1')).toBe('many homes in GL1, not one device');
    expect(sourceText({})).toBe('');
  });
});

describe("the audit trail's line for what a panel says of an alarm after it", () => {
  it('an alarm button back to normal is no cancel and no cleared alarm: the alarm stands', () => {
    const line = restore('alarm.restored', 'pendant.pressed', {
      deviceSerial: 'PND-1',
      deviceKind: 'pendant',
      why: 'alarm-restore',
    });
    expect(line).toBe(
      'the pendant PND-1 reported the alarm button back to normal (not a cancel) — the alarm stands: answer it',
    );
    expect(line).not.toMatch(/cleared|detector/);
  });

  it('the alarm still present is a status report, not a press', () => {
    const line = eventText(
      joined({ type: 'alarm.still-present', priority: 5, deviceSerial: 'PND-1', deviceKind: 'pendant' }),
    );
    expect(line).toBe('the pendant PND-1 reports the alarm still present (a status report, not a press)');
  });

  it('a still-present report after its case was resolved opens a record that says so, not a press', () => {
    const line = eventText(
      step('opened', {
        type: 'alarm.still-present',
        priority: 5,
        deviceSerial: 'PND-1',
        deviceKind: 'pendant',
        afterCase: 'case_9',
        afterState: 'resolved',
      }),
    );
    expect(line).toBe(
      'opened from alarm.still-present (P5) — pendant PND-1 — the panel still reports the alarm of case case_9, which was resolved',
    );
    expect(line).not.toMatch(/pressed again/);
  });
});

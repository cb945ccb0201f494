import { describe, expect, it } from 'vitest';
import { eventText } from './events.ts';
import type { CaseEvent } from './types.ts';

const joined = (data: Record<string, unknown>): CaseEvent =>
  ({
    id: 'ce_1',
    caseId: 'case_1',
    at: '2026-12-06T03:00:00.000Z',
    actor: 'triage',
    kind: 'alert-joined',
    data,
  }) as unknown as CaseEvent;

describe("the audit trail's line for a restore", () => {
  it('names the device that reported it, by kind and serial', () => {
    const line = eventText(
      joined({
        type: 'smoke.restored',
        closes: { outcome: 'restored' },
        closedType: 'smoke.detected',
        by: 'device',
        deviceSerial: 'SM-9',
        deviceKind: 'smoke-detector',
        why: 'alarm-restore',
      }),
    );
    expect(line).toMatch(/^the smoke detector SM-9 reported smoke restored \(smoke detected cleared\)/i);
  });

  it('says "the device" with its serial when the kind is not known, and as before with neither', () => {
    const base = {
      type: 'mains.restored',
      closes: { outcome: 'restored' },
      closedType: 'mains.lost',
      by: 'device',
    };
    expect(eventText(joined({ ...base, deviceSerial: 'HU-1' }))).toMatch(/^the device HU-1 reported /);
    expect(eventText(joined(base))).toMatch(/^the device reported /);
  });
});

import { type Alert, alertIdFor } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { ALERT_BOUNDS, boundAlert } from './alert-bounds.ts';

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: alertIdFor('pendant', 'res_1', 'evt_1'),
  residentId: 'res_1',
  priority: 1,
  type: 'pendant.pressed',
  raisedAt: '2026-12-01T02:00:00.000Z',
  rule: { id: 'pendant', version: 1 },
  evidence: ['evt_1'],
  thresholds: { minutes: 5 },
  reason: 'Pendant pressed',
  late: false,
  testMode: false,
  deviceSerial: 'PND-1',
  ...over,
});

describe('boundAlert', () => {
  it('leaves an ordinary alert as it is', () => {
    const a = alert();
    expect(boundAlert(a)).toEqual({ alert: a, cut: [] });
  });

  it('cuts an oversized reason, evidence list and thresholds, keeping the first of each', () => {
    const evidence = Array.from({ length: 5_000 }, (_, i) => `evt_${i}`);
    const { alert: a, cut } = boundAlert(
      alert({
        reason: `Pendant pressed ${'x'.repeat(100_000)}`,
        evidence,
        thresholds: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`t${i}`, 'y'.repeat(1_000)])),
        rule: { id: 'r'.repeat(1_000), version: 2 },
        deviceSerial: 's'.repeat(1_000),
      }),
    );
    expect(cut).toEqual(['reason', 'evidence', 'thresholds', 'rule', 'deviceSerial']);
    expect(a.reason).toHaveLength(ALERT_BOUNDS.reason);
    expect(a.reason.startsWith('Pendant pressed')).toBe(true);
    expect(a.evidence).toEqual(evidence.slice(0, ALERT_BOUNDS.evidence));
    expect(Object.keys(a.thresholds)).toHaveLength(ALERT_BOUNDS.thresholds);
    expect(a.thresholds.t0).toHaveLength(ALERT_BOUNDS.text);
    expect(a.rule).toEqual({ id: expect.stringMatching(/^r+…$/), version: 2 });
    expect(a.deviceSerial).toHaveLength(ALERT_BOUNDS.text);
    expect(JSON.stringify(a).length).toBeLessThan(24 * 1024);
  });
});

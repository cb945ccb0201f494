import { Alert } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState } from './model.ts';
import { makeEvent } from './testing.ts';

/**
 * The DC-09 gateway maps a sprinkler flowing (Contact ID 113, SIA SA), a duct detector (116) and a
 * near alarm (118) onto smoke.detected, and a fire detector's fault (373, SIA FT) onto line.fault:
 * triage raises them by type, whatever code they were sent as, as it does a smoke alarm (CID 1111).
 */

const NOW = Date.parse('2026-12-07T03:00:00.000Z');
const RESIDENT = 'res_test0001';

function alertFor(type: 'smoke.detected' | 'line.fault', sourcecode: string) {
  const event = makeEvent({
    type,
    time: new Date(NOW - 2_000).toISOString(),
    source: '/gateway-dc09',
    devicekind: 'home-unit',
    subject: 'DC09-1234',
    sourcecode,
  });
  const result = evaluate(initialState(RESIDENT), { kind: 'event', event, now: NOW }, DEFAULT_RULE_SET);
  expect(result.alerts).toHaveLength(1);
  return Alert.parse(result.alerts[0]);
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

  it('a fire trouble raises the P3 line fault alert', () => {
    for (const code of ['CID 1373', 'CID 1393', 'SIA FT'])
      expect(alertFor('line.fault', code), code).toMatchObject({
        priority: 3,
        type: 'line.fault',
        rule: { id: 'trigger.line-fault' },
      });
  });
});

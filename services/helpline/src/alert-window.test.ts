import type { Because, HelplineCase } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { ALERT_WINDOW, ALERT_WINDOW_SIZE, alertPage, withAlertWindow } from './alert-window.ts';

const because = (i: number, priority: 1 | 2 | 3 | 4 | 5 = 3): Because => ({
  alertId: `alt_${i}`,
  priority,
  raisedAt: new Date(Date.UTC(2026, 11, 4, 1, 0, i)).toISOString(),
  rule: { id: 'rule.mains.lost', version: 1 },
  reason: `report ${i}`,
  evidence: [`evt_${i}`],
  thresholds: {},
  late: false,
});

const caseOf = (list: Because[]): HelplineCase =>
  ({
    alertIds: list.map((b) => b.alertId),
    alertCount: list.length,
    because: list,
  }) as unknown as HelplineCase;

describe('the alert window', () => {
  it('leaves a case with few alerts as it is', () => {
    const c = caseOf(Array.from({ length: ALERT_WINDOW_SIZE }, (_, i) => because(i)));
    expect(withAlertWindow(c)).toBe(c);
  });

  it('keeps the first, the most urgent and the latest, in the order they came, and the count of all', () => {
    const list = Array.from({ length: 1500 }, (_, i) => because(i));
    list[700] = because(700, 1);
    list[300] = because(300, 2);
    const w = withAlertWindow(caseOf(list));
    expect(w.alertCount).toBe(1500);
    expect(w.because).toHaveLength(ALERT_WINDOW_SIZE);
    expect(w.alertIds).toEqual(w.because.map((b) => b.alertId));
    const at = w.because.map((b) => Number(b.alertId.slice(4)));
    expect(at[0]).toBe(0);
    expect(at).toContain(700);
    expect(at).toContain(300);
    expect(at.slice(-ALERT_WINDOW.latest)).toEqual(
      Array.from({ length: ALERT_WINDOW.latest }, (_, i) => 1488 + i),
    );
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('pages through every alert newest first, each once', () => {
    const list = Array.from({ length: 250 }, (_, i) => because(i));
    const seen: string[] = [];
    let before: number | undefined;
    for (;;) {
      const page = alertPage(list, before, 100);
      expect(page.total).toBe(250);
      seen.push(...page.alerts.map((b) => b.alertId));
      if (page.next === null) break;
      before = page.next;
    }
    expect(seen).toEqual(list.map((b) => b.alertId).reverse());
    expect(alertPage(list, 9999, 10).alerts[0]?.alertId).toBe('alt_249');
  });
});

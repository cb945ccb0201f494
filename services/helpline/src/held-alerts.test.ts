import type { Alert } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { HELD_SHOWN, HeldAlerts } from './held-alerts.ts';

const alert = (n: number, over: Partial<Alert> = {}): Alert => ({
  id: `alt_${n.toString(16).padStart(32, '0')}`,
  residentId: `res_${n}`,
  priority: 1,
  type: 'pendant.pressed',
  raisedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  rule: { id: 'rule.pendant.pressed', version: 1 },
  evidence: [`evt_${n}`],
  thresholds: {},
  reason: 'pressed',
  late: false,
  testMode: false,
  ...over,
});

describe('HeldAlerts', () => {
  it('shows the alarms in hand only while a commit has failed for a dependency, until each is settled', () => {
    const held = new HeldAlerts();
    let changes = 0;
    held.subscribe(() => changes++);
    held.taken(alert(1));
    held.taken(alert(2));
    // Committing as usual: nothing to show.
    expect(held.list()).toEqual({ alerts: [], total: 0 });
    held.failed(alert(1).id);
    // The one failing and the one waiting behind it, newest first.
    expect(held.list().alerts.map((a) => a.residentId)).toEqual(['res_2', 'res_1']);
    held.settled(alert(1).id);
    expect(held.list()).toEqual({ alerts: [], total: 0 });
    expect(changes).toBe(2);
  });

  it('keeps to alarms, without a closing record, and lists the newest few hundred', () => {
    const held = new HeldAlerts();
    held.taken(alert(1, { priority: 3 }));
    held.taken(alert(2, { closes: { alertId: alert(9).id, outcome: 'false-alarm' } }));
    for (let n = 10; n < 10 + HELD_SHOWN + 5; n++) held.taken(alert(n, { priority: 2 }));
    held.failed(alert(10).id);
    const { alerts, total } = held.list();
    expect(total).toBe(HELD_SHOWN + 5);
    expect(alerts).toHaveLength(HELD_SHOWN);
    expect(alerts[0]?.residentId).toBe(`res_${9 + HELD_SHOWN + 5}`);
    expect(Object.keys(alerts[0] ?? {})).not.toContain('reason');
  });
});

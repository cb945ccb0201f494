import { eventIdFor } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { reconcile, type SentEvent, type ServerRecord, type StoredAlert } from './reconcile.ts';

const press = (n: number, acked = true): SentEvent => ({
  serial: 'FLT-PND',
  deviceEventId: `press-${n}`,
  at: '2026-12-05T09:00:00.000Z',
  type: 'pendant.pressed',
  acked,
});
const motion = (n: number): SentEvent => ({
  serial: 'FLT-PIR',
  deviceEventId: `m-${n}`,
  at: '2026-12-05T09:00:00.000Z',
  type: 'motion',
  acked: true,
});
const evt = (s: SentEvent) => eventIdFor(s.serial, s.deviceEventId, s.at, s.type);
const alertOf = (s: SentEvent, id: string, rule = 'pendant'): StoredAlert => ({
  id,
  type: s.type,
  rule: { id: rule },
  evidence: [evt(s)],
  testMode: false,
});

/** A run where everything holds: two presses and a movement, each press in its own case. */
function consistent(): { sent: SentEvent[]; servers: ServerRecord } {
  const sent = [press(1), press(2), motion(1)];
  return {
    sent,
    servers: {
      events: sent.map((s) => ({ id: evt(s), type: s.type })),
      alerts: [alertOf(press(1), 'alt_1'), alertOf(press(2), 'alt_2')],
      caseEvents: [
        { id: 'cev_1', caseId: 'case_1', kind: 'opened', alertId: 'alt_1' },
        { id: 'cev_2', caseId: 'case_2', kind: 'opened', alertId: 'alt_2' },
      ],
      db: {
        caseIds: ['case_1', 'case_2'],
        caseAlerts: [
          { alertId: 'alt_1', caseId: 'case_1' },
          { alertId: 'alt_2', caseId: 'case_2' },
        ],
        caseEventIds: ['cev_1', 'cev_2'],
        outboxIds: [],
      },
    },
  };
}

const kinds = (r: ReturnType<typeof reconcile>) => r.violations.map((v) => v.kind);

describe('reconcile', () => {
  it('finds nothing wrong in a consistent run, and counts it', () => {
    const { sent, servers } = consistent();
    const result = reconcile({ sent }, servers);
    expect(result.violations).toEqual([]);
    expect(result.counts).toMatchObject({
      sent: 3,
      acked: 3,
      lifeCriticalSent: 2,
      lifeCriticalAcked: 2,
      lostLifeCritical: 0,
      lostOther: 0,
      alerts: 2,
      cases: 2,
      duplicateCases: 0,
      duplicateAlerts: 0,
    });
  });

  it('an acked press missing from EVENTS is a life-critical loss; an unacked one is not', () => {
    const { sent, servers } = consistent();
    const result = reconcile({ sent: [...sent, press(3), press(4, false)] }, servers);
    expect(kinds(result)).toEqual(['life-critical-lost']);
    expect(result.violations[0]?.id).toBe(evt(press(3)));
    expect(result.counts.lostLifeCritical).toBe(1);
  });

  it('an acked movement missing from EVENTS is counted as another loss', () => {
    const { sent, servers } = consistent();
    const result = reconcile({ sent: [...sent, motion(2)] }, servers);
    expect(kinds(result)).toEqual(['acked-event-lost']);
    expect(result.counts).toMatchObject({ lostOther: 1, lostLifeCritical: 0 });
  });

  it('a stored press that raised no alert is lost', () => {
    const { sent, servers } = consistent();
    const result = reconcile(
      { sent },
      {
        ...servers,
        alerts: servers.alerts.slice(1),
        db: { ...servers.db, caseAlerts: servers.db.caseAlerts.slice(1) },
        caseEvents: servers.caseEvents.slice(1),
      },
    );
    expect(kinds(result)).toContain('life-critical-lost');
    expect(result.violations.find((v) => v.kind === 'life-critical-lost')?.detail).toMatch(/no alert/);
  });

  it('a press whose alert is in no case is lost (and ALERTS disagrees with PostgreSQL)', () => {
    const { sent, servers } = consistent();
    const result = reconcile(
      { sent },
      { ...servers, db: { ...servers.db, caseAlerts: servers.db.caseAlerts.slice(1) } },
    );
    expect(kinds(result)).toContain('life-critical-lost');
    expect(kinds(result)).toContain('stream-db-mismatch');
    expect(result.counts.lostLifeCritical).toBe(1);
  });

  it('a press whose two alerts sit in two cases is a duplicate case', () => {
    const { sent, servers } = consistent();
    const second = alertOf(press(1), 'alt_1b', 'pendant-escalated');
    const result = reconcile(
      { sent },
      {
        ...servers,
        alerts: [...servers.alerts, second],
        caseEvents: [
          ...servers.caseEvents,
          { id: 'cev_3', caseId: 'case_3', kind: 'opened', alertId: 'alt_1b' },
        ],
        db: {
          ...servers.db,
          caseIds: [...servers.db.caseIds, 'case_3'],
          caseAlerts: [...servers.db.caseAlerts, { alertId: 'alt_1b', caseId: 'case_3' }],
          caseEventIds: [...servers.db.caseEventIds, 'cev_3'],
        },
      },
    );
    expect(kinds(result)).toEqual(['in-two-cases']);
    expect(result.counts.duplicateCases).toBe(1);
  });

  it('two alert ids with the same rule and evidence are a duplicate alert', () => {
    const { sent, servers } = consistent();
    const again = alertOf(press(2), 'alt_2b');
    const result = reconcile(
      { sent },
      {
        ...servers,
        alerts: [...servers.alerts, again],
        caseEvents: [
          ...servers.caseEvents,
          { id: 'cev_3', caseId: 'case_2', kind: 'alert-joined', alertId: 'alt_2b' },
        ],
        db: {
          ...servers.db,
          caseAlerts: [...servers.db.caseAlerts, { alertId: 'alt_2b', caseId: 'case_2' }],
          caseEventIds: [...servers.db.caseEventIds, 'cev_3'],
        },
      },
    );
    expect(kinds(result)).toEqual(['duplicate-alert']);
    expect(result.counts.duplicateAlerts).toBe(1);
  });

  it('one alert joined to a case twice on CASES is a duplicate alert', () => {
    const { sent, servers } = consistent();
    const result = reconcile(
      { sent },
      {
        ...servers,
        caseEvents: [
          ...servers.caseEvents,
          { id: 'cev_3', caseId: 'case_2', kind: 'alert-joined', alertId: 'alt_2' },
        ],
        db: { ...servers.db, caseEventIds: [...servers.db.caseEventIds, 'cev_3'] },
      },
    );
    expect(kinds(result)).toEqual(['duplicate-alert']);
  });

  it('the same message twice on a stream (a redelivery) is not a duplicate', () => {
    const { sent, servers } = consistent();
    const result = reconcile(
      { sent },
      {
        ...servers,
        alerts: [...servers.alerts, ...servers.alerts],
        caseEvents: [...servers.caseEvents, ...servers.caseEvents],
      },
    );
    expect(result.violations).toEqual([]);
  });

  it('CASES and case_events must hold the same case events, but for those still in the outbox', () => {
    const { sent, servers } = consistent();
    const result = reconcile(
      { sent },
      {
        ...servers,
        caseEvents: [...servers.caseEvents, { id: 'cev_ghost', caseId: 'case_ghost', kind: 'note' }],
        db: {
          ...servers.db,
          caseEventIds: [...servers.db.caseEventIds, 'cev_unpublished', 'cev_pending'],
          outboxIds: ['cev_pending'],
        },
      },
    );
    const details = result.violations.map((v) => `${v.kind} ${v.id}`);
    expect(details).toEqual(
      expect.arrayContaining([
        'stream-db-mismatch cev_unpublished',
        'stream-db-mismatch cev_ghost',
        'stream-db-mismatch case_ghost',
      ]),
    );
    expect(result.counts.streamDbMismatches).toBe(3);
    expect(result.counts.outboxPending).toBe(1);
  });

  it('an alert CASES puts in one case and case_alerts in another is a mismatch', () => {
    const { sent, servers } = consistent();
    const result = reconcile(
      { sent },
      {
        ...servers,
        caseEvents: [
          { id: 'cev_1', caseId: 'case_2', kind: 'opened', alertId: 'alt_1' },
          { id: 'cev_2', caseId: 'case_2', kind: 'opened', alertId: 'alt_2' },
        ],
      },
    );
    expect(result.violations).toEqual([
      { kind: 'stream-db-mismatch', id: 'alt_1', detail: 'CASES puts it in case_2, case_alerts in case_1' },
    ]);
  });

  it('a restore or cancel that came before the alert it closes is its own record and, once the alert comes, joins its case: no duplicate, no mismatch', () => {
    // Each priority has its own consumer: the restore (P5) can be committed before its press (P1),
    // kept as a closed record of its own; the press's commit then closes its case with it
    // (an `alert-joined` naming the restore in the press's case: the helpline's `closeLate`).
    const { sent, servers } = consistent();
    const restore: StoredAlert = {
      ...alertOf(press(1), 'alt_r', 'restore'),
      type: 'alarm.restored',
      closes: { alertId: 'alt_1', outcome: 'restored' },
    };
    const late = {
      ...servers,
      alerts: [...servers.alerts, restore],
      caseEvents: [
        { id: 'cev_r', caseId: 'case_r', kind: 'opened', alertId: 'alt_r' },
        ...servers.caseEvents,
        { id: 'cev_3', caseId: 'case_1', kind: 'alert-joined', alertId: 'alt_r' },
      ],
      db: {
        ...servers.db,
        caseIds: [...servers.db.caseIds, 'case_r'],
        caseAlerts: [...servers.db.caseAlerts, { alertId: 'alt_r', caseId: 'case_r' }],
        caseEventIds: [...servers.db.caseEventIds, 'cev_r', 'cev_3'],
      },
    };
    expect(reconcile({ sent }, late).violations).toEqual([]);
    // Joined to a case other than the one of the alert it closes, it is a mismatch all the same.
    const astray = {
      ...late,
      caseEvents: late.caseEvents.map((e) => (e.id === 'cev_3' ? { ...e, caseId: 'case_2' } : e)),
    };
    expect(kinds(reconcile({ sent }, astray))).toEqual(['duplicate-alert', 'stream-db-mismatch']);
  });

  describe('DC-09 presses (named by their panel, stored under the ids the gateway gives)', () => {
    /** A panel's press, ACKed, sent as message `seq`. */
    const panelPress = (seq: number, acked = true): SentEvent => ({
      serial: 'FLT-PNL',
      deviceEventId: `FA01-${seq}`,
      at: '2026-12-05T09:00:00.000Z',
      type: 'pendant.pressed',
      acked,
      dc09Seq: seq,
    });
    const stored = (id: string, seq: number, type = 'pendant.pressed' as const) => ({
      id,
      type,
      source: '/gateway-dc09',
      subject: 'FLT-PNL',
      seq,
    });
    const alert = (id: string, evidence: string): StoredAlert => ({
      id,
      type: 'pendant.pressed',
      rule: { id: 'pendant' },
      evidence: [evidence],
      testMode: false,
    });
    /** Message 7 stored as `evt_p7` and, when `twice`, again as `evt_p7b`, each alert in `cases`. */
    function panelRun(cases: readonly string[], twice: boolean): ServerRecord {
      const ids = twice ? ['evt_p7', 'evt_p7b'] : ['evt_p7'];
      return {
        events: ids.map((id) => stored(id, 7)),
        alerts: ids.map((id, i) => alert(`alt_p${i}`, id)),
        caseEvents: ids.map((_, i) => ({
          id: `cev_p${i}`,
          caseId: cases[i] as string,
          kind: i === 0 || cases[i] !== cases[0] ? 'opened' : 'alert-joined',
          alertId: `alt_p${i}`,
        })),
        db: {
          caseIds: [...new Set(cases)],
          caseAlerts: ids.map((_, i) => ({ alertId: `alt_p${i}`, caseId: cases[i] as string })),
          caseEventIds: ids.map((_, i) => `cev_p${i}`),
          outboxIds: [],
        },
      };
    }

    it('an ACKed press is found by serial, sequence number and type, and proven', () => {
      const result = reconcile({ sent: [panelPress(7)] }, panelRun(['case_p'], false));
      expect(result.violations).toEqual([]);
      expect(result.counts).toMatchObject({ lifeCriticalAcked: 1, lostLifeCritical: 0, storedTwice: 0 });
    });

    it('an ACKed press whose message is not in EVENTS is lost; another message of the panel is no proof', () => {
      const servers = panelRun(['case_p'], false);
      const result = reconcile({ sent: [panelPress(7), panelPress(8), panelPress(9, false)] }, servers);
      expect(kinds(result)).toEqual(['life-critical-lost']);
      expect(result.violations[0]?.id).toBe('FLT-PNL message 8');
    });

    it("a restore under the press's number is not the press", () => {
      const servers = panelRun(['case_p'], false);
      const result = reconcile(
        { sent: [panelPress(7), { ...panelPress(7), type: 'alarm.restored' }] },
        servers,
      );
      expect(kinds(result)).toEqual(['acked-event-lost']);
    });

    it('a press stored twice (a resend after a gateway restart) in one case is counted, not a violation', () => {
      const result = reconcile({ sent: [panelPress(7)] }, panelRun(['case_p', 'case_p'], true));
      expect(result.violations).toEqual([]);
      expect(result.counts).toMatchObject({ storedTwice: 1, duplicateCases: 0 });
    });

    it('an ACKed press not stored, after one of the same content ACKed the same second, is a same-second copy', () => {
      const servers = panelRun(['case_p'], false);
      const stamped = (p: SentEvent, at: string) => ({ ...p, dc09AckedAt: at });
      const result = reconcile(
        {
          sent: [
            stamped(panelPress(7), '2026-12-05T09:00:01.100Z'),
            stamped(panelPress(9), '2026-12-05T09:00:01.900Z'),
            stamped(panelPress(11), '2026-12-05T09:00:02.000Z'),
          ],
        },
        servers,
      );
      expect(result.violations.map((v) => `${v.kind} ${v.id}`)).toEqual([
        'dc09-same-second-copy FLT-PNL message 9',
        'life-critical-lost FLT-PNL message 11',
      ]);
      expect(result.counts).toMatchObject({ dc09SameSecondCopies: 1, lostLifeCritical: 1 });
    });

    it('a press stored twice whose alerts sit in two cases is a duplicate case', () => {
      const result = reconcile({ sent: [panelPress(7)] }, panelRun(['case_p', 'case_q'], true));
      expect(kinds(result)).toEqual(['in-two-cases']);
      expect(result.counts).toMatchObject({ storedTwice: 1, duplicateCases: 1 });
    });
  });
});

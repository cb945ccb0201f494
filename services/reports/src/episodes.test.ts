import { describe, expect, it } from 'vitest';
import { episodeTable, pseudonym, recipientKey } from './episodes.ts';

const SECRET = 'a-test-secret-of-at-least-32-characters';

describe('pseudonymised episodes', () => {
  it('gives each recipient its own pseudonym for the same resident, stable across exports', () => {
    const a = recipientKey(SECRET, 'trust-a');
    const b = recipientKey(SECRET, 'trust-b');
    expect(pseudonym(a, 'resident', 'res_1')).toBe(
      pseudonym(recipientKey(SECRET, 'trust-a'), 'resident', 'res_1'),
    );
    expect(pseudonym(a, 'resident', 'res_1')).not.toBe(pseudonym(b, 'resident', 'res_1'));
    expect(pseudonym(a, 'resident', 'res_1')).toMatch(/^p_[0-9a-f]{32}$/);
  });

  it('keeps no id, and the day but not the time', () => {
    const raisedAt = new Date('2026-11-04T10:00:00Z');
    const table = episodeTable(
      [
        {
          caseId: 'case_secret1',
          residentId: 'res_secret1',
          district: 'GL1',
          priority: 1,
          type: 'fall.detected',
          raisedAt,
          acceptedAt: new Date('2026-11-04T10:00:42Z'),
          responderCalledAt: new Date('2026-11-04T10:02:00Z'),
          resolvedAt: null,
          closedAt: null,
          outcome: 'ambulance',
          facts: [
            { fact: 'responder-arrived', at: new Date('2026-11-04T10:32:30Z'), onFloorMinutes: null },
            { fact: 'found-on-floor', at: new Date('2026-11-04T10:33:00Z'), onFloorMinutes: 75 },
          ],
        },
      ],
      recipientKey(SECRET, 'trust-a'),
    );
    const [row] = table.rows;
    expect(row?.slice(2)).toEqual([
      'GL1',
      '2026-11-04',
      1,
      'fall.detected',
      42,
      'ambulance',
      30.5,
      true,
      75,
      true,
      false,
    ]);
    expect(JSON.stringify(table)).not.toMatch(/secret1|T10:/);
  });

  it("marks a fall as the summary counts one: not a detector's false alarm", () => {
    const kase = (outcome: string) => ({
      caseId: `case_${outcome}`,
      residentId: 'res_1',
      district: 'GL1',
      priority: 1,
      type: 'fall.detected',
      raisedAt: new Date('2026-11-04T10:00:00Z'),
      acceptedAt: null,
      responderCalledAt: null,
      resolvedAt: null,
      closedAt: null,
      outcome,
      facts: [],
    });
    const table = episodeTable([kase('false-alarm'), kase('responder-visit')], recipientKey(SECRET, 't'));
    const fall = table.columns.indexOf('fall');
    const byOutcome = Object.fromEntries(
      table.rows.map((r) => [r[table.columns.indexOf('outcome')], r[fall]]),
    );
    expect(byOutcome).toEqual({ 'false-alarm': false, 'responder-visit': true });
  });
});

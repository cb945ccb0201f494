import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary } from '../src/summary.ts';
import { reportsHarness, seededNovember, seedNovember } from './support.ts';

// A commissioner subtracting two answers to recover a count the service suppressed. The seeded
// November: GL1 18 calls, GL2 3 calls (on the 5th, 23rd and 24th); GL2 alone is suppressed.
const h = await reportsHarness('rpdiff');
let token: string;

beforeAll(async () => {
  await h.start();
  await seedNovember(h);
  await seededNovember(h);
  const made = await h.api('/api/tokens', {
    method: 'POST',
    body: JSON.stringify({ role: 'commissioner', recipient: 'differencing-council' }),
  });
  token = ((await made.json()) as { token: string }).token;
});
afterAll(() => h.close());

const summary = async (query: string): Promise<Summary> => {
  const res = await h.api(`/api/reports/summary?${query}`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Summary;
};

/**
 * What an attacker who knows the published method can say of a true count from its published
 * value: a count rounded to base b is any value within b/2 of it; an unrounded count is itself.
 */
const truths = (published: number | null, roundedTo: number | undefined): number[] => {
  if (published === null) return [];
  const half = Math.floor((roundedTo ?? 1) / 2);
  return Array.from({ length: 2 * half + 1 }, (_, i) => published - half + i).filter((n) => n >= 0);
};

/** Every value of a suppressed count (1 to 4) that two published totals, subtracted, leave open. */
const recoverable = (whole: Summary, part: Summary): number[] => {
  const out = new Set<number>();
  for (const a of truths(whole.alerts.byType.total, whole.roundedTo))
    for (const b of truths(part.alerts.byType.total, part.roundedTo))
      if (a - b >= 1 && a - b <= 4) out.add(a - b);
  return [...out];
};

describe('differencing two answers', () => {
  it('does not give back the calls of a suppressed district from two overlapping district sets', async () => {
    const gl2 = await summary('from=2026-11-01&to=2026-12-01&districts=GL2');
    expect(gl2.alerts.byType.total).toBeNull();
    const both = await summary('from=2026-11-01&to=2026-12-01&districts=GL1,GL2');
    const gl1 = await summary('from=2026-11-01&to=2026-12-01&districts=GL1');
    // GL2's true 3 is one of several values the two answers allow, not the one they allow.
    expect(recoverable(both, gl1).length).toBeGreaterThan(1);
    expect((both.alerts.byType.total ?? 0) - (gl1.alerts.byType.total ?? 0)).not.toBe(3);
  });

  it('does not give back the calls of a suppressed part of a month from two overlapping periods', async () => {
    // [23 Nov, 1 Dec) holds 2 calls (GL2's 23rd and 24th).
    const whole = await summary('from=2026-11-01&to=2026-12-01');
    const head = await summary('from=2026-11-01&to=2026-11-23');
    expect(recoverable(whole, head)).not.toEqual([2]);
    // Periods are whole calendar months: a period ending on the 23rd is November, as is the whole.
    expect(head.period).toEqual(whole.period);
    expect(head.alerts.byType.total).toBe(whole.alerts.byType.total);
    const tail = await summary('from=2026-11-23&to=2026-12-01');
    expect(tail.period).toEqual({ from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' });
  });

  it('publishes every count rounded to 5, totals rounded on their own, and says so', async () => {
    const s = await summary('from=2026-11-01&to=2026-12-01&districts=GL1');
    expect(s.roundedTo).toBe(5);
    const counts = [
      s.residents.active,
      s.residents.devices,
      ...Object.values(s.residents.technology.cells),
      s.residents.technology.total,
      ...Object.values(s.alerts.byType.cells),
      s.alerts.byType.total,
      s.answer.within180s.of,
      s.answer.within180s.met,
      s.attendance.visits,
      ...Object.values(s.outcomes.cells),
      s.outcomes.total,
      ...Object.values(s.demand.alerts.cells),
      s.demand.alerts.total,
    ];
    for (const c of counts) if (c !== null) expect(c % 5, String(counts)).toBe(0);
    // 20 + 10 + 6 devices: the cells are 20, 10 and 5, the total 36 rounded on its own to 35.
    expect(s.residents.technology).toEqual({
      total: 35,
      cells: { pendant: 20, 'fall-detector': 10, 'home-unit': 5 },
    });
    expect(s.suppression).toMatch(/nearest 5/);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEpisodes } from './hospital.ts';

type Span = { admitted: string; discharged: string };
const overlaps = (a: Span, b: Span) => a.admitted < b.discharged && b.admitted < a.discharged;
const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n)).toISOString().slice(0, 10);

describe('overlapping stays in an episodes file', () => {
  it('are found as a row-by-row comparison finds them, in any order, same-day stays included, a copy of a row taken named as one', () => {
    const stay = fc
      .tuple(fc.constantFrom('res_a', 'res_b'), fc.nat(30), fc.nat(4))
      .map(([residentId, from, nights]) => ({
        residentId,
        admitted: day(from),
        discharged: day(from + nights),
      }));
    fc.assert(
      fc.property(fc.array(stay, { maxLength: 40 }), fc.array(stay, { maxLength: 8 }), (rows, before) => {
        const existing = new Map<string, Span[]>();
        for (const s of before) existing.set(s.residentId, [...(existing.get(s.residentId) ?? []), s]);
        const text = [
          'resident,admitted,discharged',
          ...rows.map((r) => `${r.residentId},${r.admitted},${r.discharged}`),
        ];
        const checked = checkEpisodes(text.join('\n'), new Set(['res_a', 'res_b']), existing, '2026-12-31');
        // The same decisions, made by comparing each row with every stay before it.
        const accepted: (Span & { residentId: string; line: number })[] = [];
        const taken: (Span & { residentId: string; line: number })[] = [];
        const same = (a: Span & { residentId: string }, b: Span & { residentId: string }) =>
          a.residentId === b.residentId && a.admitted === b.admitted && a.discharged === b.discharged;
        rows.forEach((r, i) => {
          const line = i + 2;
          const mine = existing.get(r.residentId) ?? [];
          const refusal = checked.refused.find((x) => x.line === line);
          // A copy of a row taken before it: left out, naming that row.
          const copied = taken.find((t) => same(t, r));
          expect(checked.duplicates.find((d) => d.line === line)?.copyOf).toBe(copied?.line);
          if (copied) {
            expect(refusal).toBeUndefined();
            return;
          }
          if (mine.some((s) => s.admitted === r.admitted && s.discharged === r.discharged)) {
            expect(refusal).toBeUndefined();
            taken.push({ ...r, line });
            return;
          }
          const before = mine.some((s) => overlaps(s, r));
          const clashes = accepted.filter((a) => a.residentId === r.residentId && overlaps(a, r));
          expect(refusal?.reasons.includes('overlaps a stay already imported') ?? false).toBe(before);
          const named = refusal?.reasons.find((x) => x.startsWith('overlaps the stay on line '));
          if (clashes.length === 0) expect(named).toBeUndefined();
          else expect(clashes.map((c) => `overlaps the stay on line ${c.line}`)).toContain(named);
          if (!refusal) {
            accepted.push({ ...r, line });
            taken.push({ ...r, line });
          }
        });
        expect(checked.accepted.map((a) => a.line)).toEqual(accepted.map((a) => a.line));
      }),
      { numRuns: 500 },
    );
  });
});

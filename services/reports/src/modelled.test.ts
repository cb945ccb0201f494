import { describe, expect, it } from 'vitest';
import { modelledSavings } from './modelled.ts';

describe('the modelled what-if (when switched on)', () => {
  it('shows method, inputs and assumptions, and nothing from a suppressed input', () => {
    // 12 long lies are published as 10, as every count of the summary is rounded to 5, and the
    // what-if is worked from the published count (the true one, differenced, would give back a few).
    const m = modelledSavings(12, 60, { extraBedDaysPerLongLie: 1.5, costPerBedDay: 400 });
    expect(m).toMatchObject({ evidence: 'modelled', inputs: { longLies: 10 }, bedDays: 15, cost: 6000 });
    expect(m.method).toMatch(/long lies/);
    expect(m.caveat).toMatch(/not a saving telecare made/);
    expect(modelledSavings(3, 60, { extraBedDaysPerLongLie: 1.5, costPerBedDay: 400 })).toMatchObject({
      bedDays: null,
      cost: null,
    });
  });
});

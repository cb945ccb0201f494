import { describe, expect, it } from 'vitest';
import { modelledSavings } from './modelled.ts';

describe('the modelled what-if (when switched on)', () => {
  it('shows method, inputs and assumptions, and nothing from a suppressed input', () => {
    const m = modelledSavings(12, 60, { extraBedDaysPerLongLie: 1.5, costPerBedDay: 400 });
    expect(m).toMatchObject({ evidence: 'modelled', inputs: { longLies: 12 }, bedDays: 18, cost: 7200 });
    expect(m.method).toMatch(/long lies/);
    expect(m.caveat).toMatch(/not a saving telecare made/);
    expect(modelledSavings(3, 60, { extraBedDaysPerLongLie: 1.5, costPerBedDay: 400 })).toMatchObject({
      bedDays: null,
      cost: null,
    });
  });
});

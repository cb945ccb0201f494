import { describe, expect, it } from 'vitest';

// The benchmark's own check, at a size that runs in a second: on the stateless set both engines
// must raise the same alerts, or the ratio it prints compares different work.
process.env.BENCH_EVENTS = '4000';
process.env.BENCH_ROUNDS = '1';
const { default: benchmark } = await import('./rules.ts');

describe('pnpm bench rules', () => {
  it('runs, with both engines raising the same alerts on the stateless triggers', async () => {
    const lines: string[] = [];
    const figures = await benchmark.run((line) => lines.push(line));
    expect(lines.find((line) => line.startsWith('stateless triggers'))).toMatch(/\(\d+ alerts from both\)/);
    expect(Number(figures.full_alerts)).toBeGreaterThan(0);
  });
});

import { seededRandom } from '../random.ts';

export type Random = () => number;

/** FNV-1a of the parts: one independent, replayable stream per (seed, day, purpose). */
export function streamOf(seed: number, ...parts: Array<string | number>): Random {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const part of parts) {
    const text = `\u001f${String(part)}`;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return seededRandom(h);
}

export const uniform = (r: Random, lo: number, hi: number): number => lo + (hi - lo) * r();

/** A normal draw (Box–Muller), clamped to ± 3 sd so a person never gets up at midnight. */
export function normal(r: Random, mean: number, sd: number): number {
  const u = Math.max(r(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  return mean + sd * Math.max(-3, Math.min(3, z));
}

/** A Poisson count (Knuth): trips out of bed in a night. */
export function poisson(r: Random, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = r();
  while (p > limit) {
    k++;
    p *= r();
  }
  return k;
}

import { describe, expect, it } from 'vitest';
import { LanePool, laneOf } from './ingest.ts';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('LanePool', () => {
  it('runs one lane in order and different lanes side by side, never over the limit', async () => {
    const pool = new LanePool(3);
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string, ms: number) => async () => {
      running += 1;
      most = Math.max(most, running);
      log.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      log.push(`end ${name}`);
      running -= 1;
    };
    await pool.submit('res_a', task('a1', 20));
    await pool.submit('res_a', task('a2', 1));
    await pool.submit('res_b', task('b1', 1));
    await pool.submit('res_c', task('c1', 1));
    await pool.submit('res_d', task('d1', 1));
    await pool.idle();
    // a2 waits for a1 even though it is quicker; b1 does not wait for a1.
    expect(log.indexOf('start a2')).toBeGreaterThan(log.indexOf('end a1'));
    expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
    expect(most).toBeLessThanOrEqual(3);
    expect(log.filter((l) => l.startsWith('end'))).toHaveLength(5);
    expect(pool.inFlight).toBe(0);
  });

  it('keeps going after a task fails', async () => {
    const pool = new LanePool(1);
    const done: string[] = [];
    await pool.submit('x', async () => {
      await tick();
      throw new Error('boom');
    });
    await pool.submit('x', async () => {
      done.push('second');
    });
    await pool.idle();
    expect(done).toEqual(['second']);
  });

  it('takes the resident id from the alert subject', () => {
    expect(laneOf('telecare.alerts.p1.res_abc')).toBe('res_abc');
  });
});

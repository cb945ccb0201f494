import { describe, expect, it } from 'vitest';
import { KeyedLock, LanePool } from './keyed.ts';

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
});

describe('KeyedLock', () => {
  it('runs one key at a time in call order, other keys alongside', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name}:start`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      log.push(`${name}:end`);
      return name;
    };
    const results = await Promise.all([
      lock.run('a', step('a1', 20)),
      lock.run('a', step('a2', 1)),
      lock.run('b', step('b1', 1)),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('a1:end')).toBeLessThan(log.indexOf('a2:start'));
    expect(log.indexOf('b1:end')).toBeLessThan(log.indexOf('a1:end'));
    await lock.idle();
  });
});

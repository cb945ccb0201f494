import { names } from '@telecare/contracts';
import {
  attemptAll,
  createLogger,
  createPool,
  forgetAttempt,
  PersonLimit,
  type Pool,
} from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELPLINE_MIGRATIONS, upgradeSchema } from '../src/index.ts';

/**
 * The per-person limits on the real PostgreSQL: a sliding window of distinct keys per person, kept
 * in the helpline's schema, so two instances (two pools here) share one count.
 */
const ns = uniqueNamespace('plimits');
const schema = names(ns).schema('helpline');
const logger = createLogger('plimits-test', 'silent');
let pools: Pool[] = [];

beforeAll(async () => {
  await upgradeSchema({ url: servers.databaseUrl, schema, dir: HELPLINE_MIGRATIONS, logger });
  pools = [0, 1].map((i) => createPool({ url: servers.databaseUrl, logger, name: `plimits-${i}`, max: 12 }));
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await cleanupNamespace(ns);
});

const pool = (i: number) => pools[i % pools.length] as Pool;

describe('PersonLimit', () => {
  it('counts distinct keys per person in a sliding window; a key counted again is free', async () => {
    let now = 1_000_000;
    const limit = new PersonLimit(pool(0), schema, 'window', 2, 1000, () => now);
    expect((await limit.attempt('a', 'res_1')).allowed).toBe(true);
    now += 100;
    expect((await limit.attempt('a', 'res_2')).allowed).toBe(true);
    expect(await limit.attempt('a', 'res_1')).toEqual({ allowed: true, remaining: 0 });
    expect(await limit.attempt('a', 'res_3')).toEqual({ allowed: false, retryAfterS: 1, firstRefusal: true });
    expect(await limit.attempt('a', 'res_4')).toMatchObject({ allowed: false, firstRefusal: false });
    expect((await limit.attempt('b', 'res_3')).allowed).toBe(true);
    // res_1 leaves the window: one place again, and the next refusal starts a new run.
    now += 900;
    expect((await limit.attempt('a', 'res_3')).allowed).toBe(true);
    expect(await limit.attempt('a', 'res_4')).toMatchObject({ allowed: false, firstRefusal: true });
  });

  it('holds across instances and a restart: a new limiter on another pool sees the count', async () => {
    const now = 5_000_000;
    const first = new PersonLimit(pool(0), schema, 'shared', 2, 60_000, () => now);
    expect((await first.attempt('a', 'res_1')).allowed).toBe(true);
    expect((await first.attempt('a', 'res_2')).allowed).toBe(true);
    const other = new PersonLimit(pool(1), schema, 'shared', 2, 60_000, () => now);
    expect(await other.attempt('a', 'res_3')).toEqual({
      allowed: false,
      retryAfterS: 60,
      firstRefusal: true,
    });
    expect((await other.attempt('a', 'res_2')).allowed).toBe(true);
    // Another limit's rows are its own.
    const another = new PersonLimit(pool(1), schema, 'other-kind', 2, 60_000, () => now);
    expect((await another.attempt('a', 'res_3')).allowed).toBe(true);
  });

  it('lets exactly max through when attempts at the limit race on two pools', async () => {
    const now = 9_000_000;
    const limits = [0, 1].map((i) => new PersonLimit(pool(i), schema, 'race', 5, 60_000, () => now));
    const decisions = await Promise.all(
      Array.from({ length: 24 }, (_, i) => (limits[i % 2] as PersonLimit).attempt('racer', `res_${i}`)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions.filter((d) => !d.allowed && d.firstRefusal)).toHaveLength(1);
  });

  it('counts a key under several limits only when every one allows it', async () => {
    const now = 30_000_000;
    const user = new PersonLimit(pool(0), schema, 'together-user', 2, 60_000, () => now);
    const address = new PersonLimit(pool(0), schema, 'together-address', 3, 60_000, () => now);
    const parts = (name: string) => [
      { limit: user, person: name },
      { limit: address, person: '10.0.0.1' },
    ];
    expect(await attemptAll(parts('ann'), 'k1')).toEqual({ allowed: true, remaining: 1 });
    expect(await attemptAll(parts('ann'), 'k2')).toEqual({ allowed: true, remaining: 0 });
    // The user refuses: the address does not count it.
    expect(await attemptAll(parts('ann'), 'k3')).toEqual({
      allowed: false,
      retryAfterS: 60,
      firstRefusal: true,
    });
    expect(await attemptAll(parts('bob'), 'k4')).toEqual({ allowed: true, remaining: 0 });
    // The address refuses: bob's own count is untouched, so a forgotten address lets him try once more.
    expect(await attemptAll(parts('bob'), 'k5')).toMatchObject({ allowed: false, firstRefusal: true });
    await forgetAttempt([{ limit: address, person: '10.0.0.1' }], 'k4');
    expect(await attemptAll(parts('bob'), 'k6')).toEqual({ allowed: true, remaining: 0 });
    // A person forgotten whole starts again from nothing, and so does their run of refusals.
    await forgetAttempt([{ limit: user, person: 'ann', whole: true }], 'k2');
    expect(await user.attempt('ann', 'k7')).toEqual({ allowed: true, remaining: 1 });
  });

  it('lets exactly max through when attempts under two limits race on two pools', async () => {
    const now = 40_000_000;
    const limits = [0, 1].map((i) => ({
      user: new PersonLimit(pool(i), schema, 'race-user', 5, 60_000, () => now),
      address: new PersonLimit(pool(i), schema, 'race-address', 100, 60_000, () => now),
    }));
    const decisions = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const l = limits[i % 2] as (typeof limits)[number];
        return attemptAll(
          [
            { limit: l.address, person: '10.0.0.2' },
            { limit: l.user, person: 'guessed' },
          ],
          `guess_${i}`,
        );
      }),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    const { rows } = await pool(0).query(
      `select hits from "${schema}".person_limits where kind = 'race-address' and person_id = '10.0.0.2'`,
    );
    expect(Object.keys(rows[0].hits)).toHaveLength(5);
  });

  it('sweeps the rows of people who have not tried for a window', async () => {
    let now = 20_000_000;
    const limit = new PersonLimit(pool(0), schema, 'sweep', 1, 1000, () => now);
    await limit.attempt('gone', 'res_1');
    const count = async () =>
      Number(
        (await pool(0).query(`select count(*) as n from "${schema}".person_limits where kind = 'sweep'`))
          .rows[0].n,
      );
    expect(await count()).toBe(1);
    now += 1000;
    await limit.attempt('here', 'res_1');
    expect(await count()).toBe(1);
  });
});

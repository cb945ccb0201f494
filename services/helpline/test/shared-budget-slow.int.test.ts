import { Counter, createLogger, createMetrics, createPool, type Logger, type Pool } from '@telecare/platform';
import { servers, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELPLINE_MIGRATIONS } from '../src/index.ts';
import { type BudgetStore, SharedBudget } from '../src/request-budget.ts';
import { upgradeSchema } from '../src/schema-upgrade.ts';

/**
 * The shared read and write budgets when PostgreSQL answers, but late: a count it has not answered
 * in time is counted in the instance's memory and never in PostgreSQL too (not when a row lock held
 * it, not when it waited for a connection of the pool), one that answers in time is counted in
 * PostgreSQL alone, and a window is one window on PostgreSQL's clock whatever the instances' clocks.
 */
const MAX = 5;
const TIMEOUT_MS = 250;
const schema = uniqueNamespace('budgetslow').replace(/[^a-z0-9_]/gi, '_');
const logger = createLogger('budget-slow-test', 'silent');
const fallbacks = new Counter({
  name: 'helpline_request_budget_fallbacks_total',
  help: 'test',
  labelNames: ['budget'],
  registers: [createMetrics('budget-slow-test')],
});
/** The pool the budgets count on, and one the test holds locks and reads rows with. */
let pool: Pool;
let admin: Pool;
const store = (over: Partial<BudgetStore> = {}): BudgetStore => ({
  pool,
  schema,
  logger,
  fallbacks,
  timeoutMs: TIMEOUT_MS,
  retryMs: 100,
  ...over,
});

beforeAll(async () => {
  await upgradeSchema({ url: servers.databaseUrl, schema, dir: HELPLINE_MIGRATIONS, logger });
  pool = createPool({ url: servers.databaseUrl, logger, name: 'budget-slow-test', max: 4 });
  admin = createPool({ url: servers.databaseUrl, logger, name: 'budget-slow-admin', max: 4 });
}, 60_000);

afterAll(async () => {
  await admin?.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
  await pool?.end().catch(() => undefined);
  await admin?.end().catch(() => undefined);
});

const fellBack = async () =>
  (await fallbacks.get()).values.find((v) => v.labels.budget === 'reads')?.value ?? 0;

/** The person's row as PostgreSQL holds it. */
const counted = async (person: string) =>
  (
    await admin.query<{ counted: number }>(
      `select counted from "${schema}".request_budgets where kind = 'reads' and person_id = $1`,
      [person],
    )
  ).rows[0]?.counted;

/** Until no statement of the budgets' pool is running: a count that was to land has landed. */
const settled = () =>
  waitFor(
    async () =>
      (
        await admin.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
            where application_name = 'budget-slow-test' and state <> 'idle'`,
        )
      ).rows[0]?.n === 0,
    { timeoutMs: 30_000, intervalMs: 50, what: "the budgets' statements to end" },
  );

/** Holds `person`'s row locked in a transaction of its own until `release` is called. */
const lockRow = async (person: string) => {
  const client = await admin.connect();
  await client.query('begin');
  await client.query(
    `select 1 from "${schema}".request_budgets where kind = 'reads' and person_id = $1 for update`,
    [person],
  );
  return async () => {
    await client.query('commit');
    client.release();
  };
};

/** Until the budget's retry is due and it counts in PostgreSQL again. */
const backInPostgres = (budget: SharedBudget, person: string) =>
  waitFor(
    async () => {
      const before = await fellBack();
      const decision = await budget.take(person);
      return (await fellBack()) === before && decision;
    },
    { timeoutMs: 30_000, intervalMs: 150, what: 'the budget to count in PostgreSQL again' },
  );

/** What a supervisor reads in the log: every line, with all its fields. */
const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
const capturing = {
  warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', msg, fields }),
  info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'info', msg, fields }),
} as unknown as Logger;

describe('a shared budget whose PostgreSQL answers late', () => {
  it('counts a request whose count was held by a row lock once, in memory, never when the lock goes', async () => {
    const budget = new SharedBudget('reads', MAX, 60_000, () => Date.now(), store({ logger: capturing }));
    expect(await budget.take('usr_locked')).toEqual({ allowed: true, remaining: MAX - 1 });
    const unlock = await lockRow('usr_locked');
    const before = await fellBack();
    const started = performance.now();
    expect(await budget.take('usr_locked')).toMatchObject({ allowed: true });
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 2_000);
    expect(await fellBack()).toBe(before + 1);
    await unlock();
    await settled();
    // The request counted in memory did not land in PostgreSQL once the lock went.
    expect(await counted('usr_locked')).toBe(1);
    // Recovered: counted in PostgreSQL again, from the one request it holds.
    expect(await backInPostgres(budget, 'usr_locked')).toEqual({ allowed: true, remaining: MAX - 2 });
    expect(await counted('usr_locked')).toBe(2);
    // The log says which budget, why, and how many requests were counted apart; never whose.
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: 'shared request budget not answering: counting at this instance',
        fields: {
          budget: 'reads',
          // PostgreSQL's cancel, or on a machine too busy to hand a connection in time, the wait's end.
          err: expect.stringMatching(/^canceling statement due to statement timeout$|^no answer in/),
          timeoutMs: TIMEOUT_MS,
          retryMs: 100,
        },
      },
      {
        level: 'info',
        msg: 'shared request budget answering again',
        // The one request above, and any the polling made before the retry was due.
        fields: { budget: 'reads', countedHere: (await fellBack()) - before },
      },
    ]);
    expect(JSON.stringify(lines)).not.toContain('usr_locked');
  }, 60_000);

  it('counts a request whose count waited for a connection once, in memory, never when one is free', async () => {
    const small = createPool({ url: servers.databaseUrl, logger, name: 'budget-slow-test', max: 1 });
    try {
      const budget = new SharedBudget('reads', MAX, 60_000, () => Date.now(), store({ pool: small }));
      expect(await budget.take('usr_queued')).toEqual({ allowed: true, remaining: MAX - 1 });
      const held = await small.connect();
      const before = await fellBack();
      expect(await budget.take('usr_queued')).toMatchObject({ allowed: true });
      expect(await fellBack()).toBe(before + 1);
      held.release();
      // The pool hands its one connection out in turn: past this, a count waiting for it has run.
      await small.query('select 1');
      expect(await counted('usr_queued')).toBe(1);
      expect(await backInPostgres(budget, 'usr_queued')).toEqual({ allowed: true, remaining: MAX - 2 });
    } finally {
      await small.end();
    }
  }, 60_000);

  it('counts a request whose count answered late but in time in PostgreSQL alone', async () => {
    const budget = new SharedBudget('reads', MAX, 60_000, () => Date.now(), store({ timeoutMs: 5_000 }));
    expect(await budget.take('usr_late')).toEqual({ allowed: true, remaining: MAX - 1 });
    const unlock = await lockRow('usr_late');
    const before = await fellBack();
    const taking = budget.take('usr_late');
    await waitFor(
      async () =>
        (
          await admin.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
              where application_name = 'budget-slow-test' and wait_event_type = 'Lock'`,
          )
        ).rows[0]?.n === 1,
      { timeoutMs: 10_000, intervalMs: 20, what: 'the count to wait for the lock' },
    );
    await unlock();
    expect(await taking).toEqual({ allowed: true, remaining: MAX - 2 });
    expect(await fellBack()).toBe(before);
    expect(await counted('usr_late')).toBe(2);
  }, 60_000);
});

describe('a shared budget counting an id with quotes in it', () => {
  it('counts it as the one id it is', async () => {
    const budget = new SharedBudget('reads', MAX, 60_000, () => Date.now(), store());
    const odd = "usr_o'brien\\'); drop table request_budgets; --";
    expect(await budget.take(odd)).toEqual({ allowed: true, remaining: MAX - 1 });
    expect(await budget.take(odd)).toEqual({ allowed: true, remaining: MAX - 2 });
    expect(await counted(odd)).toBe(2);
  });
});

describe("a shared budget's fallbacks on /metrics", () => {
  it('are there at 0 from the start, so the first one shows as an increase', async () => {
    const fresh = new Counter({
      name: 'helpline_request_budget_fallbacks_total',
      help: 'test',
      labelNames: ['budget'],
      registers: [createMetrics('budget-slow-fresh')],
    });
    new SharedBudget('writes', MAX, 60_000, () => Date.now(), store({ fallbacks: fresh }));
    expect((await fresh.get()).values).toEqual([{ labels: { budget: 'writes' }, value: 0 }]);
  });
});

describe('a shared budget counted by instances whose clocks are apart', () => {
  it("keeps one window on PostgreSQL's clock: refused past the one budget, Retry-After its end", async () => {
    const ahead = (ms: number) => () => Date.now() + ms;
    const instances = [
      new SharedBudget('reads', MAX, 60_000, ahead(0), store()),
      new SharedBudget('reads', MAX, 60_000, ahead(61_000), store()),
      new SharedBudget('reads', MAX, 60_000, ahead(-45_000), store()),
    ];
    const decisions = [];
    for (let i = 0; i < MAX + 3; i++)
      decisions.push(await (instances[i % instances.length] as SharedBudget).take('usr_clocks'));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    for (const d of decisions.slice(MAX)) {
      if (d.allowed) throw new Error('allowed past the budget');
      expect(d.retryAfterS).toBeGreaterThan(50);
      expect(d.retryAfterS).toBeLessThanOrEqual(60);
    }
    expect(decisions.slice(MAX).map((d) => !d.allowed && d.firstRefusal)).toEqual([true, false, false]);
  }, 60_000);
});

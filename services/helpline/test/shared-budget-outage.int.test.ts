import { Counter, createMetrics, createPool, type Logger, type Pool } from '@telecare/platform';
import { OwnPostgres, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELPLINE_MIGRATIONS } from '../src/index.ts';
import { type BudgetStore, SharedBudget } from '../src/request-budget.ts';
import { upgradeSchema } from '../src/schema-upgrade.ts';

/**
 * The shared read and write budgets while their PostgreSQL is down: every request is still
 * answered, within the count's timeout, counted in the instance's memory (logged once, counted in
 * `helpline_request_budget_fallbacks_total`), and counted for every instance again once the
 * database is back.
 */
const MAX = 5;
const TIMEOUT_MS = 500;
const RETRY_MS = 1_000;
let server: OwnPostgres;
let pool: Pool;
const lines: { level: string; msg: string; budget?: unknown }[] = [];
const logger = {
  warn: (o: { budget?: unknown }, msg: string) => lines.push({ level: 'warn', msg, budget: o.budget }),
  info: (o: { budget?: unknown }, msg: string) => lines.push({ level: 'info', msg, budget: o.budget }),
} as unknown as Logger;
const fallbacks = new Counter({
  name: 'helpline_request_budget_fallbacks_total',
  help: 'test',
  labelNames: ['budget'],
  registers: [createMetrics('budget-outage-test')],
});
let store: BudgetStore;

beforeAll(async () => {
  server = await OwnPostgres.start();
  const schema = uniqueNamespace('budgetoutage').replace(/[^a-z0-9_]/gi, '_');
  await upgradeSchema({ url: server.url, schema, dir: HELPLINE_MIGRATIONS, logger: silent() });
  pool = createPool({ url: server.url, logger: silent(), name: 'budget-outage-test', max: 4 });
  store = { pool, schema, logger, fallbacks, timeoutMs: TIMEOUT_MS, retryMs: RETRY_MS };
}, 120_000);

afterAll(async () => {
  await pool?.end().catch(() => undefined);
  server?.destroy();
});

function silent(): Logger {
  const nothing = () => undefined;
  const l = { warn: nothing, info: nothing, debug: nothing, error: nothing, child: () => l };
  return l as unknown as Logger;
}

const fellBack = async () =>
  (await fallbacks.get()).values.find((v) => v.labels.budget === 'reads')?.value ?? 0;

/** `person`'s requests, alternating between the two instances' budgets; the decisions. */
const spend = async (instances: SharedBudget[], person: string, n: number) => {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await (instances[i % instances.length] as SharedBudget).take(person));
  return out;
};

describe('the shared budgets with their PostgreSQL down', () => {
  it('count in memory while it is down, logged once and counted, and for every instance again once it is back', async () => {
    const now = () => Date.now();
    const a = new SharedBudget('reads', MAX, 60_000, now, store);
    const b = new SharedBudget('reads', MAX, 60_000, now, store);

    // Up: the two instances count one budget.
    const shared = await spend([a, b], 'usr_up', MAX + 2);
    expect(shared.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(shared.slice(MAX)).toMatchObject([{ firstRefusal: true }, { firstRefusal: false }]);
    expect(await fellBack()).toBe(0);

    await server.crash();
    // Down: each request is answered within the count's timeout, by the instance's own count.
    const started = performance.now();
    const first = await a.take('usr_down');
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 1_000);
    expect(first).toEqual({ allowed: true, remaining: MAX - 1 });
    const rest = await spend([a], 'usr_down', MAX + 1);
    expect(rest.map((d) => d.allowed)).toEqual([true, true, true, true, false, false]);
    expect(rest.slice(MAX - 1)).toMatchObject([{ firstRefusal: true }, { firstRefusal: false }]);
    expect(await fellBack()).toBe(MAX + 2);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        msg: 'shared request budget not answering: counting at this instance',
        budget: 'reads',
      },
    ]);

    server.start();
    // Back: once the retry is due, the count is PostgreSQL's again, one for both instances (the
    // table is unlogged: a crash emptied it, and every budget starts again).
    await waitFor(
      async () => {
        await a.take('usr_probe');
        return lines.some((l) => l.msg === 'shared request budget answering again');
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the shared budget to answer again' },
    );
    await waitFor(
      async () => {
        const before = await fellBack();
        await b.take('usr_probe_b');
        return (await fellBack()) === before;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the second instance to count in PostgreSQL again' },
    );
    const again = await spend([a, b], 'usr_back', MAX + 1);
    expect(again.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
  }, 120_000);
});

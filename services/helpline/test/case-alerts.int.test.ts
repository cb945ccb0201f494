import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Alert, alertIdFor, names } from '@telecare/contracts';
import { createLogger, migrate } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleStore } from '../src/presence.ts';
import { CaseStore } from '../src/store/index.ts';

// A stuck sensor, or a device whose credentials an attacker holds, can feed one resident's case
// alert after alert, and the helpline's intake is shared: every resident's alarms wait behind those
// joins. A join, a repeat press and a note must cost the same whatever the case's size. Counted
// here as the bytes that cross the wire to and from PostgreSQL (the statements' parameters and the
// rows they return) for the change and for the read of the changed case the live feed makes.

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const logger = createLogger('casealerts-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ns = uniqueNamespace('casealerts');
const schema = names(ns).schema('helpline');
const residentId = `res_joincost${Date.now().toString(36)}`;
const t0 = Date.now() - 3_600_000;
const actor = { id: 'usr_joincost', override: true };
let pool: pg.Pool;
let store: CaseStore;
let bytes = 0;
let counter = 0;

const sizeOf = (value: unknown): number =>
  value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value));

/** Counts what every statement sends (its parameters) and receives (its rows). */
function counting(p: pg.Pool): void {
  p.on('connect', (client) => {
    const query = client.query.bind(client) as (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
    const counted = (...args: unknown[]) => {
      const callback =
        typeof args.at(-1) === 'function' ? (args.pop() as (e: unknown, r?: unknown) => void) : undefined;
      const [text, values] = args as [string, unknown[] | undefined];
      bytes += sizeOf(values);
      const result = query(text, values).then((r) => {
        bytes += sizeOf(r.rows);
        return r;
      });
      if (!callback) return result;
      result.then(
        (r) => callback(null, r),
        (err: unknown) => callback(err),
      );
      return undefined;
    };
    client.query = counted as typeof client.query;
  });
}

function alert(i: number, overrides: Partial<Alert> = {}): Alert {
  counter += 1;
  const type = overrides.type ?? 'mains.lost';
  const evidence = [`evt_${ns}_${counter}`];
  return {
    id: alertIdFor(`rule.${type}`, residentId, evidence.join(',')),
    residentId,
    priority: 3,
    type,
    raisedAt: new Date(t0 + i * 1000).toISOString(),
    rule: { id: `rule.${type}`, version: 1 },
    evidence,
    thresholds: { volts: 0 },
    reason: `${type} at home`,
    late: false,
    testMode: false,
    deviceSerial: 'HUB-0001',
    ...overrides,
  };
}

let opener: Alert;
let caseId: string;
let joined = 0;

/** Joins alerts until the case holds `size` of them. */
async function growTo(size: number): Promise<void> {
  while (joined + 1 < size) {
    joined += 1;
    await store.ingest(alert(joined), new Date(t0 + joined * 1000));
  }
}

/** What one join, one repeat press and one note cost, each with the feed's read of the case. */
async function costsAt(size: number) {
  await growTo(size);
  const at = new Date(t0 + (joined + 1) * 1000);
  const measure = async (change: () => Promise<unknown>) => {
    bytes = 0;
    await change();
    await store.get(caseId);
    return bytes;
  };
  joined += 1;
  const join = await measure(() => store.ingest(alert(joined), at));
  joined += 1;
  const repeat = await measure(() =>
    store.ingest(
      alert(joined, { type: 'pendant.pressed', priority: 1, repeats: { alertId: opener.id } }),
      at,
    ),
  );
  const note = await measure(() => store.record(caseId, 'note', { text: 'called the home' }, actor, at));
  return { join, repeat, note };
}

beforeAll(async () => {
  await migrate({ url: servers.databaseUrl, schema, dir: MIGRATIONS, logger });
  pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 2 });
  counting(pool);
  store = new CaseStore(pool, schema, 3600, new ConsoleStore(pool, schema, 15));
  opener = alert(0, { type: 'pendant.pressed', priority: 1 });
  const opened = await store.ingest(opener, new Date(t0));
  caseId = opened.caseId;
});

afterAll(async () => {
  await pool?.end();
  await cleanupNamespace(ns);
  await cleanupNamespace(oldNs);
});

describe('the cost of a change to a case', () => {
  // Both past the window's 19 alerts, which every change reads and sends.
  it('is the same at 50 alerts and at 600', async () => {
    const small = await costsAt(50);
    const large = await costsAt(600);
    const c = await store.get(caseId);
    expect(c?.case.alertCount).toBe(joined + 1);
    expect(c?.case.presses).toBe(3);
    // The alert ids grow by a digit or two; every alert again would be a hundred times as much.
    expect(large.join).toBeLessThan(small.join * 1.2);
    expect(large.repeat).toBeLessThan(small.repeat * 1.2);
    expect(large.note).toBeLessThan(small.note * 1.2);
  });
});

/** Stores alerts for a resident of their own, one case; their ids in the order they came. */
async function stormOf(
  resident: string,
  size: number,
  priorityAt: (i: number) => Partial<Alert> = () => ({}),
) {
  const ids: string[] = [];
  let id = '';
  for (let i = 0; i < size; i++) {
    const a = alert(i, { residentId: resident, ...priorityAt(i) });
    id = (await store.ingest(a, new Date(t0 + i * 1000))).caseId;
    ids.push(a.id);
  }
  return { caseId: id, ids };
}

/** Every alert id of a case, page by page, newest first. */
async function everyPage(id: string, limit: number) {
  const seen: string[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await store.alertPage(id, before, limit);
    if (!page) throw new Error(`no case ${id}`);
    seen.push(...page.alerts.map((b) => b.alertId));
    if (page.next === null) return { seen, total: page.total };
    before = page.next;
  }
}

describe("a case's alerts", () => {
  it('shows the first, the most urgent and the latest, in the order they came, and pages through all', async () => {
    const { caseId: id, ids } = await stormOf(`res_window${Date.now().toString(36)}`, 300, (i) =>
      i === 100
        ? { type: 'fall.detected', priority: 1 }
        : i === 200
          ? { type: 'flood.detected', priority: 2 }
          : {},
    );
    const c = (await store.get(id))?.case;
    expect(c?.alertCount).toBe(300);
    expect(c?.priority).toBe(1);
    // The first; the most urgent of those between (the fall, the flood, then the latest P3s); the latest 12.
    const expected = [0, 100, 200, 284, 285, 286, 287, ...Array.from({ length: 12 }, (_, i) => 288 + i)];
    expect(c?.alertIds).toEqual(expected.map((i) => ids[i]));
    expect(c?.because.map((b) => b.alertId)).toEqual(c?.alertIds);
    expect(c?.deviceSerials).toEqual(['HUB-0001']);

    const paged = await everyPage(id, 100);
    expect(paged.total).toBe(300);
    expect(paged.seen).toEqual([...ids].reverse());
    expect((await store.alertPage(id, 9999, 10))?.alerts[0]?.alertId).toBe(ids[299]);
    expect(await store.alertPage('case_none', undefined, 10)).toBeUndefined();
    // The list still gives every alert, in the order they came.
    const listed = (await store.list('open', 500, 'every')).find((l) => l.id === id);
    expect(listed?.alertIds).toEqual(ids);
  });
});

const oldNs = uniqueNamespace('casealertsold');

describe('the migration to alerts by place', () => {
  it('gives the alerts already stored their places, and their cases the counts', async () => {
    // A schema as the helpline left it before: migrations up to 012, cases written by hand as it wrote them.
    const oldSchema = names(oldNs).schema('helpline');
    const before = mkdtempSync(join(tmpdir(), 'helpline-migrations-'));
    try {
      for (const file of readdirSync(MIGRATIONS).filter((f) => f < '013'))
        copyFileSync(join(MIGRATIONS, file), join(before, file));
      await migrate({ url: servers.databaseUrl, schema: oldSchema, dir: before, logger });
    } finally {
      rmSync(before, { recursive: true, force: true });
    }
    const resident = `res_migrated${Date.now().toString(36)}`;
    const first = alert(0, { residentId: resident, type: 'pendant.pressed', priority: 1 });
    const stored: Alert[] = [first];
    for (let i = 1; i < 40; i++)
      stored.push(
        alert(i, {
          residentId: resident,
          ...(i === 5 ? { type: 'pendant.pressed', priority: 1, repeats: { alertId: first.id } } : {}),
          ...(i === 7 ? { deviceSerial: 'PEN-0002' } : {}),
        }),
      );
    const q = `"${oldSchema}"`;
    await pool.query(
      `insert into ${q}.cases (id, resident_id, priority, type, state, raised_at, last_alert_at, created_at, updated_at)
       values ('case_migrated', $1, 1, 'pendant.pressed', 'queued', $2, $2, $2, $2)`,
      [resident, new Date(t0)],
    );
    for (const [i, a] of stored.entries())
      await pool.query(
        `insert into ${q}.case_alerts (alert_id, case_id, alert, received_at) values ($1, 'case_migrated', $2, $3)`,
        [a.id, JSON.stringify(a), new Date(t0 + i * 1000)],
      );

    await migrate({ url: servers.databaseUrl, schema: oldSchema, dir: MIGRATIONS, logger });
    const migrated = new CaseStore(pool, oldSchema, 3600, new ConsoleStore(pool, oldSchema, 15));
    const c = (await migrated.get('case_migrated'))?.case;
    expect(c).toMatchObject({
      alertCount: 40,
      presses: 2,
      lastPressAt: new Date(t0 + 5000).toISOString(),
      deviceSerials: ['HUB-0001', 'PEN-0002'],
    });
    // The window as before: the first, the repeat press and the latest P3s between, the latest 12.
    expect(c?.alertIds).toEqual(
      [0, 5, ...Array.from({ length: 17 }, (_, i) => 23 + i)].map((i) => stored[i]?.id),
    );
    const page = await migrated.alertPage('case_migrated', undefined, 500);
    expect(page?.alerts.map((b) => b.alertId)).toEqual(stored.map((a) => a.id).reverse());

    // The next alert takes the next place, and the next press is counted after those already there.
    const next = alert(40, { residentId: resident, type: 'pendant.pressed', priority: 1 });
    await migrated.ingest(next, new Date(t0 + 40_000));
    const after = (await migrated.get('case_migrated'))?.case;
    expect(after).toMatchObject({ alertCount: 41, presses: 3 });
    expect(after?.alertIds.at(-1)).toBe(next.id);
  });
});

import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Alert, alertIdFor, names } from '@telecare/contracts';
import { createLogger, migrate } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raisersOf } from '../src/core/transitions.ts';
import { ConsoleStore } from '../src/presence.ts';
import { upgradeSchema } from '../src/schema-upgrade.ts';
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

/**
 * What one join, one repeat press, one note, one restore and one cancel cost, each with the feed's
 * read of the case. The restore closes the join, the cancel the repeat press: neither resolves a
 * case with other alerts still open, but both have to know whether any are.
 */
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
  const lost = alert(joined);
  const join = await measure(() => store.ingest(lost, at));
  joined += 1;
  const pressed = alert(joined, { type: 'pendant.pressed', priority: 1, repeats: { alertId: opener.id } });
  const repeat = await measure(() => store.ingest(pressed, at));
  const note = await measure(() => store.record(caseId, 'note', { text: 'called the home' }, actor, at));
  const closing = (type: 'mains.restored' | 'alarm.cancelled', closes: Alert['closes']) =>
    alert(joined, { type, priority: 5, closes });
  const effects: unknown[] = [];
  const closed = async (a: Alert) => {
    const r = await store.ingest(a, at);
    effects.push([r.outcome, ...('events' in r ? r.events.map((e) => e.data.why) : [])]);
  };
  const restore = await measure(() =>
    closed(closing('mains.restored', { alertId: lost.id, outcome: 'restored' })),
  );
  const cancel = await measure(() =>
    closed(closing('alarm.cancelled', { alertId: pressed.id, outcome: 'false-alarm' })),
  );
  expect(effects).toEqual([
    ['closing', 'other-alerts-open'],
    ['closing', 'other-alerts-open'],
  ]);
  return { join, repeat, note, restore, cancel };
}

beforeAll(async () => {
  await upgradeSchema({ url: servers.databaseUrl, schema, dir: MIGRATIONS, logger });
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
  await cleanupNamespace(unclosedNs);
});

describe('the cost of a change to a case', () => {
  // Both past the window's 19 alerts, which every change reads and sends. The case grows by a join
  // at a time, as intake stores them: seconds on a quiet machine, many times that on a busy one.
  it('is the same at 50 alerts and at 250', async () => {
    const small = await costsAt(50);
    const large = await costsAt(250);
    const c = await store.get(caseId);
    // Each round's restore and cancel joined the case too.
    expect(c?.case.alertCount).toBe(joined + 1 + 4);
    expect(c?.case.presses).toBe(3);
    // The alert ids grow by a digit; the id of every alert again would already be half as much
    // again (each change costs some 10 kB at 50 alerts), every whole alert many times as much.
    expect(large.join).toBeLessThan(small.join * 1.2);
    expect(large.repeat).toBeLessThan(small.repeat * 1.2);
    expect(large.note).toBeLessThan(small.note * 1.2);
    // A flapping mains supply makes such a case of restores: each reads what its case comes to, not every alert.
    expect(large.restore).toBeLessThan(small.restore * 1.2);
    expect(large.cancel).toBeLessThan(small.cancel * 1.2);
  }, 120_000);
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
    const { caseId: id, ids } = await stormOf(`res_window${Date.now().toString(36)}`, 150, (i) =>
      i === 50
        ? { type: 'fall.detected', priority: 1 }
        : i === 100
          ? { type: 'flood.detected', priority: 2 }
          : {},
    );
    const c = (await store.get(id))?.case;
    expect(c?.alertCount).toBe(150);
    expect(c?.priority).toBe(1);
    // The first; the most urgent of those between (the fall, the flood, then the latest P3s); the latest 12.
    const expected = [0, 50, 100, 134, 135, 136, 137, ...Array.from({ length: 12 }, (_, i) => 138 + i)];
    expect(c?.alertIds).toEqual(expected.map((i) => ids[i]));
    expect(c?.because.map((b) => b.alertId)).toEqual(c?.alertIds);
    expect(c?.deviceSerials).toEqual(['HUB-0001']);

    const paged = await everyPage(id, 50);
    expect(paged.total).toBe(150);
    expect(paged.seen).toEqual([...ids].reverse());
    expect((await store.alertPage(id, 9999, 10))?.alerts[0]?.alertId).toBe(ids[149]);
    expect(await store.alertPage('case_none', undefined, 10)).toBeUndefined();
    // The list gives the same window.
    const listed = (await store.list('open', 500)).find((l) => l.id === id);
    expect(listed?.alertIds).toEqual(c?.alertIds);
    expect(listed?.alertCount).toBe(150);
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

    await upgradeSchema({ url: servers.databaseUrl, schema: oldSchema, dir: MIGRATIONS, logger });
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

const unclosedNs = uniqueNamespace('casealertsraisers');

describe('the migration to raisers counted', () => {
  it('counts the raisers already stored and those an instance not yet upgraded stores, as every alert read again would', async () => {
    // A schema as the helpline left it before: migrations up to 014, alerts stored as it stored them.
    const oldSchema = names(unclosedNs).schema('helpline');
    const before = mkdtempSync(join(tmpdir(), 'helpline-migrations-'));
    try {
      for (const file of readdirSync(MIGRATIONS).filter((f) => f < '015'))
        copyFileSync(join(MIGRATIONS, file), join(before, file));
      await migrate({ url: servers.databaseUrl, schema: oldSchema, dir: before, logger });
    } finally {
      rmSync(before, { recursive: true, force: true });
    }
    const resident = `res_raisers${Date.now().toString(36)}`;
    const at = (i: number) => ({ residentId: resident, raisedAt: new Date(t0 + i * 1000).toISOString() });
    const press = alert(0, { ...at(0), type: 'pendant.pressed', priority: 1 });
    const lost = Array.from({ length: 4 }, (_, i) => alert(i + 1, at(i + 1)));
    const repeat = alert(5, {
      ...at(5),
      type: 'pendant.pressed',
      priority: 1,
      repeats: { alertId: press.id },
    });
    const closing = (i: number, closes: NonNullable<Alert['closes']>) =>
      alert(i, {
        ...at(i),
        type: closes.outcome === 'false-alarm' ? 'alarm.cancelled' : 'mains.restored',
        priority: 5,
        closes,
      });
    const stored: Alert[] = [
      press,
      ...lost,
      repeat,
      closing(6, { alertId: press.id, outcome: 'false-alarm' }),
      closing(7, { alertId: lost[0]?.id ?? '', outcome: 'restored' }),
      // A repeat press after the cancel of its group: closed with it.
      alert(8, { ...at(8), type: 'pendant.pressed', priority: 1, repeats: { alertId: press.id } }),
      closing(9, { alertId: lost[1]?.id ?? '', outcome: 'restored' }),
    ];
    const q = `"${oldSchema}"`;
    await pool.query(
      `insert into ${q}.cases (id, resident_id, priority, type, state, raised_at, last_alert_at, created_at, updated_at)
       values ('case_raisers', $1, 1, 'pendant.pressed', 'queued', $2, $2, $2, $2)`,
      [resident, new Date(t0)],
    );
    const storeByHand = (a: Alert, i: number) =>
      pool.query(
        `insert into ${q}.case_alerts (alert_id, case_id, alert, received_at) values ($1, 'case_raisers', $2, $3)`,
        [a.id, JSON.stringify(a), new Date(t0 + i * 1000)],
      );
    for (const [i, a] of stored.entries()) await storeByHand(a, i);
    const counted = async () =>
      (await pool.query(`select raisers from ${q}.cases where id = 'case_raisers'`)).rows[0]?.raisers;

    await upgradeSchema({ url: servers.databaseUrl, schema: oldSchema, dir: MIGRATIONS, logger });
    expect(await counted()).toEqual(raisersOf(stored));
    expect(raisersOf(stored)).toEqual({
      'pendant.pressed': { open: 0, 'false-alarm': 3, restored: 0 },
      'mains.lost': { open: 2, 'false-alarm': 0, restored: 2 },
    });

    // An instance not yet upgraded stores a restore as it always did: the trigger counts it.
    const third = closing(10, { alertId: lost[2]?.id ?? '', outcome: 'restored' });
    stored.push(third);
    await storeByHand(third, stored.length - 1);
    expect(await counted()).toEqual(raisersOf(stored));

    // The last restore closes the last raiser open: the case resolves, as the cancel's false alarm.
    const migrated = new CaseStore(pool, oldSchema, 3600, new ConsoleStore(pool, oldSchema, 15));
    const last = closing(11, { alertId: lost[3]?.id ?? '', outcome: 'restored' });
    const r = await migrated.ingest(last, new Date(t0 + 11_000));
    expect(r).toMatchObject({ outcome: 'closing', caseId: 'case_raisers', autoResolved: 'false-alarm' });
    expect(await counted()).toEqual(raisersOf([...stored, last]));
    expect((await migrated.get('case_raisers'))?.case).toMatchObject({
      state: 'resolved',
      outcome: 'false-alarm',
    });
  });
});

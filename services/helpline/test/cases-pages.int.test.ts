import { type Alert, createClient, HELPLINE_ROUTES, nextPageOf, type Priority } from '@telecare/contracts';
import { servers } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleStore } from '../src/presence.ts';
import { CaseStore } from '../src/store/index.ts';
import { helplineHarness } from './harness.ts';

// Months of resolved cases outnumber any one read of the list. A supervisor looking back asks for
// every case, newest first, and reads it page by page (the next page named by the answer's `Link`
// header) while alerts go on arriving: no case is skipped or read twice, and the open queue keeps
// its order (priority, then wait).

const CASES = 1_200;
const PAGE = 100;
const stamp = Date.now().toString(36);
/** Months ago, a second apart, three cases to each second (the same raisedAt: the id decides). */
const t0 = Date.now() - 90 * 86_400_000;
const raisedOf = (i: number) => new Date(t0 + Math.floor(i / 3) * 1000);

let h: Awaited<ReturnType<typeof helplineHarness>>;
let pool: pg.Pool;
let store: CaseStore;
let seq = 0;

type Listed = { id: string; residentId: string; priority: number; raisedAt: string; state: string };

/** One case: an alert for a resident of its own. */
async function raise(raisedAt: Date, priority: Priority = 1): Promise<string> {
  seq += 1;
  const a: Alert = h.alert({
    residentId: `res_page${seq}_${stamp}`,
    priority,
    type: priority === 1 ? 'pendant.pressed' : priority === 2 ? 'flood.detected' : 'mains.lost',
    raisedAt: raisedAt.toISOString(),
  });
  return (await store.ingest(a, new Date())).caseId;
}

async function page(path: string) {
  const response = await fetch(`${h.helpline.url}${path}`, {
    headers: { authorization: `Bearer ${h.adminToken}` },
  });
  const body = (await response.json()) as unknown;
  return {
    status: response.status,
    body,
    cases: body as Listed[],
    next: nextPageOf(response.headers.get('link')),
  };
}

/** Every page from `path` on, calling `between` after each page but the last. */
async function readAll(path: string, between: (pageNo: number) => Promise<void> = async () => {}) {
  const pages: Listed[][] = [];
  let next: string | undefined = path;
  while (next) {
    expect(pages.length, 'too many pages').toBeLessThan(CASES / PAGE + 10);
    const p = await page(next);
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(Array.isArray(p.body)).toBe(true);
    pages.push(p.cases);
    next = p.next;
    if (next) await between(pages.length);
  }
  return pages;
}

const newestFirst = (a: Listed, b: Listed) =>
  Date.parse(b.raisedAt) - Date.parse(a.raisedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const queueOrder = (a: Listed, b: Listed) =>
  a.priority - b.priority ||
  Date.parse(a.raisedAt) - Date.parse(b.raisedAt) ||
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const initial = new Set<string>();

beforeAll(async () => {
  h = await helplineHarness('casespages', { TIMER_TICK_MS: '60000' });
  await h.start();
  const schema = h.names.schema('helpline');
  pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 4 });
  store = new CaseStore(pool, schema, 3600, new ConsoleStore(pool, schema, 15));
  for (let i = 0; i < CASES; i += 4) {
    const ids = await Promise.all(
      [i, i + 1, i + 2, i + 3].map((j) => raise(raisedOf(j), ([1, 2, 3] as const)[j % 3])),
    );
    for (const id of ids) initial.add(id);
  }
  expect(initial.size).toBe(CASES);
}, 240_000);

// Closing drops a namespace holding 1,200 cases and their steps: under load, over a minute.
afterAll(async () => {
  await pool?.end();
  await h?.close();
}, 180_000);

describe('GET /api/cases?state=all, page by page', () => {
  it('reads every case once, newest first, while new and late cases arrive between pages', async () => {
    const arrivedNew: string[] = [];
    const arrivedLate: string[] = [];
    const pages = await readAll(`/api/cases?state=all&limit=${PAGE}`, async (n) => {
      // A new alarm (newer than every page read) and a late one, delivered now but raised before
      // every case: the first is on a page already passed, the second on a page still to come.
      arrivedNew.push(await raise(new Date()));
      arrivedLate.push(await raise(new Date(t0 - n * 1000), 2));
    });
    const read = pages.flat();
    for (const p of pages.slice(0, -1)) expect(p).toHaveLength(PAGE);

    const ids = read.map((c) => c.id);
    expect(new Set(ids).size, 'a case read twice').toBe(ids.length);
    for (const id of initial) expect(ids, `${id} skipped`).toContain(id);
    for (const id of arrivedLate) expect(ids, `late ${id} skipped`).toContain(id);
    expect(ids.filter((id) => arrivedNew.includes(id))).toEqual([]);
    expect(read).toEqual([...read].sort(newestFirst));
    expect(ids).toHaveLength(CASES + arrivedLate.length);

    // Read again from the start, the newest come first: last night's cases are on the first page.
    const first = await page('/api/cases?state=all&limit=5');
    expect(first.cases.map((c) => c.id)).toEqual([...arrivedNew].reverse().slice(0, 5));
  });

  it('lists a case resolved last night first, however many older cases there are', async () => {
    // A technical case (P3): in queue order it came after every older P1 and P2, past the limit.
    const id = await raise(new Date(Date.now() - 3_600_000), 3);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', body: {} })).status).toBe(200);
    const resolved = await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'resident fine' },
    });
    expect(resolved.status, JSON.stringify(resolved.json)).toBe(200);
    const listed = await page('/api/cases?state=all');
    expect(listed.cases.length).toBe(500);
    const found = listed.cases.find((c) => c.id === id);
    expect(found?.state).toBe('resolved');
  });

  it('reads the same pages through the typed client, each case parsed by the contract', async () => {
    const raw = await readAll(`/api/cases?state=all&limit=${PAGE}&from=${raisedOf(0).toISOString()}`);
    const api = createClient(HELPLINE_ROUTES, { baseUrl: h.helpline.url, token: h.adminToken });
    const typed: string[][] = [];
    for await (const cases of api.listCases.pages({
      query: { state: 'all', limit: PAGE, from: raisedOf(0).toISOString() },
    }))
      typed.push(cases.map((c) => c.id));
    expect(raw.length).toBeGreaterThan(CASES / PAGE - 1);
    expect(typed).toEqual(raw.map((p) => p.map((c) => c.id)));
  });

  it('filters by raisedAt: from included, to excluded', async () => {
    const from = raisedOf(300);
    const to = raisedOf(600);
    const pages = await readAll(
      `/api/cases?state=all&limit=${PAGE}&from=${from.toISOString()}&to=${to.toISOString()}`,
    );
    const read = pages.flat();
    expect(read).toHaveLength(300);
    for (const c of read) {
      expect(Date.parse(c.raisedAt)).toBeGreaterThanOrEqual(from.getTime());
      expect(Date.parse(c.raisedAt)).toBeLessThan(to.getTime());
    }
    expect(read).toEqual([...read].sort(newestFirst));
  });

  it('refuses a cursor it did not give, or one given for the other state, naming it', async () => {
    for (const cursor of ['not-a-cursor', 'eyJ4IjoxfQ']) {
      const r = await page(`/api/cases?state=all&cursor=${cursor}`);
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toContain('cursor');
    }
    const all = await page('/api/cases?state=all&limit=2');
    const cursor = new URL(all.next ?? '', h.helpline.url).searchParams.get('cursor');
    expect(cursor).toBeTruthy();
    const open = await page(`/api/cases?state=open&cursor=${cursor}`);
    expect(open.status).toBe(400);
    expect(JSON.stringify(open.body)).toContain('cursor');
  });
});

describe('GET /api/cases?state=open, page by page', () => {
  it('keeps queue order (priority, then wait) across pages, every open case once', async () => {
    const pages = await readAll(`/api/cases?state=open&limit=${PAGE * 3}`);
    const read = pages.flat();
    const ids = read.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of initial) expect(ids).toContain(id);
    expect(read).toEqual([...read].sort(queueOrder));
    expect(read[0]?.priority).toBe(1);
    // The default limit still answers the head of the queue, with the next page linked.
    const head = await page('/api/cases');
    expect(head.cases.map((c) => c.id)).toEqual(ids.slice(0, 500));
    expect(head.next).toBeDefined();
  });
});

import type { Alert } from '@telecare/contracts';
import { servers } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_WINDOW_SIZE } from '../src/alert-window.ts';
import { ConsoleStore } from '../src/presence.ts';
import { CaseStore } from '../src/store/index.ts';
import { helplineHarness } from './harness.ts';

// The queue list is read again and again by every console, supervisor screen and wallboard that
// polls it. One resident's storm (a home unit reporting mains loss all night) joins hundreds of
// alerts to one case; the list must carry that case's window of them with its count, as the live
// stream and the case view do, not every alert of every case on every read.

const STORM = 500;
/** The rest of a night shift's queue: one alert each, at every priority an alert is queued at. */
const OTHERS = 59;
const stamp = Date.now().toString(36);
const stormResident = `res_liststorm${stamp}`;
const t0 = Date.now() - 2 * 3_600_000;
const at = (s: number) => new Date(t0 + s * 1000);

let h: Awaited<ReturnType<typeof helplineHarness>>;
let pool: pg.Pool;
let store: CaseStore;
let first: Alert;
let press: Alert;
let last: Alert;
const stormIds: string[] = [];

type Because = { alertId: string; priority: number; reason: string };
type Listed = {
  id: string;
  residentId: string;
  priority: number;
  raisedAt: string;
  alertIds: string[];
  alertCount: number;
  because: Because[];
};

/** `GET /api/cases` as a program polls it: the body as sent, and what it says. */
async function listed(query = '') {
  const started = performance.now();
  const response = await fetch(`${h.helpline.url}/api/cases${query}`, {
    headers: { authorization: `Bearer ${h.adminToken}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    bytes: Buffer.byteLength(text),
    ms: performance.now() - started,
    cases: JSON.parse(text) as Listed[],
  };
}

beforeAll(async () => {
  h = await helplineHarness('caseslist', { TIMER_TICK_MS: '60000', CASE_JOIN_WINDOW_S: '3600' });
  await h.start();
  // The storm is stored as the helpline's intake stores it, alert by alert, without waiting on the
  // stream for each of them.
  const schema = h.names.schema('helpline');
  pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 2 });
  store = new CaseStore(pool, schema, 3600, new ConsoleStore(pool, schema, 15));
  const storm = (i: number, overrides: Partial<Alert> = {}) =>
    h.alert({
      residentId: stormResident,
      priority: 3,
      type: 'mains.lost',
      raisedAt: at(i).toISOString(),
      evidence: [`evt_liststorm_${i}_${stamp}`],
      reason: `Mains power lost at the home unit (report ${i + 1})`,
      deviceSerial: 'HUB-LIST-1',
      ...overrides,
    });
  for (let i = 0; i < STORM; i++) {
    const a =
      i === STORM / 2
        ? storm(i, {
            priority: 1,
            type: 'pendant.pressed',
            evidence: [`evt_listpress_${stamp}`],
            reason: 'Pendant pressed',
            deviceSerial: 'PEN-LIST-1',
          })
        : storm(i);
    if (i === 0) first = a;
    if (i === STORM / 2) press = a;
    last = a;
    stormIds.push(a.id);
    await store.ingest(a, at(i));
  }
  for (let i = 0; i < OTHERS; i++) {
    const priority = ([1, 2, 3, 4] as const)[i % 4];
    const a = h.alert({
      residentId: `res_listother${i}_${stamp}`,
      priority,
      type:
        priority === 1
          ? 'pendant.pressed'
          : priority === 2
            ? 'flood.detected'
            : priority === 3
              ? 'mains.lost'
              : 'battery.low',
      raisedAt: at(60 + i * 7).toISOString(),
    });
    await store.ingest(a, at(60 + i * 7));
  }
}, 180_000);

afterAll(async () => {
  await pool?.end();
  await h?.close();
});

describe('GET /api/cases with one resident in a storm', () => {
  it('lists each case with a window of its alerts and their count, in queue order, and stays small', async () => {
    const list = await listed();
    expect(list.status).toBe(200);
    // A night shift's queue fits the default limit.
    expect(list.cases).toHaveLength(OTHERS + 1);
    for (const c of list.cases) {
      expect(c.because.length, c.id).toBeLessThanOrEqual(ALERT_WINDOW_SIZE);
      expect(c.alertIds, c.id).toEqual(c.because.map((b) => b.alertId));
    }

    const storm = list.cases.find((c) => c.residentId === stormResident);
    expect(storm?.alertCount).toBe(STORM);
    expect(storm?.priority).toBe(1);
    expect(storm?.alertIds).toHaveLength(ALERT_WINDOW_SIZE);
    // The queue card's reason, the press in the middle of the storm, and the latest.
    expect(storm?.because[0]?.alertId).toBe(first.id);
    expect(storm?.alertIds).toContain(press.id);
    expect(storm?.alertIds.at(-1)).toBe(last.id);
    for (const c of list.cases.filter((x) => x !== storm)) expect(c.alertCount, c.id).toBe(1);

    // Priority, then wait: the storm's case waits longest of the P1s.
    const order = list.cases.map((c) => [c.priority, Date.parse(c.raisedAt)]);
    expect(order).toEqual([...order].sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0)));
    expect(list.cases[0]?.id).toBe(storm?.id);

    // Every alert of every case was 205 kB here, 157 kB of them the storm's; the window is 54 kB and 6.5 kB.
    const stormBytes = Buffer.byteLength(JSON.stringify(storm));
    expect(stormBytes, `the storm's case is ${stormBytes} bytes`).toBeLessThan(12_000);
    expect(list.bytes, `the list is ${list.bytes} bytes`).toBeLessThan(80_000);

    const all = await listed('?state=all');
    expect(all.cases.find((c) => c.id === storm?.id)?.alertIds).toEqual(storm?.alertIds);
  });

  it('leaves every alert of a case to GET /api/cases/{id}/alerts, page by page', async () => {
    const storm = (await listed()).cases.find((c) => c.residentId === stormResident);
    const seen: string[] = [];
    let before: number | null | undefined;
    for (let pages = 0; before !== null; pages++) {
      expect(pages).toBeLessThan(10);
      const page = await h.api(
        `/api/cases/${storm?.id}/alerts?limit=200${before === undefined ? '' : `&before=${before}`}`,
      );
      expect(page.status).toBe(200);
      expect(page.json.total).toBe(STORM);
      seen.push(...(page.json.alerts as Because[]).map((b) => b.alertId));
      before = page.json.next as number | null;
    }
    expect(seen).toEqual([...stormIds].reverse());
  });
});

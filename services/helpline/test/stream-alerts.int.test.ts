import type { Alert } from '@telecare/contracts';
import { waitFor } from '@telecare/testkit';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';
import { readSse } from './sse.ts';

// One resident's alert storm (a disperser reporting mains loss over and over) joins one case with
// hundreds of alerts. Each change to that case (a note, an offer, an accept, a hold) goes to every
// console on the live stream: it must carry a bounded window of the case's alerts with their total,
// not every alert again, and the rest must be readable page by page.

const STORM = 400;
const residentId = `res_storm${Date.now().toString(36)}`;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let press: Alert;
let first: Alert;
let last: Alert;
let caseId: string;

interface Frame {
  readonly event: string;
  readonly data: string;
}

/** The live stream as a console reads it: every frame, as sent. */
async function openStream() {
  const abort = new AbortController();
  const response = await fetch(`${h.helpline.url}/api/stream`, {
    headers: { authorization: `Bearer ${h.adminToken}` },
    signal: abort.signal,
  });
  if (!response.body) throw new Error('no stream body');
  const frames: Frame[] = [];
  void readSse(response.body, ({ event, data }) => {
    frames.push({ event, data });
  });
  return { frames, close: () => abort.abort() };
}

type Because = { alertId: string; priority: number; reason: string };
type Step = { id: string; kind: string; data: Record<string, unknown> };
type StreamedCase = {
  id: string;
  alertIds: string[];
  alertCount: number;
  because: Because[];
  lastEvent?: { kind: string };
};

beforeAll(async () => {
  h = await helplineHarness('streamalerts', { TIMER_TICK_MS: '60000', CASE_JOIN_WINDOW_S: '3600' });
  await h.start();
  const t0 = Date.now() - STORM * 1000;
  const at = (i: number) => new Date(t0 + i * 1000).toISOString();
  const storm: Alert[] = [];
  for (let i = 0; i < STORM; i++)
    storm.push(
      h.alert({
        residentId,
        priority: 3,
        type: 'mains.lost',
        raisedAt: at(i),
        evidence: [`evt_storm_${i}_${Date.now().toString(36)}`],
        reason: `Mains power lost at the home unit (report ${i + 1})`,
        deviceSerial: 'HUB-STORM-1',
      }),
    );
  // The press comes in the middle of the storm: neither the first nor among the latest alerts.
  press = h.alert({ residentId, raisedAt: at(STORM / 2), reason: 'Pendant pressed' });
  first = storm[0] as Alert;
  last = storm.at(-1) as Alert;
  await h.publish(first);
  caseId = (await h.caseOf(residentId)).id;
  for (let i = 1; i < STORM / 2; i++) await h.publish(storm[i] as Alert);
  await joined(STORM / 2);
  await h.publish(press);
  await joined(STORM / 2 + 1);
  for (let i = STORM / 2; i < STORM; i++) await h.publish(storm[i] as Alert);
  await joined(STORM + 1);
}, 300_000);

/** Waits until the case holds `count` alerts (a storm takes a while to commit). */
const joined = (count: number) =>
  waitFor(async () => (await h.detail(caseId)).alertCount >= count, {
    timeoutMs: 240_000,
    intervalMs: 500,
    what: `${count} alerts on the case`,
  });

let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('a case with many joined alerts on the live stream', () => {
  it('sends a bounded window of its alerts with their count on every change, not every alert', async () => {
    const stream = await openStream();
    await waitFor(() => stream.frames.some((f) => f.event === 'snapshot'), { what: 'the snapshot' });
    const note = await h.api(`/api/cases/${caseId}/notes`, {
      method: 'POST',
      body: { text: 'called the home unit' },
    });
    expect(note.status).toBe(201);
    const frame = await waitFor(
      () =>
        stream.frames.find(
          (f) => f.event === 'case' && (JSON.parse(f.data) as StreamedCase).lastEvent?.kind === 'note',
        ),
      { what: 'the note on the stream' },
    );
    stream.close();
    const bytes = Buffer.byteLength(frame.data);
    // Every alert again was 104 kB here for 401 alerts; the window is a few kilobytes.
    expect(bytes, `a change to a case of ${STORM + 1} alerts sent ${bytes} bytes`).toBeLessThan(16_000);

    const sent = JSON.parse(frame.data) as StreamedCase;
    expect(sent.alertCount).toBe(STORM + 1);
    expect((await h.detail(caseId)).alertCount).toBe(STORM + 1);
    expect(sent.because.length).toBeLessThanOrEqual(20);
    expect(sent.alertIds).toEqual(sent.because.map((b) => b.alertId));
    // What an operator needs without asking: why it opened, the press, and the latest alerts.
    expect(sent.because[0]?.alertId).toBe(first.id);
    expect(sent.alertIds).toContain(press.id);
    expect(sent.alertIds.at(-1)).toBe(last.id);

    // The snapshot a new console opens with carries the same window.
    const snap = stream.frames.find(
      (f) => f.event === 'case' && (JSON.parse(f.data) as StreamedCase).id === caseId,
    );
    expect(snap && Buffer.byteLength(snap.data)).toBeLessThan(16_000);
  });

  it('pages through every alert of the case, newest first', async () => {
    const seen: string[] = [];
    let before: number | null | undefined;
    for (let pages = 0; before !== null; pages++) {
      expect(pages).toBeLessThan(20);
      const page = await h.api(
        `/api/cases/${caseId}/alerts?limit=200${before === undefined ? '' : `&before=${before}`}`,
      );
      expect(page.status).toBe(200);
      expect(page.json.total).toBe(STORM + 1);
      expect(page.json.alerts.length).toBeLessThanOrEqual(200);
      seen.push(...(page.json.alerts as Because[]).map((b) => b.alertId));
      before = page.json.next as number | null;
    }
    expect(seen).toHaveLength(STORM + 1);
    expect(new Set(seen).size).toBe(STORM + 1);
    expect(seen[0]).toBe(last.id);
    expect(seen.at(-1)).toBe(first.id);
    expect(seen).toContain(press.id);
  });

  it('the case view carries the steps that matter and the latest joins, with the count of the rest to page through', async () => {
    const view = await h.api(`/api/cases/${caseId}`);
    expect(view.status).toBe(200);
    const bytes = Buffer.byteLength(JSON.stringify(view.json));
    // With a step for every joined alert it was 105 kB, read again on every change of the case on screen.
    expect(bytes, `the case view of ${STORM + 1} alerts is ${bytes} bytes`).toBeLessThan(30_000);
    const events = view.json.events as Step[];
    const joins = events.filter((e) => e.kind === 'alert-joined');
    expect(joins.length).toBeGreaterThan(0);
    expect(joins.length).toBeLessThanOrEqual(20);
    // Every alert but the first joined the case: one step each.
    expect(view.json.joinsLeftOut).toBe(STORM - joins.length);
    // The steps an operator works from are all there: the opening and the note.
    expect(events[0]?.kind).toBe('opened');
    expect(events.filter((e) => e.kind === 'note')).toHaveLength(1);
    expect(joins.at(-1)?.data.alertId).toBe(last.id);

    const seen: string[] = [];
    let before: string | null | undefined;
    for (let pages = 0; before !== null; pages++) {
      expect(pages).toBeLessThan(20);
      const page = await h.api(
        `/api/cases/${caseId}/joins?limit=150${before === undefined ? '' : `&before=${before}`}`,
      );
      expect(page.status).toBe(200);
      expect(page.json.total).toBe(STORM);
      expect(page.json.events.length).toBeLessThanOrEqual(150);
      seen.push(...(page.json.events as Step[]).map((e) => String(e.data.alertId)));
      before = page.json.next as string | null;
    }
    expect(seen).toHaveLength(STORM);
    expect(new Set(seen).size).toBe(STORM);
    expect(seen[0]).toBe(last.id);
    expect(seen).toContain(press.id);
    expect(seen).not.toContain(first.id);
    expect((await h.api(`/api/cases/${caseId.slice(0, -4)}zzzz/joins`)).status).toBe(404);
  });

  it('the console shows the window and the count, reads every alert on request, and resolves the case', async () => {
    await h.user('olga', 'operator');
    browser = await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', 'olga');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    const card = page.locator(`.case[data-id="${caseId}"]`);
    await card.waitFor();
    expect(await card.getAttribute('title')).toBe(first.reason);
    await card.click();
    const count = page.locator('#alert-count');
    await count.waitFor();
    expect(await count.textContent()).toContain(`of ${STORM + 1} alerts`);
    // Without asking: why it opened, the press in the middle of the storm, the latest report.
    for (const a of [first, press, last]) await page.locator(`ul.because li[data-alert="${a.id}"]`).waitFor();

    await page.click('#show-alerts');
    await page.locator('#all-alerts').waitFor();
    expect(await page.locator('#all-alerts li').count()).toBe(STORM + 1);
    expect(await page.locator('#all-alerts li').first().getAttribute('data-alert')).toBe(last.id);

    // The audit trail: the steps that matter and the latest joins, then every join on request.
    const trail = page.locator('#timeline tr[data-kind="alert-joined"]');
    const shown = await trail.count();
    expect(shown).toBeLessThanOrEqual(20);
    expect(await page.locator('#joins-left-out').textContent()).toContain(`${STORM - shown} earlier alerts`);
    await page.locator('#timeline tr[data-kind="note"]').waitFor();
    await page.click('#show-joins');
    await waitFor(async () => (await trail.count()) === STORM, { what: 'every join in the trail' });
    expect(await page.locator('#joins-left-out').count()).toBe(0);
    expect(await page.locator('#timeline tr').first().getAttribute('data-kind')).toBe('opened');
    await page.locator('#timeline tr[data-kind="note"]').waitFor();

    // The operator has seen every alert: the resolution says so (`seenAlerts`) and is taken.
    await page.click('#accept');
    await page.locator('#resolve-form').waitFor();
    await page.selectOption('#outcome', 'technical-resolved');
    await page.fill('#resolve-reason', 'power back, resident fine');
    await page.click('#resolve-form button[type=submit]');
    await waitFor(async () => (await h.detail(caseId)).state === 'resolved', { what: 'the case resolved' });
  }, 60_000);
});

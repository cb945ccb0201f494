import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary } from '../src/summary.ts';
import { type ReportsHarness, reportsHarness, seededNovember, seedNovember } from './support.ts';

describe('GET /api/reports/summary on a seeded month', () => {
  let h: ReportsHarness;
  let commissioner: string;
  beforeAll(async () => {
    h = await reportsHarness('rpsummary', {
      REPORTS_PSEUDONYM_KEY: 'a-pseudonym-secret-of-32-characters-or-more',
    });
    await h.start();
    await seedNovember(h);
    await seededNovember(h);
    const made = await h.api('/api/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'commissioner', recipient: 'gloucester-cc' }),
    });
    expect(made.status).toBe(201);
    commissioner = ((await made.json()) as { token: string }).token;
  });
  afterAll(async () => h?.close());

  const PERIOD = 'from=2026-11-01&to=2026-12-01';
  const summary = async (path: string) =>
    (await (await h.api(path, { token: commissioner })).json()) as Summary;

  it('gives the hand-checked figures for GL1', async () => {
    const res = await h.api(`/api/reports/summary?${PERIOD}&districts=GL1`, { token: commissioner });
    expect(res.status).toBe(200);
    const s = (await res.json()) as Summary;
    // Every count is published rounded to 5 after suppression, each total rounded on its own.
    expect(s.roundedTo).toBe(5);
    expect(s.residents).toEqual({
      active: 20,
      devices: 35,
      // 10 fall detectors, 20 pendants, 6 hubs: 36 devices, rounded to 35, and 6 hubs to 5.
      technology: { total: 35, cells: { pendant: 20, 'fall-detector': 10, 'home-unit': 5 } },
    });
    // 18 calls (rounded to 20): 12 pendant, 6 fall; 1,000 per 1,000 is the rounded 20 / 20.
    expect(s.alerts.byType).toEqual({ total: 20, cells: { 'pendant.pressed': 10, 'fall.detected': 5 } });
    expect(s.alerts.per1000).toBe(1000);
    // 16 of 18 within 60 s: the 2 misses are hidden, and the 16 with them.
    expect(s.answer.within60s).toEqual({
      target: 97.5,
      of: 20,
      met: null,
      missed: null,
      percent: null,
      achieved: false,
    });
    expect(s.answer.within180s).toEqual({
      target: 99,
      of: 20,
      met: 20,
      missed: 0,
      percent: 100,
      achieved: true,
    });
    // 18 answered calls: enough for a median (at least 10).
    expect(s.medianAtLeast).toBe(10);
    expect(s.answer.medianSeconds).toBe(30);
    expect(s.attendance).toEqual({
      visits: 5,
      within45m: { target: 90, of: 5, met: 5, missed: 0, percent: 100, achieved: true },
      within60m: { target: 100, of: 5, met: 5, missed: 0, percent: 100, achieved: true },
      // Of 6 visits: too few for a median, which would be one of the visits' own times.
      medianMinutes: null,
    });
    // 2 ambulances are hidden, and the 6 reassurances with them (18 − 10 would give back 2).
    expect(s.outcomes).toEqual({
      total: 20,
      cells: { 'responder-visit': 10, 'reassurance-given': null, ambulance: null },
    });
    expect(s.falls.byAmbulance).toEqual({ total: 5, cells: { withAmbulance: null, withoutAmbulance: null } });
    // Of the 5 falls with a time on the floor: too few for a median.
    expect(s.falls.medianMinutesOnFloor).toBeNull();
    expect(s.faults.byType).toEqual({ total: 5, cells: { 'mains.lost': 5 } });
    expect(s.trend.months).toEqual(['2026-11']);
  });

  it('hides GL2 small numbers, and says why', async () => {
    const s = await summary(`/api/reports/summary?${PERIOD}&districts=GL2`);
    // 6, rounded.
    expect(s.residents.active).toBe(5);
    expect(s.alerts.byType).toEqual({ total: null, cells: { 'pendant.pressed': null } });
    expect(s.outcomes.cells['false-alarm']).toBeNull();
    expect(s.suppression).toMatch(/1 to 4/);
  });

  it('gives every chart as CSV with the same numbers as the JSON', async () => {
    const s = await summary(`/api/reports/summary?${PERIOD}&districts=GL1`);
    const res = await h.api(`/api/reports/csv/outcomes?${PERIOD}&districts=GL1`, { token: commissioner });
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines[0]).toBe('outcome,count');
    const csv = Object.fromEntries(lines.slice(1).map((l) => l.split(',')));
    for (const [k, v] of Object.entries(s.outcomes.cells)) expect(csv[k]).toBe(v === null ? '' : String(v));
    expect(csv.total).toBe(String(s.outcomes.total));
    const all = await (
      await h.api(`/api/reports/export.csv?${PERIOD}&districts=GL1`, { token: commissioner })
    ).text();
    expect(all).toContain('answer,answered within 180 s,percent,100');
  });

  it('never returns an id, a name or free text, and refuses the wrong people', async () => {
    const body = await (await h.api(`/api/reports/summary?${PERIOD}`, { token: commissioner })).text();
    expect(body).not.toMatch(/res_|case_|alt_|evt_|PEN-/);
    expect((await h.api(`/api/reports/summary?${PERIOD}`, { token: '' })).status).toBe(401);
    expect((await h.api(`/api/reports/summary?${PERIOD}`, { token: 'rpt_not-a-token' })).status).toBe(401);
    const made = await h.api('/api/tokens', {
      method: 'POST',
      token: commissioner,
      body: '{"role":"analyst","recipient":"x"}',
    });
    expect(made.status).toBe(403);
    expect((await h.api('/api/reports/summary?from=2026-13-01', { token: commissioner })).status).toBe(400);
    expect((await h.api('/api/reports/summary?districts=GL1;drop', { token: commissioner })).status).toBe(
      400,
    );
  });

  it('gives an analyst the episodes under pseudonyms of their own, and a commissioner none', async () => {
    const analyst = async (recipient: string) => {
      const made = await h.api('/api/tokens', {
        method: 'POST',
        body: JSON.stringify({ role: 'analyst', recipient }),
      });
      return ((await made.json()) as { token: string }).token;
    };
    const episodes = async (token: string) =>
      (await (await h.api(`/api/reports/episodes.csv?${PERIOD}`, { token })).text()).trim().split('\r\n');
    const a = await episodes(await analyst('trust-a'));
    const b = await episodes(await analyst('trust-b'));
    expect(a[0]).toBe(
      'episode,resident,district,raised_day,priority,type,answer_seconds,outcome,responder_minutes,fall,on_floor_minutes,ambulance,admitted',
    );
    expect(a).toHaveLength(22);
    expect(a.join('\n')).not.toMatch(/res_|case_|alt_/);
    const residentsOf = (lines: string[]) => new Set(lines.slice(1).map((l) => l.split(',')[1]));
    // Residents 0–11 (pendant calls; 0–5 also fell) and 20–22 (GL2).
    expect(residentsOf(a).size).toBe(15);
    for (const p of residentsOf(a)) expect(residentsOf(b).has(p)).toBe(false);
    expect((await h.api(`/api/reports/episodes.csv?${PERIOD}`, { token: commissioner })).status).toBe(403);
  });

  it('gives demand by district and one suggested cluster of the two adjacent districts', async () => {
    const s = await summary(`/api/reports/summary?${PERIOD}`);
    expect(s.demand.districts).toEqual(['GL1', 'GL2']);
    expect(s.demand.residents).toEqual({ total: 25, cells: { GL1: 20, GL2: 5 } });
    // GL2's 3 alerts are hidden, and GL1's 18 with them; the total stays, rounded (21 to 20).
    expect(s.demand.alerts).toEqual({ total: 20, cells: { GL1: null, GL2: null } });
    // GL1's 6 visits are too few for a centile, which would be one of them.
    expect(s.demand.attendanceP90).toEqual({ GL1: null, GL2: null });
    expect(s.demand.clusters.map((c) => [c.districts, c.alerts])).toEqual([[['GL1', 'GL2'], 20]]);
  });
});

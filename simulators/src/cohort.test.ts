import { describe, expect, it } from 'vitest';
import { carePackagesOf, episodesCsv, planCohort, residentsCsv, staysOf } from './cohort.ts';

const plan = { installed: 40, waiting: 10, districts: ['GL1', 'GL2', 'GL3'], seed: 3 };
const today = new Date('2026-12-03T12:00:00Z');
const DAY = 86_400_000;

describe('a simulated commissioning cohort', () => {
  it('is the same for the same plan, installed 7–18 months ago, the waiting referred 7–14 months ago', () => {
    const people = planCohort(plan);
    expect(people).toEqual(planCohort(plan));
    expect(people).toHaveLength(50);
    expect(new Set(people.map((p) => p.ref)).size).toBe(50);
    const installed = people.filter((p) => p.installAfterDays !== null);
    expect(installed).toHaveLength(40);
    for (const p of installed) {
      const installedDaysAgo = p.referredDaysAgo - (p.installAfterDays ?? 0);
      expect(installedDaysAgo).toBeGreaterThanOrEqual(213);
      expect(installedDaysAgo).toBeLessThanOrEqual(548);
    }
    for (const p of people.filter((q) => q.installAfterDays === null))
      expect(p.referredDaysAgo).toBeGreaterThanOrEqual(213);
    expect(
      people.every((p) => plan.districts.includes(p.district) && p.postcode.startsWith(`${p.district} `)),
    ).toBe(true);
  });

  it('writes residents.csv with the referral day, and the install day only for those installed', () => {
    const [header = '', ...lines] = residentsCsv(planCohort(plan), today).split('\n');
    const columns = header.split(',');
    expect(columns).toEqual(['ref', 'name', 'address', 'postcode', 'referredOn', 'firstInstalledOn']);
    const rows = lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [columns[i], v])));
    expect(rows.filter((r) => r.firstInstalledOn === '')).toHaveLength(10);
    for (const r of rows.filter((q) => q.firstInstalledOn !== ''))
      expect((r.firstInstalledOn ?? '') > (r.referredOn ?? '')).toBe(true);
  });

  it('gives care packages that change after the referral and stays that never overlap or end after today', () => {
    let withCare = 0;
    for (const p of planCohort(plan)) {
      const referredOn = new Date(today.getTime() - p.referredDaysAgo * DAY).toISOString().slice(0, 10);
      const packages = carePackagesOf(p.ref, referredOn, plan.seed);
      if (packages.length > 0) withCare++;
      for (const c of packages) expect(c.endDate === null || c.endDate >= c.startDate).toBe(true);
      const stays = staysOf(p.ref, referredOn, today, plan.seed);
      for (const [i, s] of stays.entries()) {
        expect(s.discharged >= s.admitted).toBe(true);
        expect(Date.parse(`${s.discharged}T00:00:00Z`)).toBeLessThanOrEqual(today.getTime());
        if (i > 0) expect(s.admitted >= (stays[i - 1]?.discharged ?? '')).toBe(true);
      }
    }
    expect(withCare).toBeGreaterThan(15);
    const csv = episodesCsv(
      [{ residentId: 'res_x', ref: 'cohort-0001', referredOn: '2026-01-10' }],
      today,
      3,
    );
    expect(csv.split('\n')[0]).toBe('resident,admitted,discharged');
  });
});

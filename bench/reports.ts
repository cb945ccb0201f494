import { checkEpisodes, type ReportRows, summarise } from '@telecare/reports';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const CASES = Number(process.env.BENCH_CASES ?? 100_000);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EPISODES = Number(process.env.BENCH_EPISODES ?? 20_000);
const TO = new Date('2026-12-01T00:00:00.000Z');
const FROM = new Date('2021-12-01T00:00:00.000Z');
const MONTHS = 60;
const DISTRICTS = Array.from({ length: 12 }, (_, i) => `GL${i + 1}`);

/**
 * A five-year read model as `ReportsStore.rows` gives it: `CASES` calls (each with its alert) spread
 * evenly over the period in twelve districts, a fifth with a responder visit and a tenth a fall,
 * and `DEVICES` devices heard every month (one activity row per device and month). Seeded.
 */
function readModel(): ReportRows {
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const span = TO.getTime() - FROM.getTime();
  const cases = [];
  const alerts = [];
  for (let i = 0; i < CASES; i++) {
    const raisedAt = new Date(FROM.getTime() + random() * span);
    const district = DISTRICTS[i % DISTRICTS.length] as string;
    const fall = i % 10 === 0;
    const visit = i % 5 === 0;
    const t = (s: number) => new Date(raisedAt.getTime() + s * 1000);
    cases.push({
      caseId: `case_${i}`,
      residentId: `res_${i % DEVICES}`,
      district,
      priority: 1,
      type: fall ? 'fall.detected' : 'pendant.pressed',
      raisedAt,
      acceptedAt: t(20 + random() * 60),
      responderCalledAt: visit ? t(120) : null,
      resolvedAt: t(1800),
      closedAt: t(2400),
      outcome: visit ? 'responder-visit' : 'reassurance-given',
      facts: [
        ...(visit ? [{ fact: 'responder-arrived', at: t(120 + random() * 3600), onFloorMinutes: null }] : []),
        ...(fall ? [{ fact: 'found-on-floor', at: t(600), onFloorMinutes: Math.round(random() * 120) }] : []),
      ],
    });
    alerts.push({ type: cases[i]?.type as string, priority: 1, district, raisedAt, late: false });
  }
  const activity = [];
  for (let d = 0; d < DEVICES; d++)
    for (let m = 0; m < MONTHS; m++) {
      const day = new Date(Date.UTC(2021, 11 + m, 1 + (d % 28))).toISOString().slice(0, 10);
      activity.push({
        serial: `PEN-${d}`,
        residentId: `res_${d}`,
        deviceKind: 'pendant',
        district: DISTRICTS[d % DISTRICTS.length] as string,
        day,
      });
    }
  return { cases, alerts, activity, faults: [] };
}

/** A trust's episodes file: `EPISODES` stays of 10,000 residents, each resident's apart. */
function episodesFile(): { text: string; known: Set<string> } {
  const day = (n: number) => new Date(Date.UTC(2015, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
  const known = new Set<string>();
  const lines = ['resident,admitted,discharged'];
  for (let i = 0; i < EPISODES; i++) {
    const resident = `res_${i % 10_000}`;
    known.add(resident);
    const from = Math.floor(i / 10_000) * 20;
    lines.push(`${resident},${day(from)},${day(from + 5)}`);
  }
  return { text: lines.join('\n'), known };
}

/** The least any summary does: every row read once and counted by its month. */
function onePass(rows: ReportRows): number {
  const months = new Map<string, number>();
  const count = (month: string) => months.set(month, (months.get(month) ?? 0) + 1);
  for (const c of rows.cases) count(c.raisedAt.toISOString().slice(0, 7));
  for (const a of rows.alerts) count(a.raisedAt.toISOString().slice(0, 7));
  for (const a of rows.activity) count(a.day.slice(0, 7));
  return months.size;
}

const time = (work: () => unknown): number => {
  const start = performance.now();
  work();
  return performance.now() - start;
};

const benchmark: Benchmark = {
  description: `a commissioner's five-year summary over ${CASES} calls and ${DEVICES} devices, and a trust's episodes file of ${EPISODES} stays checked (the pure functions, no database)`,
  async run(log) {
    const rows = readModel();
    log(
      `read model: ${rows.cases.length} calls, ${rows.alerts.length} alerts, ${rows.activity.length} activity rows`,
    );
    const baseline: number[] = [];
    const summary: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      baseline.push(time(() => onePass(rows)));
      summary.push(time(() => summarise(rows, { from: FROM, to: TO, districts: null, now: TO })));
      log(
        `round ${round_ + 1}: one pass ${round(baseline.at(-1) as number, 1)} ms, summary ${round(summary.at(-1) as number, 0)} ms`,
      );
    }
    const base = percentile(baseline, 50);
    const sum = percentile(summary, 50);
    log(
      `median: one pass ${round(base, 1)} ms, summary ${round(sum, 0)} ms: ${round(sum / base, 1)}× one pass`,
    );

    // The episodes file an admin imports, checked row by row before anything is written.
    const file = episodesFile();
    const split: number[] = [];
    const check: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      split.push(time(() => file.text.split('\n').map((line) => line.split(','))));
      check.push(time(() => checkEpisodes(file.text, file.known, new Map(), '2026-12-01')));
      log(
        `episodes round ${round_ + 1}: split ${round(split.at(-1) as number, 1)} ms, check ${round(check.at(-1) as number, 0)} ms`,
      );
    }
    const splitP50 = percentile(split, 50);
    const checkP50 = percentile(check, 50);
    log(
      `median: ${EPISODES} episodes split ${round(splitP50, 1)} ms, checked ${round(checkP50, 0)} ms: ${round(checkP50 / splitP50, 1)}× the split`,
    );
    return {
      cases: CASES,
      devices: DEVICES,
      one_pass_ms_p50: round(base, 1),
      summary_ms_p50: round(sum, 0),
      summary_vs_one_pass_ratio: round(sum / base, 1),
      episodes: EPISODES,
      episodes_split_ms_p50: round(splitP50, 1),
      episodes_check_ms_p50: round(checkP50, 0),
      episodes_check_vs_split_ratio: round(checkP50 / splitP50, 1),
    };
  },
};

export default benchmark;

import {
  ALL_SCENARIOS,
  formatScorecard,
  learnedFigures,
  MISSED_STATUSES,
  SCENARIOS,
  type ScenarioSpec,
  type Scorecard,
  score,
  scorecardFigures,
} from '@telecare/simulators';
import { exportScenario, runScenarioOnCore } from './core.ts';
import { formatRun, runScenario, type ScenarioResult } from './harness.ts';
import { runStorm } from './storm.ts';

/**
 * `pnpm scenario <name>` / `pnpm scenario all`: runs scenarios against the real stack in
 * accelerated time and prints the scorecard, then one JSON line of its figures. `--core` runs
 * them through the rules core alone instead (no services), to tell rules from platform.
 */
const name = process.argv[2];
const coreOnly = process.argv.includes('--core');
const runnable = [...Object.keys(SCENARIOS), 'all', 'storm', 'load'];
if (!name || !runnable.includes(name)) {
  console.error(`usage: pnpm scenario <name> [--core]\navailable: ${runnable.join(', ')}`);
  for (const spec of Object.values(SCENARIOS)) console.error(`  ${spec.name.padEnd(14)} ${spec.description}`);
  console.error(`  ${'all'.padEnd(14)} ${ALL_SCENARIOS.join(', ')}, one scorecard`);
  console.error(
    `  ${'storm'.padEnd(14)} a district's hubs lose and regain mains while pendants are pressed (real time)`,
  );
  console.error(`  ${'load'.padEnd(14)} background traffic from many homes at a fixed rate (real time)`);
  process.exit(2);
}

if (name === 'storm' || name === 'load') {
  console.log(`# ${name}`);
  const figures = await runStorm(name, (line) => console.log(line));
  console.log(JSON.stringify({ scenario: name, ...figures }));
  process.exit(0);
}

const exportAt = process.argv.indexOf('--export');
if (exportAt > 0) {
  const dir = process.argv[exportAt + 1];
  const spec = SCENARIOS[name];
  if (!dir || !spec) {
    console.error('usage: pnpm scenario <name> --export <dir>');
    process.exit(2);
  }
  const written = exportScenario(spec, dir);
  console.log(
    `wrote ${written.events} events, ${written.labels} labels and the care-plan rules to ${dir}: pnpm replay --import ${dir}/events.jsonl --labels ${dir}/labels.jsonl --current ${dir}/rules.json`,
  );
  process.exit(0);
}

const log = (line: string) => console.log(line);
const names = name === 'all' ? [...ALL_SCENARIOS] : [name];
const results: ScenarioResult[] = [];
for (const each of names) {
  const spec = SCENARIOS[each];
  if (!spec) throw new Error(`no scenario ${each}`);
  console.log(`# ${spec.name}: ${spec.description}`);
  const result = coreOnly ? onCore(spec) : await runScenario(spec, { log });
  results.push(result);
  console.log(formatRun(result));
  console.log('');
}

let card: Scorecard = (results[0] as ScenarioResult).card;
if (results.length > 1) {
  // One scorecard over every run: each run's residents are its own, so the union scores the same.
  card = score({
    expectations: results.flatMap((r) => r.card.incidents.map((s) => s.expectation)),
    alerts: [],
    residentOf: new Map(),
    residentDays: 0,
  });
  let merged: Scorecard = {
    ...card,
    incidents: results.flatMap((r) => r.card.incidents),
    falseAlerts: results.flatMap((r) => r.card.falseAlerts),
    residentDays: results.reduce((n, r) => n + r.card.residentDays, 0),
  };
  // After learning: only the runs that learn count, over their own days after learning.
  const learning = results.flatMap((r) => (r.card.learned ? [r.card.learned] : []));
  if (learning.length)
    merged = {
      ...merged,
      learned: learnedFigures(
        Math.min(...learning.map((l) => l.from)),
        learning.reduce((n, l) => n + l.residentDays, 0),
        learning.reduce((n, l) => n + l.falseAlerts, 0),
      ),
    };
  card = summarise(merged, results);
  console.log(`# all: ${names.join(', ')}`);
  console.log(formatScorecard(card));
}

const simulatedDays = results.reduce((n, r) => n + r.spec.days, 0);
const wallS = results.reduce((n, r) => n + r.wallMs, 0) / 1000;
const events = results.reduce((n, r) => n + r.drive.sent, 0);
console.log(
  JSON.stringify({
    scenario: name,
    ...scorecardFigures(card),
    events,
    refused: results.reduce((n, r) => n + r.drive.rejected, 0),
    simulatedHomeDays: card.residentDays,
    simulatedDays,
    wallSeconds: Number(wallS.toFixed(1)),
  }),
);
process.exit(0);

function onCore(spec: ScenarioSpec): ScenarioResult {
  const started = performance.now();
  const { built, card, alerts } = runScenarioOnCore(spec);
  const wallMs = performance.now() - started;
  const drive = { sent: built.events.length, rejected: 0, failures: [], wallMs, ackLatencyMs: [] };
  return { spec, built, card, drive, alerts, setupMs: 0, wallMs, triageCounters: {} };
}

/** Rebuilds the per-kind rows and totals from merged incidents (same arithmetic as score()). */
function summarise(merged: Scorecard, runs: ScenarioResult[]): Scorecard {
  const alerts = runs.flatMap((r) => r.alerts);
  const rows = merged.incidents;
  const kinds = [...new Set(rows.map((s) => s.expectation.kind))];
  const byKind = kinds.map((kind) => {
    const parts = runs.flatMap((r) => r.card.byKind.filter((k) => k.kind === kind));
    const times = rows
      .filter((s) => s.expectation.kind === kind && s.timeToAlertS !== undefined)
      .map((s) => s.timeToAlertS as number)
      .sort((a, b) => a - b);
    const sum = (f: (k: (typeof parts)[number]) => number) => parts.reduce((n, k) => n + f(k), 0);
    const mid = Math.floor(times.length / 2);
    return {
      kind,
      lifeCritical: parts.some((k) => k.lifeCritical),
      incidents: sum((k) => k.incidents),
      detected: sum((k) => k.detected),
      late: sum((k) => k.late),
      missed: sum((k) => k.missed),
      alertedWhenQuiet: sum((k) => k.alertedWhenQuiet),
      ...(parts.some((k) => k.closed !== undefined) ? { closed: sum((k) => k.closed ?? 0) } : {}),
      ...(times.length
        ? {
            timeToAlertP50S:
              times.length % 2
                ? (times[mid] as number)
                : ((times[mid - 1] as number) + (times[mid] as number)) / 2,
            timeToAlertMaxS: times.at(-1) as number,
          }
        : {}),
      duplicateAlerts: sum((k) => k.duplicateAlerts),
      extraAlerts: sum((k) => k.extraAlerts),
      duplicateCases: sum((k) => k.duplicateCases),
    };
  });
  const lc = rows.filter((s) => s.expectation.lifeCritical);
  return {
    ...merged,
    byKind,
    falseAlertsPerResidentDay: merged.residentDays ? merged.falseAlerts.length / merged.residentDays : 0,
    totals: {
      incidents: rows.length,
      detected: rows.filter((s) => s.status === 'detected' || s.status === 'quiet').length,
      late: rows.filter((s) => s.status === 'late').length,
      missed: rows.filter((s) => MISSED_STATUSES.includes(s.status)).length,
      alerts: alerts.length,
      lifeCritical: lc.length,
      lifeCriticalDetected: lc.filter((s) => s.status === 'detected').length,
    },
  };
}

import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { names, type TelecareEvent } from '@telecare/contracts';
import { ConfigError, connectNats, createLogger, jetstream, jetstreamManager } from '@telecare/platform';
import { DEFAULT_RULE_SET, parseRuleSet, type RuleSet, RuleSetError } from '@telecare/rules';
import { loadTriageConfig } from './config.ts';
import { formatReport, replay } from './replay.ts';
import {
  ImportLineError,
  type ImportRun,
  type LabelScore,
  pairAlerts,
  parseAway,
  parseLabels,
  readImport,
  runEvents,
  scoreLabels,
} from './replay-import.ts';
import { type RulesInForce, readStoredRules } from './rules-store.ts';

const USAGE = `usage: pnpm replay --from <ISO time> --to <ISO time> --rules <candidate.json> [--current <rules.json>] [--warmup-hours 168] [--json]
       pnpm replay --import <events.jsonl> [--rules <candidate.json>] [--current <rules.json>] [--learn-days 7] [--labels <labels.jsonl>] [--away <away.jsonl>] [--resident <id>]... [--time-zone <zone>] [--json]

Runs the candidate rule set and the rules in force over the stored EVENTS in the range and
reports the alerts each would raise and the difference. The rules in force are --current, else
the rule set stored in triage's rules bucket, else TRIAGE_RULES_FILE, else the default set, as
triage runs them. Reads NATS_URL and TELECARE_NAMESPACE from the environment.

--import runs a history of device events instead (one JSON line each: serial, kind, location,
residentId, receivedAt?, pairedAt?, previousPairing?, stockedAt?, event {id, type, at, data}), without NATS;
a line with its receipt time is dated as the gateway dates it (a wrong device clock on receipt,
kept as devicetime; a time in the device's previous pairing given to that resident, marked
moved), one without is taken at its device time. The rules in force are --current, else
TRIAGE_RULES_FILE, else the default set. Alerts from each resident's first --learn-days are not
reported (the learned rhythm needs them). --labels (one JSON line each: residentId, from, to,
kind) gives the false alerts per resident-day and the time to alert of each labelled incident.
--away (one JSON line each: residentId, from, until (optional: open-ended), reason holiday |
hospital | respite | other, id) gives the periods each resident declared away, as triage takes
them from the registry; a resident's periods in the rule set's residents.<id>.away count too.
--time-zone (an IANA zone, e.g. America/Los_Angeles) is the homes' zone for every resident the
rule sets give none of their own (their defaults.timeZone): a log from another country is read by
its own clock (the wake-up window, the night, the times in the reasons).
--json prints one JSON object per alert (rule, resident, time, priority, reason) and a summary.`;

async function readRules(file: string, what: string): Promise<RuleSet> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('replay', [`${what} ${file}: cannot read as JSON: ${(err as Error).message}`]);
  }
  try {
    return parseRuleSet(json);
  } catch (err) {
    if (err instanceof RuleSetError)
      throw new ConfigError(
        'replay',
        err.issues.map((issue) => `${what} ${issue.path}: ${issue.message}`),
      );
    throw err;
  }
}

function time(value: string | undefined, what: string): number {
  const ms = value ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new ConfigError('replay', [`--${what}: an ISO-8601 time is required`]);
  return ms;
}

/** The rules triage runs: the stored set, or (nothing valid stored) TRIAGE_RULES_FILE or the default set. */
function inForce(
  stored: RulesInForce | undefined,
  fallback: RuleSet,
  file: string | undefined,
): { ruleSet: RuleSet; source: string } {
  if (stored?.source === 'stored')
    return { ruleSet: stored.ruleSet, source: `stored revision ${stored.revision}` };
  const source = file ? `TRIAGE_RULES_FILE ${file}` : 'the default set';
  if (stored?.refused)
    process.stderr.write(
      `replay: the stored rule set (revision ${stored.revision}) no longer validates; triage runs ${source}, and so does this replay\n`,
    );
  return { ruleSet: fallback, source };
}

/** A rule set whose homes are in `zone` where a resident has no zone of their own (`--time-zone`). */
function inZone(ruleSet: RuleSet, zone: string | undefined): RuleSet {
  if (zone === undefined) return ruleSet;
  try {
    return parseRuleSet({ ...ruleSet, defaults: { ...ruleSet.defaults, timeZone: zone } });
  } catch (err) {
    if (err instanceof RuleSetError)
      throw new ConfigError('replay', [
        `--time-zone ${zone}: not a time zone this machine knows (IANA, e.g. Europe/London)`,
      ]);
    throw err;
  }
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('replay', [`${what} ${file}: ${(err as Error).message}`]);
  }
}

/** `--import`: the rules over a history from a file, scored against labels when given. */
async function runImport(options: {
  file: string;
  labels: string | undefined;
  away: string | undefined;
  current: RuleSet;
  currentSource: string;
  candidate: RuleSet | undefined;
  learnDays: number;
  residents: readonly string[];
  json: boolean;
}): Promise<string> {
  let events: TelecareEvent[];
  let labels: ReturnType<typeof parseLabels> | undefined;
  let away: ReturnType<typeof parseAway> | undefined;
  const progress = progressLine(options.file);
  try {
    events = await readImport(options.file, {
      residents: options.residents,
      ...(progress ? { onProgress: progress.read } : {}),
    });
    labels = options.labels ? parseLabels(await readText(options.labels, '--labels')) : undefined;
    away = options.away ? parseAway(await readText(options.away, '--away')) : undefined;
  } catch (err) {
    progress?.done();
    if (err instanceof ImportLineError) throw new ConfigError('replay', [err.message]);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      throw new ConfigError('replay', [`--import ${options.file}: ${(err as Error).message}`]);
    throw err;
  }
  const only = new Set(options.residents);
  const wanted = labels?.filter((label) => only.size === 0 || only.has(label.residentId));
  const runs = [
    { name: `in force (v${options.current.version}, ${options.currentSource})`, ruleSet: options.current },
  ];
  if (options.candidate)
    runs.push({ name: `candidate (v${options.candidate.version})`, ruleSet: options.candidate });
  const results = runs.map((r) => {
    const run = runEvents(
      events,
      r.ruleSet,
      { learnDays: options.learnDays, ...(away ? { away } : {}) },
      progress ? (share) => progress.replayed(r.name, share) : undefined,
    );
    return { ...r, run, score: wanted ? scoreLabels(run, wanted) : undefined };
  });
  progress?.done();
  const out: string[] = [];
  if (options.json) {
    for (const { name, run, score } of results) {
      for (const alert of run.alerts)
        out.push(
          JSON.stringify({
            rules: name,
            rule: alert.rule.id,
            resident: alert.residentId,
            time: alert.raisedAt,
            priority: alert.priority,
            type: alert.type,
            reason: alert.reason,
          }),
        );
      out.push(JSON.stringify({ rules: name, summary: summary(run, score) }));
    }
    return out.join('\n');
  }
  for (const { name, run, score } of results) {
    out.push(
      `${name}: ${run.events} events, ${run.residents} residents, ${run.residentDays} resident-days after ${options.learnDays} days learned; ${run.alerts.length} alerts`,
    );
    if (score) {
      out.push(
        `  false alerts ${score.falseAlerts} = ${score.falsePerResidentDay.toFixed(3)} per resident-day; labelled incidents caught ${score.caught} of ${score.labels}`,
      );
      for (const [kind, k] of Object.entries(score.byKind))
        out.push(
          `  ${kind.padEnd(24)} ${k.caught}/${k.n} caught${k.medianMin === undefined ? '' : `, median ${k.medianMin} min to the first alert`}`,
        );
    }
    for (const alert of run.alerts.slice(0, 50))
      out.push(
        `  ${alert.raisedAt} P${alert.priority} ${alert.residentId} ${alert.rule.id} — ${alert.reason}`,
      );
    if (run.alerts.length > 50) out.push(`  … and ${run.alerts.length - 50} more (use --json)`);
    out.push('');
  }
  const [current, candidate] = results;
  if (current && candidate) {
    const pairs = pairAlerts(current.run.alerts, candidate.run.alerts);
    out.push(
      `by incident: ${pairs.same} the same, ${pairs.moved.length} moved, ${pairs.onlyCurrent.length} only in force, ${pairs.onlyCandidate.length} only the candidate`,
    );
    for (const m of pairs.moved.slice(0, 50))
      out.push(
        `  moved ${m.byMs >= 0 ? '+' : '−'}${Math.round(Math.abs(m.byMs) / 60_000)} min: ${m.current.residentId} ${m.current.type} ${m.current.raisedAt} → ${m.candidate.raisedAt}`,
      );
    for (const alert of pairs.onlyCurrent.slice(0, 50))
      out.push(`  only in force: ${alert.raisedAt} ${alert.residentId} ${alert.type}`);
    for (const alert of pairs.onlyCandidate.slice(0, 50))
      out.push(`  only the candidate: ${alert.raisedAt} ${alert.residentId} ${alert.type}`);
  }
  return out.join('\n');
}

/**
 * Progress of a long import on standard error, one line rewritten in place, only where a person
 * watches it (a terminal): bytes read of the file's size, then the share of events replayed.
 */
function progressLine(
  file: string,
): { read(bytes: number): void; replayed(name: string, share: number): void; done(): void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    return undefined;
  }
  let shown = false;
  const show = (text: string) => {
    shown = true;
    process.stderr.write(`\r${text.padEnd(72)}`);
  };
  const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
  return {
    read: (bytes) =>
      show(`reading ${mb(bytes)} of ${mb(size)} MB (${Math.round((100 * bytes) / Math.max(1, size))} %)`),
    replayed: (name, share) => show(`replaying ${name.split(' ')[0]}: ${Math.round(100 * share)} %`),
    done: () => {
      if (shown) process.stderr.write(`\r${''.padEnd(72)}\r`);
      shown = false;
    },
  };
}

function summary(run: ImportRun, score: LabelScore | undefined) {
  return {
    events: run.events,
    residents: run.residents,
    residentDays: run.residentDays,
    alerts: run.alerts.length,
    ...(score ? { labels: score } : {}),
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      rules: { type: 'string' },
      current: { type: 'string' },
      'warmup-hours': { type: 'string', default: '168' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      import: { type: 'string' },
      labels: { type: 'string' },
      away: { type: 'string' },
      'learn-days': { type: 'string', default: '7' },
      resident: { type: 'string', multiple: true },
      'time-zone': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const config = loadTriageConfig();
    if (values.import) {
      const fallback = config.TRIAGE_RULES_FILE
        ? await readRules(config.TRIAGE_RULES_FILE, 'TRIAGE_RULES_FILE')
        : DEFAULT_RULE_SET;
      const learnDays = Number(values['learn-days']);
      if (!Number.isInteger(learnDays) || learnDays < 0)
        throw new ConfigError('replay', ['--learn-days: a whole number of days is required']);
      const zone = values['time-zone'];
      const current = inZone(values.current ? await readRules(values.current, '--current') : fallback, zone);
      const candidate = values.rules ? inZone(await readRules(values.rules, '--rules'), zone) : undefined;
      const output = await runImport({
        file: values.import,
        labels: values.labels,
        away: values.away,
        current,
        currentSource: `${
          values.current ? `--current ${values.current}` : (config.TRIAGE_RULES_FILE ?? 'the default set')
        }${zone ? `, homes in ${zone}` : ''}`,
        candidate,
        learnDays,
        residents: values.resident ?? [],
        json: values.json,
      });
      process.stdout.write(`${output}\n`);
      return 0;
    }
    if (!values.rules) throw new ConfigError('replay', ['--rules: a candidate rule set file is required']);
    const from = time(values.from, 'from');
    const to = time(values.to, 'to');
    const candidate = await readRules(values.rules, '--rules');
    const given = values.current ? await readRules(values.current, '--current') : undefined;
    const fallback = config.TRIAGE_RULES_FILE
      ? await readRules(config.TRIAGE_RULES_FILE, 'TRIAGE_RULES_FILE')
      : DEFAULT_RULE_SET;
    const logger = createLogger('replay', config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
    const nc = await connectNats({
      url: config.NATS_URL,
      name: 'triage-replay',
      logger,
      tls: config.TELECARE_TLS_CA,
    });
    try {
      const n = names(config.TELECARE_NAMESPACE);
      const current = given
        ? { ruleSet: given, source: `--current ${values.current}` }
        : inForce(await readStoredRules(nc, n, fallback), fallback, config.TRIAGE_RULES_FILE);
      const report = await replay({
        js: jetstream(nc),
        jsm: await jetstreamManager(nc),
        names: n,
        from,
        to,
        current: current.ruleSet,
        currentSource: current.source,
        candidate,
        warmupMs: Number(values['warmup-hours']) * 3600_000,
      });
      process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
    } finally {
      await nc.close();
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));

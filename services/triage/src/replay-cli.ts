import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { names } from '@telecare/contracts';
import { ConfigError, connectNats, createLogger, jetstream, jetstreamManager } from '@telecare/platform';
import { DEFAULT_RULE_SET, parseRuleSet, type RuleSet, RuleSetError } from '@telecare/rules';
import { loadTriageConfig } from './config.ts';
import { formatReport, replay } from './replay.ts';
import { type RulesInForce, readStoredRules } from './rules-store.ts';

const USAGE = `usage: pnpm replay --from <ISO time> --to <ISO time> --rules <candidate.json> [--current <rules.json>] [--warmup-hours 24] [--json]

Runs the candidate rule set and the rules in force over the stored EVENTS in the range and
reports the alerts each would raise and the difference. The rules in force are --current, else
the rule set stored in triage's rules bucket, else TRIAGE_RULES_FILE, else the default set, as
triage runs them. Reads NATS_URL and TELECARE_NAMESPACE from the environment.`;

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

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      rules: { type: 'string' },
      current: { type: 'string' },
      'warmup-hours': { type: 'string', default: '24' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    const config = loadTriageConfig();
    if (!values.rules) throw new ConfigError('replay', ['--rules: a candidate rule set file is required']);
    const from = time(values.from, 'from');
    const to = time(values.to, 'to');
    const candidate = await readRules(values.rules, '--rules');
    const given = values.current ? await readRules(values.current, '--current') : undefined;
    const fallback = config.TRIAGE_RULES_FILE
      ? await readRules(config.TRIAGE_RULES_FILE, 'TRIAGE_RULES_FILE')
      : DEFAULT_RULE_SET;
    const logger = createLogger('replay', config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
    const nc = await connectNats({ url: config.NATS_URL, name: 'triage-replay', logger });
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

import { readFileSync, writeFileSync } from 'node:fs';
import { TRIAGE_ROUTES } from '@telecare/contracts';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError, cliClient, EXIT } from './client.ts';
import type { CliIo } from './program.ts';

const DEFAULT_TRIAGE_URL = 'http://127.0.0.1:7060';

interface InForce {
  source: 'stored' | 'default';
  revision: number;
  version: number;
  putAt?: string;
  putBy?: string;
  refused?: { version: number | null; issues: Array<{ path: string; message: string }> };
  ruleSet: { version: number; rules: Array<{ id: string; version: number; kind: string }> };
}

interface Version {
  revision: number;
  version: number | null;
  rules: number | null;
  putAt: string;
  putBy?: string;
}

const revisionArg = (value: string): number => {
  if (!/^\d{1,15}$/.test(value))
    throw new InvalidArgumentError('must be a revision: a whole number, 0 or above');
  return Number(value);
};

function inForceText(r: InForce, saved: string | undefined): string {
  const where =
    r.source === 'stored'
      ? `stored revision ${r.revision}, put ${r.putAt ?? '?'}${r.putBy ? ` by ${r.putBy}` : ''}`
      : 'the default rules: no valid rule set stored';
  return [
    `rules in force: version ${r.version}, ${r.ruleSet.rules.length} rules (${where})`,
    ...(r.refused
      ? [
          `the stored rule set (revision ${r.revision}, version ${r.refused.version ?? '?'}) no longer validates:`,
          ...r.refused.issues.map((issue) => `  ${issue.path}: ${issue.message}`),
        ]
      : []),
    ...r.ruleSet.rules.map((rule) => `  ${rule.id.padEnd(32)} v${rule.version}  ${rule.kind}`),
    ...(saved
      ? [`saved to ${saved}; after editing: telecare rules put ${saved} --based-on ${r.revision}`]
      : []),
  ].join('\n');
}

/**
 * `telecare rules get|put|history`: triage's rule set in force (`GET/PUT /api/rules`), kept in
 * a NATS KV bucket with its history. Triage takes the admin token.
 */
export function addRulesCommands(program: Command, io: CliIo): void {
  const rules = program
    .command('rules')
    .description("triage's rule set in force: read it, put a new version, list the versions")
    .option('--triage-url <url>', `triage URL (default: TELECARE_TRIAGE_URL, else ${DEFAULT_TRIAGE_URL})`);
  const ctx = (cmd: Command) => {
    const opts = cmd.optsWithGlobals<{ triageUrl?: string; token?: string; json?: boolean }>();
    const client = cliClient(
      TRIAGE_ROUTES,
      opts.triageUrl ?? io.env.TELECARE_TRIAGE_URL ?? DEFAULT_TRIAGE_URL,
      opts.token ?? io.env.TELECARE_TOKEN ?? io.env.TELECARE_ADMIN_TOKEN,
      'triage',
    );
    const print = (value: unknown, human: () => string) =>
      io.stdout(`${opts.json ? JSON.stringify(value) : human()}\n`);
    return { client, print };
  };

  rules
    .command('get')
    .description('the rule set in force, its version and stored revision')
    .option('--save <file>', 'write the rule set itself (JSON) to this file, to edit and put back')
    .action(async (opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const r: InForce = await client.getRules();
      if (opts.save) writeFileSync(opts.save, `${JSON.stringify(r.ruleSet, null, 2)}\n`);
      print(r, () => inForceText(r, opts.save));
    });

  rules
    .command('put')
    .description('validate a rule set (JSON file) and put it in force on every triage instance')
    .argument('<file>')
    .option(
      '--based-on <revision>',
      'the revision you edited (from rules get): refused if another version was put since',
      revisionArg,
    )
    .action(async (file: string, opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      let ruleSet: unknown;
      try {
        ruleSet = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new CliError(`cannot read ${file} as JSON: ${(err as Error).message}`, EXIT.refused);
      }
      const headers: Record<string, string> =
        opts.basedOn === undefined ? {} : { 'if-match': `"${opts.basedOn}"` };
      const out = await client.putRules({ body: ruleSet, headers });
      print(
        out,
        () =>
          `rule set version ${out.version} (${out.rules} rules) stored as revision ${out.revision} and in force`,
      );
    });

  rules
    .command('history')
    .description('the versions put, newest first: revision, version, when and by whom')
    .action(async (_opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out: { versions: Version[] } = await client.rulesHistory();
      print(out, () =>
        out.versions.length === 0
          ? 'no rule set stored yet: the default rules are in force'
          : out.versions
              .map(
                (v) =>
                  `revision ${String(v.revision).padEnd(5)} version ${String(v.version ?? '?').padEnd(5)} ${String(v.rules ?? '?').padStart(3)} rules  ${v.putAt}${v.putBy ? `  ${v.putBy}` : ''}`,
              )
              .join('\n'),
      );
    });
}

/**
 * `pnpm faults --faults N`: the fault suite under a steady load, ending with one JSON line of its
 * counts (tests/faults/README.md).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type FaultKind, isFaultKind } from './faults.ts';
import type { FaultStack } from './stack.ts';
import { runSuite } from './suite.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    faults: { type: 'string', default: '18' },
    kinds: { type: 'string' },
    seed: { type: 'string', default: '15' },
    rate: { type: 'string', default: '40' },
    presses: { type: 'string', default: '1' },
    homes: { type: 'string', default: '100' },
    panels: { type: 'string', default: '16' },
    'panel-presses': { type: 'string', default: '0.25' },
    'panel-poll-ms': { type: 'string', default: '10000' },
    'hold-ms': { type: 'string', default: '5000' },
    'settle-ms': { type: 'string', default: '3000' },
    minutes: { type: 'string' },
    save: { type: 'boolean', default: false },
  },
  strict: true,
});

const kinds = args.kinds?.split(',').map((k) => k.trim());
const unknown = kinds?.filter((k) => !isFaultKind(k)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown fault kinds: ${unknown.join(', ')}`);
  process.exit(2);
}
const number = (name: string, raw: string | undefined): number => {
  const value = Number(raw);
  if (!(value >= 0)) {
    console.error(`--${name} takes a number`);
    process.exit(2);
  }
  return value;
};

const startedAt = new Date();
// Ctrl-C or a SIGTERM still ends every process and server the run started.
let stack: FaultStack | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the run's services and servers`);
    void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
const result = await runSuite({
  faults: number('faults', args.faults),
  ...(kinds ? { kinds: kinds as FaultKind[] } : {}),
  seed: number('seed', args.seed),
  rate: number('rate', args.rate),
  pressesPerS: number('presses', args.presses),
  homes: number('homes', args.homes),
  panels: number('panels', args.panels),
  panelPressesPerS: number('panel-presses', args['panel-presses']),
  panelPollMs: number('panel-poll-ms', args['panel-poll-ms']),
  holdMs: number('hold-ms', args['hold-ms']),
  settleMs: number('settle-ms', args['settle-ms']),
  recoveryTimeoutMs: 120_000,
  ...(args.minutes === undefined ? {} : { maxFaultingMs: number('minutes', args.minutes) * 60_000 }),
  onStack: (s) => {
    stack = s;
  },
  log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`),
});

const { reconciliation, summary } = result;
console.log('');
console.log('reconciliation');
for (const [name, value] of Object.entries(reconciliation.counts))
  console.log(`  ${name.padEnd(20)} ${value}`);
console.log(`  violations           ${reconciliation.violations.length}`);
for (const v of reconciliation.violations.slice(0, 50)) console.log(`    ${v.kind} ${v.id}: ${v.detail}`);
console.log('worst press → case (ms) by fault kind, "none" between faults');
for (const [kind, ms] of Object.entries(summary.worst_press_to_case_ms as Record<string, number | null>)) {
  console.log(`  ${kind.padEnd(22)} ${ms === null ? 'a press reached no case' : ms}`);
}

const line = { started_at: startedAt.toISOString(), seed: Number(args.seed), ...summary };
if (args.save) {
  const dir = fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `faults-${summary.faults}-${startedAt.toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify({ ...line, faults_injected: result.faults }, null, 2)}\n`);
}
console.log(JSON.stringify(line));
const ok =
  reconciliation.counts.lostLifeCritical === 0 &&
  reconciliation.counts.duplicateCases === 0 &&
  (summary.not_recovered as string[]).length === 0;
process.exit(ok ? 0 : 1);

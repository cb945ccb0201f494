import type { Command } from 'commander';
import { type Commands, given, type Json, keyHeaders, withIdempotencyKey } from './shared.ts';

const REASONS = ['holiday', 'hospital', 'respite', 'other'];

/**
 * `telecare away set|end|list`: a resident's declared time away. While a period holds and no
 * return home is seen, triage raises no absence-type alert for them (not up, no activity, not
 * back); alarms and device faults always raise. An outing it covers is checked for "not back"
 * from `--until` on.
 */
export function addAwayCommands(program: Command, { ctx }: Commands): void {
  const away = program
    .command('away')
    .description('a resident’s declared time away (holiday, hospital, respite), honoured by triage');
  const line = (p: Json) =>
    `${p.id}  ${p.reason}  ${p.from} to ${p.until ?? '(open-ended)'}  set by ${p.setBy}${p.endedBy ? `, ended by ${p.endedBy}` : ''}${p.note ? `  — ${p.note}` : ''}`;
  withIdempotencyKey(away.command('set'))
    .description('declare the resident away from a time, until a time or open-ended')
    .argument('<residentId>')
    .requiredOption(
      '--from <time>',
      'when the period begins, ISO-8601 with its offset (2026-12-04T17:00:00Z)',
    )
    .option('--until <time>', 'when they are due back, ISO-8601 with its offset (open-ended if not given)')
    .requiredOption('--reason <reason>', `why: ${REASONS.join(', ')}`)
    .option('--note <text>', 'for the operators (where they are, a number to reach them)')
    .action(async (residentId: string, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.setAway({
        ...keyHeaders(opts),
        params: { id: residentId },
        body: given({ from: opts.from, until: opts.until, reason: opts.reason, note: opts.note }),
      });
      print(
        out,
        () => `away period ${out.id} set: ${out.reason} from ${out.from} to ${out.until ?? '(open-ended)'}`,
      );
    });
  away
    .command('end')
    .description('end a period now (they are back), or at --at')
    .argument('<residentId>')
    .argument('<awayId>')
    .option('--at <time>', 'when it ended, ISO-8601 with its offset (now if not given)')
    .action(async (residentId: string, awayId: string, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.endAway({ params: { id: residentId, awayId }, body: given({ at: opts.at }) });
      print(out, () => `away period ${out.id} ended at ${out.until}`);
    });
  away
    .command('list')
    .description('a resident’s away periods, the latest first')
    .argument('<residentId>')
    .action(async (residentId: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.listAway({ params: { id: residentId } });
      print(out, () => (out.away.length === 0 ? 'no away periods' : out.away.map(line).join('\n')));
    });
}

import type { SensitiveField } from '@telecare/contracts';
import { type Command, InvalidArgumentError } from 'commander';
import { type Commands, type Json, SENSITIVE } from './shared.ts';

/** `telecare reveal`: a break-glass read of a sensitive field, recorded with who and why. */
export function addRevealCommand(program: Command, { ctx }: Commands): void {
  program
    .command('reveal')
    .description(
      'show a resident’s key-safe or medical summary with the admin token (a break-glass read, recorded with who and why); people read them in the helpline, on a case they hold',
    )
    .argument('<residentId>')
    .requiredOption(
      '--field <field>',
      'keySafe or medicalSummary (repeatable)',
      (value: string, previous: string[] | undefined) => {
        const field = SENSITIVE[value];
        if (!field) throw new InvalidArgumentError('must be keySafe or medicalSummary');
        return [...(previous ?? []), field];
      },
    )
    .requiredOption('--reason <reason>', 'why you need it (kept in the audit)')
    .action(async (residentId: string, opts: { field: string[]; reason: string }, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out: Json = await api.revealResident({
        params: { id: residentId },
        body: { fields: [...new Set(opts.field)] as SensitiveField[], reason: opts.reason },
      });
      print(out, () =>
        [
          ...[...new Set(opts.field)].map((f) => `${f.padEnd(15)} ${out[f] ?? '(not set)'}`),
          'This read is recorded in the resident’s audit (who, when, which field, why).',
        ].join('\n'),
      );
    });
}

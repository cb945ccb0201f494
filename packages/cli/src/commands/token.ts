import type { Command } from 'commander';
import { type Commands, keyHeaders, withIdempotencyKey } from './shared.ts';

/** `telecare token create`. */
export function addTokenCommands(program: Command, { ctx }: Commands): void {
  const token = program.command('token').description('API tokens');
  withIdempotencyKey(token.command('create'))
    .description('create an API token (shown once)')
    .requiredOption('--name <name>')
    .requiredOption('--role <role>', 'admin, installer, operator, supervisor or commissioner')
    .option(
      '--expires-in-days <days>',
      'days it works (at most 365; default 90, 365 for helpline-service and reports-service)',
      (value) => Number(value),
    )
    .action(async (opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.createToken({
        ...keyHeaders(opts),
        body: {
          name: opts.name,
          role: opts.role,
          ...(opts.expiresInDays === undefined ? {} : { expiresInDays: opts.expiresInDays }),
        },
      });
      print(
        out,
        () =>
          `token ${out.id} (${out.role}, until ${out.expiresAt}): ${out.token}\nKeep it now: it is not shown again.`,
      );
    });
}

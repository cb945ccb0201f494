import type { Command } from 'commander';
import type { Commands } from './shared.ts';

/** `telecare token create`. */
export function addTokenCommands(program: Command, { ctx }: Commands): void {
  program
    .command('token')
    .description('API tokens')
    .command('create')
    .description('create an API token (shown once)')
    .requiredOption('--name <name>')
    .requiredOption('--role <role>', 'admin, installer, operator, supervisor or commissioner')
    .action(async (opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.createToken({ body: { name: opts.name, role: opts.role } });
      print(out, () => `token ${out.id} (${out.role}): ${out.token}\nKeep it now: it is not shown again.`);
    });
}

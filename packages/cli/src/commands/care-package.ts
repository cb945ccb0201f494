import { type Command, InvalidArgumentError } from 'commander';
import { type Commands, given, type Json, keyHeaders, withIdempotencyKey } from './shared.ts';

/** `telecare care-package add|list`: hours of care at home per week. */
export function addCarePackageCommands(program: Command, { ctx }: Commands): void {
  const carePackage = program
    .command('care-package')
    .description('hours of care at home per week (for the commissioners’ reports)');
  const packageLine = (p: Json) =>
    `${p.id}  ${p.hoursPerWeek} h/week  ${p.startDate} to ${p.endDate ?? '(open)'}`;
  withIdempotencyKey(carePackage.command('add'))
    .description('record a care package')
    .argument('<residentId>')
    .requiredOption('--hours-per-week <hours>', 'hours of care per week (0–168)', (value: string) => {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n))
        throw new InvalidArgumentError('must be a number of hours');
      return n;
    })
    .requiredOption('--start <date>', 'first day, YYYY-MM-DD')
    .option('--end <date>', 'last day, YYYY-MM-DD (open-ended if not given)')
    .action(async (residentId: string, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.addCarePackage({
        ...keyHeaders(opts),
        params: { id: residentId },
        body: given({ hoursPerWeek: opts.hoursPerWeek, startDate: opts.start, endDate: opts.end }),
      });
      print(
        out,
        () =>
          `care package ${out.id} added: ${out.hoursPerWeek} h/week from ${out.startDate} to ${out.endDate ?? '(open)'}`,
      );
    });
  carePackage
    .command('list')
    .description('a resident’s care packages, by start date')
    .argument('<residentId>')
    .action(async (residentId: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.listCarePackages({ params: { id: residentId } });
      print(out, () =>
        out.carePackages.length === 0 ? 'no care packages' : out.carePackages.map(packageLine).join('\n'),
      );
    });
}

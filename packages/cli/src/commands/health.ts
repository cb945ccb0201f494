import type { Command } from 'commander';
import { type Commands, given, healthLine, type Json, positiveInt } from './shared.ts';

/** `telecare health`: last heartbeat, battery, mains, signal, last pendant use. */
export function addHealthCommand(program: Command, { ctx }: Commands): void {
  program
    .command('health')
    .description('device health: last heartbeat, battery, mains, signal, last pendant use')
    .argument('[serial]')
    .option('--overdue', 'only devices past their supervision interval')
    .option('--battery-below <percent>', 'only batteries below this level, lowest first', positiveInt)
    .action(async (serial: string | undefined, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const rows: Json[] = serial
        ? [await api.deviceHealth({ params: { serial } })]
        : (
            await api.devicesHealth({
              query: given({
                overdue: opts.overdue ? ('true' as const) : undefined,
                batteryBelow: opts.batteryBelow,
              }),
            })
          ).devices;
      print(serial ? rows[0] : { devices: rows }, () =>
        rows.length === 0 ? 'no devices' : rows.map(healthLine).join('\n'),
      );
    });
}

import type { Command } from 'commander';
import { CliError, EXIT } from '../client.ts';
import { addResponder } from './responder.ts';
import {
  type Commands,
  clearable,
  given,
  keyHeaders,
  orDash,
  positiveInt,
  RESIDENT_CLEARABLE,
  withCleared,
  withIdempotencyKey,
} from './shared.ts';

/** `telecare resident add|update|show|list|search`. */
export function addResidentCommands(program: Command, { ctx }: Commands): void {
  const resident = program.command('resident').description('residents');
  withIdempotencyKey(resident.command('add'))
    .description('add a resident')
    .requiredOption('--name <name>')
    .requiredOption('--address <address>')
    .requiredOption('--postcode <postcode>')
    .option('--ref <ref>', 'your reference for the resident (the ref of residents.csv), unique')
    .option('--phone <phone>')
    .option('--lives-alone')
    .option('--mobility-notes <text>')
    .option('--risk-notes <text>')
    .option('--key-safe <text>', 'key-safe code and where it is (stored encrypted)')
    .option('--medical-summary <text>', 'stored encrypted')
    .option('--consent', 'the resident has consented')
    .option('--referred <date>', 'when the resident was referred for telecare, YYYY-MM-DD')
    .option(
      '--first-installed <date>',
      'when telecare was first installed, YYYY-MM-DD, from records kept before the registry (otherwise recorded at the first install)',
    )
    .action(async (opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const created = await api.createResident({
        ...keyHeaders(opts),
        body: given({
          externalRef: opts.ref,
          name: opts.name,
          address: opts.address,
          postcode: opts.postcode,
          phone: opts.phone,
          livesAlone: opts.livesAlone ? true : undefined,
          mobilityNotes: opts.mobilityNotes,
          riskNotes: opts.riskNotes,
          keySafe: opts.keySafe,
          medicalSummary: opts.medicalSummary,
          consent: opts.consent ? true : undefined,
          referredOn: opts.referred,
          firstInstalledOn: opts.firstInstalled,
        }),
      });
      print(created, () => `resident ${created.id} added (${created.postcodeDistrict})`);
    });
  resident
    .command('update')
    .description('change a resident: only the fields given change; --clear empties an optional one')
    .argument('<residentId>')
    .option('--name <name>')
    .option('--address <address>')
    .option('--postcode <postcode>', 'checked and normalised; the devices’ map entries follow')
    .option('--ref <ref>', 'your reference for the resident (links it to the ref of residents.csv)')
    .option('--phone <phone>')
    .option('--lives-alone')
    .option('--no-lives-alone')
    .option('--mobility-notes <text>')
    .option('--risk-notes <text>')
    .option('--key-safe <text>', 'stored encrypted')
    .option('--medical-summary <text>', 'stored encrypted')
    .option('--consent')
    .option('--no-consent')
    .option('--referred <date>', 'when the resident was referred for telecare, YYYY-MM-DD')
    .option('--first-installed <date>', 'when telecare was first installed, while none is recorded')
    .option(
      '--clear <field>',
      `empty a field (repeatable): ${Object.keys(RESIDENT_CLEARABLE).join(', ')}`,
      clearable(RESIDENT_CLEARABLE),
    )
    .action(async (residentId: string, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const body = withCleared(
        given({
          externalRef: opts.ref,
          name: opts.name,
          address: opts.address,
          postcode: opts.postcode,
          phone: opts.phone,
          livesAlone: opts.livesAlone,
          mobilityNotes: opts.mobilityNotes,
          riskNotes: opts.riskNotes,
          keySafe: opts.keySafe,
          medicalSummary: opts.medicalSummary,
          consent: opts.consent,
          referredOn: opts.referred,
          firstInstalledOn: opts.firstInstalled,
        }),
        opts.clear,
      );
      if (Object.keys(body).length === 0) {
        throw new CliError('nothing to change: give at least one field or --clear', EXIT.refused);
      }
      const out = await api.updateResident({ params: { id: residentId }, body });
      print(out, () => `resident ${out.id} updated (${Object.keys(body).join(', ')})`);
    });
  resident
    .command('show')
    .description('a resident with responders and devices (sensitive fields masked: see reveal)')
    .argument('<residentId>')
    .action(async (residentId: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const r = await api.getResident({ params: { id: residentId } });
      const [{ responders }, { devices }] = await Promise.all([
        api.listResponders({ params: { id: residentId } }),
        api.listDevices({ query: { residentId } }),
      ]);
      print({ resident: r, responders, devices }, () =>
        [
          `${r.id}  ${r.name}`,
          `  address       ${r.address}, ${r.postcode} (district ${r.postcodeDistrict})`,
          `  ref           ${orDash(r.externalRef)}`,
          `  phone         ${orDash(r.phone)}`,
          `  lives alone   ${r.livesAlone ? 'yes' : 'no'}`,
          `  consent       ${r.consent ? `yes (${r.consentAt ?? 'date unknown'})` : 'no'}`,
          `  referred      ${orDash(r.referredOn ?? null)}`,
          `  installed     ${r.firstInstalledAt ? r.firstInstalledAt.slice(0, 10) : 'not yet'}`,
          `  mobility      ${orDash(r.mobilityNotes)}`,
          `  risk          ${orDash(r.riskNotes)}`,
          `  key safe      ${r.keySafe === null ? '-' : `${r.keySafe} (telecare reveal ${r.id} --field keySafe --reason …)`}`,
          `  medical       ${r.medicalSummary === null ? '-' : `${r.medicalSummary} (reveal --field medicalSummary)`}`,
          `responders${responders.length === 0 ? '    none' : ''}`,
          ...responders.map((p) => `  ${p.order}. ${p.name} (${p.relationship}) ${p.phone}  [${p.id}]`),
          `devices${devices.length === 0 ? '       none' : ''}`,
          ...devices.map(
            (d) =>
              `  ${String(d.serial).padEnd(16)} ${String(d.kind).padEnd(16)} ${d.state}  ${orDash(d.location)}`,
          ),
        ].join('\n'),
      );
    });
  const listResidents = async (
    cmd: Command,
    filter: Record<string, string | undefined>,
    opts: { limit: number; page: number },
  ) => {
    const { api, print } = ctx(cmd);
    const offset = (opts.page - 1) * opts.limit;
    const out = await api.listResidents({ query: given({ ...filter, limit: opts.limit, offset }) });
    print(out, () => {
      if (out.residents.length === 0)
        return out.total > 0 ? `no residents on page ${opts.page} (${out.total} in all)` : 'no residents';
      const pages = Math.max(1, Math.ceil(out.total / opts.limit));
      return [
        ...out.residents.map(
          (r) =>
            `${r.id}  ${String(r.name).padEnd(24)} ${String(r.postcode).padEnd(8)} ref ${orDash(r.externalRef)}  ${
              (r.serials as string[] | undefined)?.length ? (r.serials as string[]).join(', ') : 'no devices'
            }`,
        ),
        `residents ${offset + 1}–${offset + out.residents.length} of ${out.total} (page ${opts.page} of ${pages})`,
      ].join('\n');
    });
  };
  const pageOptions = (command: Command) =>
    command
      .option('--limit <n>', 'residents per page (at most 1000)', positiveInt, 50)
      .option('--page <n>', 'which page, from 1', positiveInt, 1);
  pageOptions(
    resident
      .command('list')
      .description('residents by name, a page at a time; filter by name, postcode or a device serial')
      .option('--name <text>', 'names containing this (any case)')
      .option('--postcode <start>', 'postcodes starting with this (GL1, GL1 2AB; spaces and case ignored)')
      .option('--serial <serial>', 'the resident with this device'),
  ).action(async (opts, cmd: Command) =>
    listResidents(cmd, { name: opts.name, postcode: opts.postcode, serial: opts.serial }, opts),
  );
  pageOptions(
    resident
      .command('search')
      .description('find residents by part of a name, a postcode, a device serial, their ref or id')
      .argument('<text>'),
  ).action(async (text: string, opts, cmd: Command) => listResidents(cmd, { q: text }, opts));
  // Kept for scripts written against the first version: `responder add` is the documented form.
  resident
    .command('responder', { hidden: true })
    .argument('<residentId>')
    .requiredOption('--name <name>')
    .requiredOption('--relationship <relationship>')
    .requiredOption('--phone <phone>')
    .option('--order <n>', 'place in the call order (1 = first)', positiveInt)
    .action((residentId: string, opts, cmd: Command) => addResponder(ctx, residentId, opts, cmd));
}

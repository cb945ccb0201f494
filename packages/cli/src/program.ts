import { readFileSync, writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import ora from 'ora';
import { CliError, EXIT, RegistryClient } from './client.ts';
import { csvLine } from './csv.ts';
import { addRulesCommands } from './rules.ts';

/**
 * Where the CLI reads and writes: the process by default; a test runs many commands in one
 * process through `runCli` with its own, which saves a Node and tsx start-up per command.
 */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** A terminal on stderr: the live progress display is shown only there. */
  interactive: boolean;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  interactive: Boolean(process.stderr.isTTY),
};

interface Globals {
  url?: string;
  token?: string;
  json?: boolean;
}

type Json = Record<string, unknown>;

const DEFAULT_URL = 'http://127.0.0.1:7020';

/**
 * The columns of both files, as the registry reads them (a test checks this list against the
 * registry's own). Examples that import as they are: packages/cli/examples/.
 */
const IMPORT_HELP = `
residents.csv — one resident a row, found again by ref on a later import:
  ref                   required  your reference for the resident, unique (GCC-000101)
  name                  required  full name (Edith Example)
  address               required  the home's address ("1 High Street, Gloucester")
  postcode              required  UK postcode, checked and normalised (gl12ab → GL1 2AB)
  phone                 optional  (01452 000001)
  livesAlone            optional  yes/no (default no)
  mobilityNotes         optional  (walks with a frame)
  riskNotes             optional  (falls at night)
  keySafe               optional  key-safe code and where it is; stored encrypted (needs REGISTRY_DATA_KEY)
  medicalSummary        optional  stored encrypted (needs REGISTRY_DATA_KEY)
  consent               optional  yes/no: the resident has consented (default no)

devices.csv — one device a row, found again by serial:
  serial                required  3–64 letters, digits, _ or - (EXM-PND-0101)
  kind                  required  pendant, pullcord, fall-detector, smoke-detector, heat-detector, co-detector,
                                  gas-detector, flood-detector, temperature-sensor, door-contact, pir, bed-sensor,
                                  chair-sensor, medication-dispenser, epilepsy-sensor, enuresis-sensor,
                                  bogus-caller-button, home-unit
  resident              optional  a ref from residents.csv, the ref of a resident already registered, or a res_… id;
                                  blank: in stock
  protocol              optional  mqtt (default) or dc09
  location              optional  where in the home (worn, hall, bedroom)
  supervisionIntervalS  optional  seconds between heartbeats before it counts as silent (3600)
  model                 optional  (Vi+)
  voiceUri              optional  a home unit's speech line, a phone number or sip: URI (sip:unit-42@pbx.example.org)
  dc09Account           optional  DC-09 only: 3–16 hex digits (E0103)
  dc09Key               optional  DC-09 only: AES key, 32/48/64 hex digits (or 16/24/32 characters with ascii)
  dc09KeyEncoding       optional  DC-09 only: hex (default) or ascii
  dc09CodeOverrides     optional  DC-09 only: CODE=event.type entries separated by ; (CID 120=fall.detected)

Importing again: a row already as stored is "unchanged", one that differs is "updated" with the fields,
a new one "created" — each row says which. A blank cell leaves a stored value as it is. A device is
not moved from one resident to another by a file (unpair it first), and its kind, protocol and DC-09
account do not change. Every refused row is named by its line and column; with any refused row
nothing is imported unless --import-valid, and the exit code is 2 either way.

Examples that import as they are: packages/cli/examples/residents.csv and packages/cli/examples/devices.csv
  telecare import packages/cli/examples/residents.csv packages/cli/examples/devices.csv
`;

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

/** `--dc09-code-override "CID 120=fall.detected"`, repeatable: the registry checks code and type. */
const codeOverride = (
  value: string,
  previous: Record<string, string> | undefined,
): Record<string, string> => {
  const at = value.indexOf('=');
  const code = value.slice(0, at).trim();
  const type = value.slice(at + 1).trim();
  if (at < 0 || !code || !type) {
    throw new InvalidArgumentError('must be CODE=event.type, like "CID 120=fall.detected"');
  }
  if (previous && code.toUpperCase() in previous) throw new InvalidArgumentError(`${code} is given twice`);
  return { ...previous, [code.toUpperCase()]: type };
};

/** Fields `--clear` may empty, by their option name, with the API field each one is. */
const clearable = (fields: Record<string, string>) => (value: string, previous: string[] | undefined) => {
  const field = fields[value];
  if (!field) throw new InvalidArgumentError(`must be one of ${Object.keys(fields).join(', ')}`);
  return [...(previous ?? []), field];
};
const RESIDENT_CLEARABLE = {
  ref: 'externalRef',
  phone: 'phone',
  'mobility-notes': 'mobilityNotes',
  'risk-notes': 'riskNotes',
  'key-safe': 'keySafe',
  'medical-summary': 'medicalSummary',
};
const DEVICE_CLEARABLE = { location: 'location', model: 'model', supervision: 'supervisionIntervalS' };
const SENSITIVE: Record<string, string> = {
  keySafe: 'keySafe',
  'key-safe': 'keySafe',
  medicalSummary: 'medicalSummary',
  'medical-summary': 'medicalSummary',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const secondsLeft = (deadline: number): number => Math.max(0, Math.round((deadline - Date.now()) / 1000));

/** Drops options the user did not give, so the registry's defaults apply. */
const given = (values: Json): Json =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));

/** Sets each field named by `--clear` to null; naming a field both to set and to clear is refused. */
function withCleared(body: Json, cleared: string[] | undefined): Json {
  for (const field of cleared ?? []) {
    if (body[field] !== undefined) throw new CliError(`${field}: both set and cleared`, EXIT.refused);
    body[field] = null;
  }
  return body;
}

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

const orDash = (value: unknown): string =>
  value === null || value === undefined || value === '' ? '-' : String(value);

const overridesText = (overrides: unknown): string => {
  const entries = Object.entries((overrides ?? {}) as Record<string, string>).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  return entries.length === 0 ? 'none' : entries.map(([code, type]) => `${code}=${type}`).join(', ');
};

const healthLine = (d: Json): string =>
  `${String(d.serial).padEnd(16)} ${d.overdue ? 'OVERDUE' : 'ok     '} heartbeat ${d.lastHeartbeatAt ?? 'never'}  battery ${d.batteryPercent ?? '?'}%  mains ${d.mains === null || d.mains === undefined ? '?' : d.mains ? 'on' : 'OFF'}  signal ${d.signalDbm ?? '?'} dBm  pendant ${d.lastPendantAt ?? '-'}`;

/**
 * Runs one command line (without the `node main.ts` part) and returns its exit code (see EXIT).
 * Nothing here exits the process: `main.ts` does, with this code.
 */
export async function runCli(args: readonly string[], io: CliIo = processIo): Promise<number> {
  const outcome = { exitCode: EXIT.ok as number };
  const program = buildProgram(io, outcome);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return outcome.exitCode;
  } catch (err) {
    // Commander's own ends: help and version are fine; a usage error is "refused".
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.refused;
    const json = program.opts<Globals>().json;
    if (err instanceof CliError) {
      if (json) io.stdout(`${JSON.stringify({ error: err.message, details: err.body ?? null })}\n`);
      else io.stderr(`telecare: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr(`telecare: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.unavailable;
  }
}

export function buildProgram(io: CliIo = processIo, outcome = { exitCode: EXIT.ok as number }): Command {
  const program = new Command('telecare')
    .description('Register residents and devices, prove devices reach the helpline, keep the fleet healthy.')
    .option('--url <url>', `registry URL (default: TELECARE_REGISTRY_URL, else ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (default: TELECARE_TOKEN, else TELECARE_ADMIN_TOKEN)')
    .option('--json', 'print JSON for scripts instead of text')
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) })
    .showHelpAfterError()
    .exitOverride();

  const ctx = (cmd: Command) => {
    const globals = cmd.optsWithGlobals<Globals>();
    const client = new RegistryClient(
      globals.url ?? io.env.TELECARE_REGISTRY_URL ?? DEFAULT_URL,
      globals.token ?? io.env.TELECARE_TOKEN ?? io.env.TELECARE_ADMIN_TOKEN,
    );
    const print = (value: unknown, human: () => string) => {
      io.stdout(`${globals.json ? JSON.stringify(value) : human()}\n`);
    };
    return { client, print, json: Boolean(globals.json) };
  };

  const resident = program.command('resident').description('residents');
  resident
    .command('add')
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
    .action(async (opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const created = await client.request<Json>(
        'POST',
        '/api/residents',
        given({
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
        }),
      );
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
    .option(
      '--clear <field>',
      `empty a field (repeatable): ${Object.keys(RESIDENT_CLEARABLE).join(', ')}`,
      clearable(RESIDENT_CLEARABLE),
    )
    .action(async (residentId: string, opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
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
        }),
        opts.clear,
      );
      if (Object.keys(body).length === 0) {
        throw new CliError('nothing to change: give at least one field or --clear', EXIT.refused);
      }
      const out = await client.request<Json>('PATCH', `/api/residents/${path(residentId)}`, body);
      print(out, () => `resident ${out.id} updated (${Object.keys(body).join(', ')})`);
    });
  resident
    .command('show')
    .description('a resident with responders and devices (sensitive fields masked: see reveal)')
    .argument('<residentId>')
    .action(async (residentId: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const base = `/api/residents/${path(residentId)}`;
      const r = await client.request<Json>('GET', base);
      const [{ responders }, { devices }] = await Promise.all([
        client.request<{ responders: Json[] }>('GET', `${base}/responders`),
        client.request<{ devices: Json[] }>('GET', `/api/devices?residentId=${path(residentId)}`),
      ]);
      print({ resident: r, responders, devices }, () =>
        [
          `${r.id}  ${r.name}`,
          `  address       ${r.address}, ${r.postcode} (district ${r.postcodeDistrict})`,
          `  ref           ${orDash(r.externalRef)}`,
          `  phone         ${orDash(r.phone)}`,
          `  lives alone   ${r.livesAlone ? 'yes' : 'no'}`,
          `  consent       ${r.consent ? `yes (${r.consentAt ?? 'date unknown'})` : 'no'}`,
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
    const { client, print } = ctx(cmd);
    const offset = (opts.page - 1) * opts.limit;
    const query = new URLSearchParams(
      given({ ...filter, limit: String(opts.limit), offset: String(offset) }) as Record<string, string>,
    );
    const out = await client.request<{ residents: Json[]; total: number; limit: number; offset: number }>(
      'GET',
      `/api/residents?${query}`,
    );
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
    .action((residentId: string, opts, cmd: Command) => addResponder(residentId, opts, cmd));

  const responderList = (out: { responders: Json[] }) =>
    out.responders.length === 0
      ? 'no responders'
      : out.responders
          .map((r) => `${r.order}. ${r.name} (${r.relationship}) ${r.phone}  [${r.id}]`)
          .join('\n');

  const addResponder = async (
    residentId: string,
    opts: { name: string; relationship: string; phone: string; order?: number },
    cmd: Command,
  ) => {
    const { client, print } = ctx(cmd);
    const out = await client.request<{ responders: Json[] }>(
      'POST',
      `/api/residents/${path(residentId)}/responders`,
      given({ name: opts.name, relationship: opts.relationship, phone: opts.phone, order: opts.order }),
    );
    print(out, () => responderList(out));
  };

  const responder = program.command('responder').description('a resident’s call list, in order');
  responder
    .command('add')
    .description('add a responder (last, or at --order, moving later ones down)')
    .argument('<residentId>')
    .requiredOption('--name <name>')
    .requiredOption('--relationship <relationship>')
    .requiredOption('--phone <phone>')
    .option('--order <n>', 'place in the call order (1 = first)', positiveInt)
    .action((residentId: string, opts, cmd: Command) => addResponder(residentId, opts, cmd));
  responder
    .command('list')
    .description('the call list, in order')
    .argument('<residentId>')
    .action(async (residentId: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<{ responders: Json[] }>(
        'GET',
        `/api/residents/${path(residentId)}/responders`,
      );
      print(out, () => responderList(out));
    });
  responder
    .command('remove')
    .description('remove a responder (the ones after move up)')
    .argument('<residentId>')
    .argument('<responderId>')
    .action(async (residentId: string, responderId: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<{ responders: Json[] }>(
        'DELETE',
        `/api/residents/${path(residentId)}/responders/${path(responderId)}`,
      );
      print(out, () => responderList(out));
    });

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
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>('POST', `/api/residents/${path(residentId)}/reveal`, {
        fields: [...new Set(opts.field)],
        reason: opts.reason,
      });
      print(out, () =>
        [
          ...[...new Set(opts.field)].map((f) => `${f.padEnd(15)} ${out[f] ?? '(not set)'}`),
          'This read is recorded in the resident’s audit (who, when, which field, why).',
        ].join('\n'),
      );
    });

  const device = program.command('device').description('register, pair, change and retire devices');
  device
    .command('register')
    .description('register a device; an MQTT device gets its secret, shown this once')
    .requiredOption('--serial <serial>')
    .requiredOption('--kind <kind>', 'pendant, fall-detector, smoke-detector, home-unit…')
    .option('--resident <residentId>', 'pair it with a resident now')
    .option('--location <location>', 'where in the home')
    .option('--supervision <seconds>', 'heartbeat supervision interval', positiveInt)
    .option('--protocol <protocol>', 'mqtt or dc09')
    .option('--model <model>')
    .option('--dc09-account <account>')
    .option('--dc09-key <key>')
    .option('--dc09-key-encoding <encoding>', 'hex or ascii')
    .option(
      '--dc09-code-override <code=type>',
      'remap a vendor code, e.g. "CID 120=fall.detected" (repeatable)',
      codeOverride,
    )
    .action(async (opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const created = await client.request<Json>(
        'POST',
        '/api/devices',
        given({
          serial: opts.serial,
          kind: opts.kind,
          residentId: opts.resident,
          location: opts.location,
          supervisionIntervalS: opts.supervision,
          protocol: opts.protocol,
          model: opts.model,
          dc09Account: opts.dc09Account,
          dc09Key: opts.dc09Key,
          dc09KeyEncoding: opts.dc09KeyEncoding,
          dc09CodeOverrides: opts.dc09CodeOverride,
        }),
      );
      print(created, () => {
        const lines = [`device ${created.serial} registered (${created.state})`];
        const credentials = created.credentials as { username: string; secret: string } | undefined;
        if (credentials) {
          lines.push(`MQTT username: ${credentials.username}`);
          lines.push(`MQTT secret:   ${credentials.secret}`);
          lines.push('Write the secret into the device now: it is not shown again.');
        }
        return lines.join('\n');
      });
    });
  device
    .command('pair')
    .description('pair a device with a resident (installs it)')
    .argument('<serial>')
    .requiredOption('--resident <residentId>')
    .option('--location <location>')
    .action(async (serial: string, opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>(
        'PATCH',
        `/api/devices/${path(serial)}`,
        given({ residentId: opts.resident, location: opts.location }),
      );
      print(out, () => `device ${out.serial} paired with ${out.residentId} (${out.state})`);
    });
  device
    .command('update')
    .description('change a device: only the fields given change')
    .argument('<serial>')
    .option('--resident <residentId>', 'pair with this resident')
    .option('--unpair', 'take it from its resident (back to stock)')
    .option('--location <location>')
    .option('--supervision <seconds>', 'heartbeat supervision interval', positiveInt)
    .option('--model <model>')
    .addOption(new Option('--state <state>').choices(['stock', 'installed', 'faulty']))
    .option('--dc09-key <key>', 'a new DC-09 key (stored encrypted)')
    .option('--dc09-key-encoding <encoding>', 'hex or ascii')
    .option(
      '--dc09-code-override <code=type>',
      'remap a vendor code, e.g. "CID 120=fall.detected" (repeatable; the ones given replace the device’s whole set)',
      codeOverride,
    )
    .option('--clear-dc09-code-overrides', 'remove every code override')
    .option(
      '--clear <field>',
      `empty a field (repeatable): ${Object.keys(DEVICE_CLEARABLE).join(', ')}`,
      clearable(DEVICE_CLEARABLE),
    )
    .action(async (serial: string, opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      if (opts.resident && opts.unpair)
        throw new CliError('--resident and --unpair: choose one', EXIT.refused);
      if (opts.dc09CodeOverride && opts.clearDc09CodeOverrides) {
        throw new CliError('--dc09-code-override and --clear-dc09-code-overrides: choose one', EXIT.refused);
      }
      const body = withCleared(
        given({
          residentId: opts.unpair ? null : opts.resident,
          location: opts.location,
          supervisionIntervalS: opts.supervision,
          model: opts.model,
          state: opts.state,
          dc09Key: opts.dc09Key,
          dc09KeyEncoding: opts.dc09KeyEncoding,
          dc09CodeOverrides: opts.clearDc09CodeOverrides ? {} : opts.dc09CodeOverride,
        }),
        opts.clear,
      );
      if (Object.keys(body).length === 0) {
        throw new CliError('nothing to change: give at least one field or --clear', EXIT.refused);
      }
      const out = await client.request<Json>('PATCH', `/api/devices/${path(serial)}`, body);
      print(out, () =>
        [
          `device ${out.serial} updated (${Object.keys(body).join(', ')}): ${out.state}`,
          ...(body.dc09CodeOverrides ? [`code overrides: ${overridesText(out.dc09CodeOverrides)}`] : []),
        ].join('\n'),
      );
    });
  device
    .command('show')
    .description('a device, its credential and DC-09 settings, and its health')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const d = await client.request<Json>('GET', `/api/devices/${path(serial)}`);
      const health = await client.request<Json>('GET', `/api/devices/${path(serial)}/health`);
      print({ device: d, health }, () =>
        [
          `${d.serial}  ${d.kind} (${d.protocol})  ${d.state}${d.testMode ? ', test mode' : ''}  [${d.id}]`,
          `  resident      ${orDash(d.residentId)}`,
          `  location      ${orDash(d.location)}`,
          `  model         ${orDash(d.model)}`,
          `  supervision   ${d.supervisionIntervalS === null ? '-' : `${d.supervisionIntervalS} s`}`,
          ...(d.protocol === 'mqtt'
            ? [`  secret issued ${orDash(d.credentialIssuedAt)}`]
            : [
                `  DC-09 account ${orDash(d.dc09Account)}, key ${d.dc09KeySet ? `set (${d.dc09KeyEncoding})` : 'not set'}`,
                `  code overrides ${overridesText(d.dc09CodeOverrides)}`,
              ]),
          ...(d.decommissionedAt ? [`  decommissioned ${d.decommissionedAt}`] : []),
          `health  ${healthLine({ ...health, serial: '' }).trim()}`,
        ].join('\n'),
      );
    });
  device
    .command('secret')
    .description('issue a new MQTT secret (the old one stops working)')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>('POST', `/api/devices/${path(serial)}/credentials`);
      const credentials = out.credentials as { username: string; secret: string };
      print(out, () => `MQTT username: ${credentials.username}\nMQTT secret:   ${credentials.secret}`);
    });
  device
    .command('decommission')
    .description('retire a device: removed from the map, its credential revoked')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>('POST', `/api/devices/${path(serial)}/decommission`);
      print(out, () => `device ${out.serial} decommissioned`);
    });

  program
    .command('test')
    .description(
      'run a test call: put the device in test mode, set it off as its kind is meant to be (press, fall, smoke, get into bed…), wait for the verdict',
    )
    .argument('<serial>')
    .option('--timeout <seconds>', 'how long to wait for the trigger', positiveInt)
    .action(async (serial: string, opts, cmd: Command) => {
      const { client, print, json } = ctx(cmd);
      const testPath = `/api/devices/${path(serial)}/test`;
      const started = await client.request<Json>('POST', testPath, given({ timeoutS: opts.timeout }));
      const deadline = Date.parse(started.deadline as string);
      const expected = (started.expected as string[] | undefined)?.join(' or ') ?? 'its trigger';
      const ask = `${serial} (${started.kind}): ${started.action} now`;
      // The instruction always (a log of the run says what was asked); the live display only on a terminal.
      if (!json)
        io.stderr(`test mode on for ${ask}; waiting up to ${secondsLeft(deadline)} s for ${expected}\n`);
      // ora writes to the real stderr, whatever `io` is.
      const spinner = ora({
        stream: process.stderr,
        isEnabled: !json && io.interactive,
        isSilent: json || !io.interactive,
      });
      spinner.start(ask);
      let test = started;
      while (test.status === 'waiting') {
        await sleep(500);
        test = await client.request<Json>('GET', testPath);
        const state = test.progress === 'connected, no trigger yet' ? 'connected, no trigger yet — ' : '';
        spinner.text = `${state}${ask} (${secondsLeft(deadline)} s left)`;
      }
      const arrived = ((test.arrived as Json[] | undefined) ?? []).map(
        (a) => `arrived: ${a.type} at ${a.at}${a.trigger ? ' (the trigger)' : ' (not the trigger)'}`,
      );
      if (test.status === 'passed') {
        spinner.succeed(`${serial} reached the platform`);
        print(test, () =>
          [
            `PASS ${serial}: ${test.eventType} arrived end to end in ${test.latencyMs} ms`,
            `battery ${test.batteryPercent ?? 'unknown'}%, signal ${test.signalDbm ?? 'unknown'} dBm`,
            ...arrived,
          ].join('\n'),
        );
        return;
      }
      spinner.fail(
        test.progress === 'connected, no trigger yet'
          ? `${serial} is connected, but its trigger did not arrive`
          : `${serial} did not reach the platform`,
      );
      print(test, () => [`FAIL ${serial}: ${test.reason ?? test.status}`, ...arrived].join('\n'));
      outcome.exitCode = EXIT.failed;
    });

  program
    .command('health')
    .description('device health: last heartbeat, battery, mains, signal, last pendant use')
    .argument('[serial]')
    .option('--overdue', 'only devices past their supervision interval')
    .option('--battery-below <percent>', 'only batteries below this level, lowest first', positiveInt)
    .action(async (serial: string | undefined, opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const rows: Json[] = serial
        ? [await client.request<Json>('GET', `/api/devices/${path(serial)}/health`)]
        : (
            await client.request<{ devices: Json[] }>(
              'GET',
              `/api/devices/health?${new URLSearchParams(
                given({
                  overdue: opts.overdue ? 'true' : undefined,
                  batteryBelow: opts.batteryBelow?.toString(),
                }) as Record<string, string>,
              )}`,
            )
          ).devices;
      print(serial ? rows[0] : { devices: rows }, () =>
        rows.length === 0 ? 'no devices' : rows.map(healthLine).join('\n'),
      );
    });

  program
    .command('token')
    .description('API tokens')
    .command('create')
    .description('create an API token (shown once)')
    .requiredOption('--name <name>')
    .requiredOption('--role <role>', 'admin, installer, operator, supervisor or commissioner')
    .action(async (opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>('POST', '/api/tokens', { name: opts.name, role: opts.role });
      print(out, () => `token ${out.id} (${out.role}): ${out.token}\nKeep it now: it is not shown again.`);
    });

  program
    .command('import')
    .description(
      'import residents.csv and/or devices.csv (told apart by their header); a resident is found again by its ref, a device by its serial, so a file can be imported again',
    )
    .argument('<files...>')
    .option('--import-valid', 'import the valid rows even if others are bad (the exit code is still 2)')
    .option(
      '--secrets-file <path>',
      'write the MQTT secrets issued to imported devices to this CSV (serial,username,secret; mode 0600) instead of the screen',
    )
    .addHelpText('after', IMPORT_HELP)
    .action(async (files: string[], opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const body: Json = { importValid: Boolean(opts.importValid) };
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.refused);
        }
        const header = text.split(/\r?\n/, 1)[0] ?? '';
        body[/(^|,)\s*"?serial"?\s*(,|$)/.test(header) ? 'devices' : 'residents'] = text;
      }
      const out = await client.request<{
        imported: boolean;
        residents: Array<{ line: number; ref: string; id: string; action: string; fields: string[] }>;
        devices: Array<{ line: number; serial: string; action: string; fields: string[] }>;
        credentials?: Array<{ serial: string; username: string; secret: string }>;
        errors: Array<{ file: string; line: number; field: string; message: string }>;
      }>('POST', '/api/import', body);
      const issued = out.credentials ?? [];
      if (opts.secretsFile && issued.length > 0) {
        writeFileSync(
          opts.secretsFile,
          [
            'serial,username,secret',
            ...issued.map((c) => csvLine([c.serial, c.username, c.secret])),
            '',
          ].join('\n'),
          { mode: 0o600 },
        );
      }
      const done = (action: string, fields: string[]) =>
        action === 'updated' ? `updated (${fields.join(', ')})` : action;
      const counts = (rows: Array<{ action: string }>) => {
        const n = (action: string) => rows.filter((r) => r.action === action).length;
        return `${n('created')} created, ${n('updated')} updated, ${n('unchanged')} unchanged`;
      };
      const refusedRows = new Set(out.errors.filter((e) => e.line > 1).map((e) => `${e.file}:${e.line}`))
        .size;
      print(out, () =>
        [
          ...out.errors.map((e) => `${e.file}.csv line ${e.line}, column ${e.field}: ${e.message}`),
          ...out.residents.map(
            (r) => `residents.csv line ${r.line}: ${r.ref} ${r.id} ${done(r.action, r.fields)}`,
          ),
          ...out.devices.map((d) => `devices.csv line ${d.line}: ${d.serial} ${done(d.action, d.fields)}`),
          out.imported
            ? `residents: ${counts(out.residents)}; devices: ${counts(out.devices)}${refusedRows > 0 ? `; ${refusedRows} rows refused` : ''}`
            : 'nothing imported',
          ...(issued.length === 0
            ? []
            : opts.secretsFile
              ? [`${issued.length} MQTT secrets written to ${opts.secretsFile}: they are not shown again.`]
              : [
                  'MQTT secrets (write each into its device now: they are not shown again):',
                  ...issued.map((c) => `  ${c.username.padEnd(20)} ${c.secret}`),
                ]),
        ].join('\n'),
      );
      // Refused rows are exit 2 even when the good ones went in: a script must not take it for a clean run.
      if (!out.imported || out.errors.length > 0) outcome.exitCode = EXIT.refused;
    });

  const carePackage = program
    .command('care-package')
    .description('hours of care at home per week (for the commissioners’ reports)');
  const packageLine = (p: Json) =>
    `${p.id}  ${p.hoursPerWeek} h/week  ${p.startDate} to ${p.endDate ?? '(open)'}`;
  carePackage
    .command('add')
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
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>(
        'POST',
        `/api/residents/${path(residentId)}/care-packages`,
        given({ hoursPerWeek: opts.hoursPerWeek, startDate: opts.start, endDate: opts.end }),
      );
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
      const { client, print } = ctx(cmd);
      const out = await client.request<{ carePackages: Json[] }>(
        'GET',
        `/api/residents/${path(residentId)}/care-packages`,
      );
      print(out, () =>
        out.carePackages.length === 0 ? 'no care packages' : out.carePackages.map(packageLine).join('\n'),
      );
    });

  addRulesCommands(program, io);
  return program;
}

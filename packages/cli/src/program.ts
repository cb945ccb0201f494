import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import ora from 'ora';
import { CliError, EXIT, RegistryClient } from './client.ts';

interface Globals {
  url: string;
  token?: string;
  json?: boolean;
}

type Json = Record<string, unknown>;

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Drops options the user did not give, so the registry's defaults apply. */
const given = (values: Json): Json =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));

export function buildProgram(): Command {
  const program = new Command('telecare')
    .description('Register residents and devices, prove devices reach the helpline, keep the fleet healthy.')
    .addOption(
      new Option('--url <url>', 'registry URL').env('TELECARE_REGISTRY_URL').default('http://127.0.0.1:7020'),
    )
    .addOption(new Option('--token <token>', 'API token (or TELECARE_ADMIN_TOKEN)').env('TELECARE_TOKEN'))
    .option('--json', 'print JSON for scripts instead of text')
    .showHelpAfterError()
    .exitOverride((err) => {
      // Commander's own exits (help, version) keep their code; usage errors are "refused".
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
      process.exit(EXIT.refused);
    });

  const ctx = (cmd: Command) => {
    const globals = cmd.optsWithGlobals<Globals>();
    const client = new RegistryClient(globals.url, globals.token ?? process.env.TELECARE_ADMIN_TOKEN);
    const print = (value: unknown, human: () => string) => {
      process.stdout.write(`${globals.json ? JSON.stringify(value) : human()}\n`);
    };
    return { client, print, json: Boolean(globals.json) };
  };

  const resident = program.command('resident').description('residents and their responders');
  resident
    .command('add')
    .description('add a resident')
    .requiredOption('--name <name>')
    .requiredOption('--address <address>')
    .requiredOption('--postcode <postcode>')
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
    .command('responder')
    .description('add a responder to a resident’s call list')
    .argument('<residentId>')
    .requiredOption('--name <name>')
    .requiredOption('--relationship <relationship>')
    .requiredOption('--phone <phone>')
    .option('--order <n>', 'place in the call order (1 = first)', positiveInt)
    .action(async (residentId: string, opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<{ responders: Array<Json> }>(
        'POST',
        `/api/residents/${encodeURIComponent(residentId)}/responders`,
        given({ name: opts.name, relationship: opts.relationship, phone: opts.phone, order: opts.order }),
      );
      print(out, () =>
        out.responders.map((r) => `${r.order}. ${r.name} (${r.relationship}) ${r.phone}`).join('\n'),
      );
    });

  const device = program.command('device').description('register, pair and retire devices');
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
        `/api/devices/${encodeURIComponent(serial)}`,
        given({ residentId: opts.resident, location: opts.location }),
      );
      print(out, () => `device ${out.serial} paired with ${out.residentId} (${out.state})`);
    });
  device
    .command('secret')
    .description('issue a new MQTT secret (the old one stops working)')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>(
        'POST',
        `/api/devices/${encodeURIComponent(serial)}/credentials`,
      );
      const credentials = out.credentials as { username: string; secret: string };
      print(out, () => `MQTT username: ${credentials.username}\nMQTT secret:   ${credentials.secret}`);
    });
  device
    .command('decommission')
    .description('retire a device: removed from the map, its credential revoked')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { client, print } = ctx(cmd);
      const out = await client.request<Json>(
        'POST',
        `/api/devices/${encodeURIComponent(serial)}/decommission`,
      );
      print(out, () => `device ${out.serial} decommissioned`);
    });

  program
    .command('test')
    .description('run a test call: put the device in test mode, press it, wait for the verdict')
    .argument('<serial>')
    .option('--timeout <seconds>', 'how long to wait for the press', positiveInt)
    .action(async (serial: string, opts, cmd: Command) => {
      const { client, print, json } = ctx(cmd);
      const path = `/api/devices/${encodeURIComponent(serial)}/test`;
      const started = await client.request<Json>('POST', path, given({ timeoutS: opts.timeout }));
      const deadline = Date.parse(started.deadline as string);
      const spinner = ora({ stream: process.stderr, isEnabled: !json && process.stderr.isTTY });
      spinner.start(`test mode on: press ${serial} now`);
      let test = started;
      while (test.status === 'waiting') {
        await sleep(500);
        test = await client.request<Json>('GET', path);
        const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
        spinner.text = `waiting for ${serial} — press it now (${left} s left)`;
      }
      if (test.status === 'passed') {
        spinner.succeed(`${serial} reached the platform`);
        print(test, () =>
          [
            `PASS ${serial}: ${test.eventType} arrived end to end in ${test.latencyMs} ms`,
            `battery ${test.batteryPercent ?? 'unknown'}%, signal ${test.signalDbm ?? 'unknown'} dBm`,
          ].join('\n'),
        );
        return;
      }
      spinner.fail(`${serial} did not reach the platform`);
      print(test, () => `FAIL ${serial}: ${test.reason ?? test.status}`);
      process.exitCode = EXIT.failed;
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
        ? [await client.request<Json>('GET', `/api/devices/${encodeURIComponent(serial)}/health`)]
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
        rows.length === 0
          ? 'no devices'
          : rows
              .map(
                (d) =>
                  `${String(d.serial).padEnd(16)} ${d.overdue ? 'OVERDUE' : 'ok     '} heartbeat ${d.lastHeartbeatAt ?? 'never'}  battery ${d.batteryPercent ?? '?'}%  mains ${d.mains === null ? '?' : d.mains ? 'on' : 'OFF'}  signal ${d.signalDbm ?? '?'} dBm  pendant ${d.lastPendantAt ?? '-'}`,
              )
              .join('\n'),
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
    .description('import residents.csv and/or devices.csv (told apart by their header)')
    .argument('<files...>')
    .option('--import-valid', 'import the valid rows even if others are bad')
    .option(
      '--secrets-file <path>',
      'write the MQTT secrets issued to imported devices to this CSV (serial,username,secret; mode 0600) instead of the screen',
    )
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
        residents: unknown[];
        devices: unknown[];
        credentials?: Array<{ serial: string; username: string; secret: string }>;
        errors: Array<{ file: string; line: number; field: string; message: string }>;
      }>('POST', '/api/import', body);
      const issued = out.credentials ?? [];
      if (opts.secretsFile && issued.length > 0) {
        writeFileSync(
          opts.secretsFile,
          ['serial,username,secret', ...issued.map((c) => `${c.serial},${c.username},${c.secret}`), ''].join(
            '\n',
          ),
          { mode: 0o600 },
        );
      }
      print(out, () =>
        [
          ...out.errors.map((e) => `${e.file}.csv line ${e.line}: ${e.field}: ${e.message}`),
          out.imported
            ? `imported ${out.residents.length} residents and ${out.devices.length} devices`
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
      if (!out.imported) process.exitCode = EXIT.refused;
    });

  return program;
}

import { type Command, Option } from 'commander';
import { CliError, EXIT } from '../client.ts';
import {
  type Commands,
  clearable,
  codeOverride,
  DEVICE_CLEARABLE,
  given,
  healthLine,
  keyHeaders,
  orDash,
  overridesText,
  positiveInt,
  wholeSeconds,
  withCleared,
  withIdempotencyKey,
} from './shared.ts';

/** `telecare device register|pair|update|show|secret|decommission`. */
export function addDeviceCommands(program: Command, { ctx }: Commands): void {
  const device = program.command('device').description('register, pair, change and retire devices');
  withIdempotencyKey(device.command('register'))
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
    .option(
      '--dc09-clock-zone <zone>',
      'the zone the panel’s clock is set to when not UTC, e.g. Europe/London (IANA name)',
    )
    .action(async (opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const created = await api.createDevice({
        ...keyHeaders(opts),
        body: given({
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
          dc09ClockZone: opts.dc09ClockZone,
        }),
      });
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
      const { api, print } = ctx(cmd);
      const out = await api.updateDevice({
        params: { serial },
        body: given({ residentId: opts.resident, location: opts.location }),
      });
      print(out, () =>
        [`device ${out.serial} paired with ${out.residentId} (${out.state})`, ...newSecretLines(out)].join(
          '\n',
        ),
      );
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
      '--dc09-key-grace <seconds>',
      'how long the key --dc09-key replaces is still accepted (default: the registry’s, 72 h); 0 refuses it at once (a compromised key); alone, shortens or ends the grace of the previous key',
      wholeSeconds,
    )
    .option(
      '--dc09-code-override <code=type>',
      'remap a vendor code, e.g. "CID 120=fall.detected" (repeatable; the ones given replace the device’s whole set)',
      codeOverride,
    )
    .option('--clear-dc09-code-overrides', 'remove every code override')
    .option(
      '--dc09-clock-zone <zone>',
      'the zone the panel’s clock is set to when not UTC, e.g. Europe/London (IANA name)',
    )
    .option(
      '--clear <field>',
      `empty a field (repeatable): ${Object.keys(DEVICE_CLEARABLE).join(', ')}`,
      clearable(DEVICE_CLEARABLE),
    )
    .action(async (serial: string, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
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
          dc09KeyGraceS: opts.dc09KeyGrace,
          dc09CodeOverrides: opts.clearDc09CodeOverrides ? {} : opts.dc09CodeOverride,
          dc09ClockZone: opts.dc09ClockZone,
        }),
        opts.clear,
      );
      if (Object.keys(body).length === 0) {
        throw new CliError('nothing to change: give at least one field or --clear', EXIT.refused);
      }
      const out = await api.updateDevice({ params: { serial }, body });
      print(out, () =>
        [
          `device ${out.serial} updated (${Object.keys(body).join(', ')}): ${out.state}`,
          ...(body.dc09CodeOverrides ? [`code overrides: ${overridesText(out.dc09CodeOverrides)}`] : []),
          ...newSecretLines(out),
        ].join('\n'),
      );
    });
  device
    .command('show')
    .description('a device, its credential and DC-09 settings, and its health')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const d = await api.getDevice({ params: { serial } });
      const health = await api.deviceHealth({ params: { serial } });
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
                `  clock zone    ${d.dc09ClockZone ?? 'UTC'}`,
                ...(health.dc09PreviousKey
                  ? [
                      `  previous key  accepted until ${health.dc09PreviousKey.until}; ${
                        health.dc09PreviousKey.lastUsedAt
                          ? `last used ${health.dc09PreviousKey.lastUsedAt}: the panel is not re-keyed yet`
                          : 'not used since the change'
                      }`,
                    ]
                  : []),
              ]),
          ...(d.decommissionedAt ? [`  decommissioned ${d.decommissionedAt}`] : []),
          `health  ${healthLine({ ...health, serial: '' }).trim()}`,
        ].join('\n'),
      );
    });
  withIdempotencyKey(device.command('secret'))
    .description('issue a new MQTT secret (the old one stops working)')
    .argument('<serial>')
    .action(async (serial: string, opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.issueCredentials({ ...keyHeaders(opts), params: { serial } });
      const credentials = out.credentials as { username: string; secret: string };
      print(out, () => `MQTT username: ${credentials.username}\nMQTT secret:   ${credentials.secret}`);
    });
  device
    .command('decommission')
    .description('retire a device: removed from the map, its credential revoked')
    .argument('<serial>')
    .action(async (serial: string, _opts, cmd: Command) => {
      const { api, print } = ctx(cmd);
      const out = await api.decommissionDevice({ params: { serial } });
      print(out, () => `device ${out.serial} decommissioned`);
    });
}

/** A device that left its resident was issued a new secret: shown this once. */
function newSecretLines(out: { credentials?: { username: string; secret: string } | undefined }): string[] {
  if (!out.credentials) return [];
  return [
    `MQTT username: ${out.credentials.username}`,
    `MQTT secret:   ${out.credentials.secret}`,
    'It left its resident, so it has a new secret and the old one no longer works: write this one into the device now; it is not shown again.',
  ];
}

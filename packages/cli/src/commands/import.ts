import { closeSync, fchmodSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { csvRow, IMPORT_BODY_LIMIT } from '@telecare/contracts';
import { type Command, Option } from 'commander';
import { CliError, EXIT } from '../client.ts';
import { type Commands, type Json, keyHeaders, liveLine, withIdempotencyKey } from './shared.ts';

/**
 * The columns of both files, as the registry reads them (a test checks this list against the
 * registry's own). From a spreadsheet: save as "CSV UTF-8" (Excel's plain "CSV" on Windows: --encoding windows-1252), and
format the serial, phone and ref columns as Text before typing, or a spreadsheet drops a leading 0
and shows long numbers as 1.23457E+11. Header names may be in any case; blank rows are skipped; a
phone without its leading 0, a value in scientific notation or a date as a day number is refused
on its line, never repaired by a guess.

Examples that import as they are: packages/cli/examples/.
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
  referredOn            optional  YYYY-MM-DD or DD/MM/YYYY (day first): when referred for telecare
  firstInstalledOn      optional  YYYY-MM-DD or DD/MM/YYYY: when telecare was first installed, from earlier records

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
  dc09ClockZone         optional  DC-09 only: the zone the panel's clock is on when not UTC, an IANA name (Europe/London)

Importing again: a row already as stored is "unchanged", one that differs is "updated" with the fields,
a new one "created" — each row says which. A blank cell leaves a stored value as it is. A device is
not moved from one resident to another by a file (unpair it first), and its kind, protocol and DC-09
account do not change. Every refused row is named by its line and column; with any refused row
nothing is imported unless --import-valid, and the exit code is 2 either way.

Examples that import as they are: packages/cli/examples/residents.csv and packages/cli/examples/devices.csv
  telecare import packages/cli/examples/residents.csv packages/cli/examples/devices.csv
`;

/** `telecare import`: residents.csv and devices.csv. */
export function addImportCommand(program: Command, { ctx, io, outcome }: Commands): void {
  withIdempotencyKey(program.command('import'))
    .description(
      'import residents.csv and/or devices.csv (told apart by their header); a resident is found again by its ref, a device by its serial, so a file can be imported again',
    )
    .argument('<files...>')
    .option('--import-valid', 'import the valid rows even if others are bad (the exit code is still 2)')
    .addOption(
      new Option(
        '--encoding <encoding>',
        'how a file that is not UTF-8 is read: windows-1252 for Excel\'s plain "CSV (Comma delimited)" on Windows',
      ).choices(['windows-1252']),
    )
    .option(
      '--secrets-file <path>',
      'write the MQTT secrets issued to imported devices to this CSV (serial,username,secret; mode 0600) instead of the screen',
    )
    .addHelpText('after', IMPORT_HELP)
    .action(async (files: string[], opts, cmd: Command) => {
      const { apiWaiting, print, json } = ctx(cmd);
      const body: Json = { importValid: Boolean(opts.importValid) };
      const sizes: string[] = [];
      let lines = 0;
      for (const file of files) {
        const text = readSpreadsheetCsv(file, opts.encoding);
        const header = text.split(/\r?\n/, 1)[0] ?? '';
        body[/(^|,)\s*"?\s*serial\s*"?\s*(,|$)/i.test(header) ? 'devices' : 'residents'] = text;
        const count = text.split('\n').length - 1 || 1;
        lines += count;
        sizes.push(`${basename(file)} (${count} lines)`);
      }
      const size = Buffer.byteLength(JSON.stringify(body));
      if (size > IMPORT_BODY_LIMIT) throw tooLarge(files.map((f) => basename(f)).join(' and '), size);
      const wait = importWaitMs(lines);
      // One request: the registry checks every row, then writes them all or none, so the live line
      // says what was sent and for how long the registry has been at it.
      const started = Date.now();
      const sent = `importing ${sizes.join(' and ')}: the registry checks every row, then writes`;
      const spinner = liveLine(io, json, sent);
      const ticking = setInterval(() => {
        spinner.text = `${sent} (${Math.round((Date.now() - started) / 1000)} s)`;
      }, 1000);
      const out = await apiWaiting(wait)
        .importCsv({ ...keyHeaders(opts), body })
        .catch((err: unknown) => {
          if (!(err instanceof CliError && err.timedOut)) throw err;
          throw new CliError(unansweredImport(wait, opts.idempotencyKey), EXIT.unavailable);
        })
        .finally(() => {
          clearInterval(ticking);
          spinner.stop();
        });
      const issued = out.credentials ?? [];
      if (opts.secretsFile && issued.length > 0) {
        writeOwnerOnly(
          opts.secretsFile,
          [
            csvRow(['serial', 'username', 'secret']),
            ...issued.map((c) => csvRow([c.serial, c.username, c.secret])),
            '',
          ].join('\n'),
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
          ...(out.pending
            ? [
                `${out.pending} devices not yet in the device map or DC-09 accounts (NATS not reached): the registry keeps trying`,
              ]
            : []),
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
}

/**
 * How long an import is waited for. The registry writes each row and publishes each device in
 * turn — about 6 ms a device row on a busy 2-core machine, so a 20,000-row devices.csv takes
 * nearly two minutes and the largest file it accepts four — and a CLI that gave up at a fixed
 * two minutes reported a failure for an import that went on to be written, its MQTT secrets shown
 * to no one. Two minutes, and 20 ms more a line.
 */
export const importWaitMs = (lines: number): number => 120_000 + 20 * lines;

/** A request larger than the registry takes, refused before it is sent, saying what to do. */
const tooLarge = (what: string, bytes: number): CliError =>
  new CliError(
    `${what}: ${(bytes / 1_048_576).toFixed(1)} MiB to send, and the registry takes at most ${IMPORT_BODY_LIMIT / 1_048_576} MiB an import (some 40,000 short rows): split the rows into files below that, each with the header, and import them one after another (each file is all or nothing on its own)`,
    EXIT.refused,
  );

/** What an import that was not answered in time may have done, and how to find out. */
function unansweredImport(waitMs: number, key: string | undefined): string {
  const again = key
    ? `run the same command with the same --idempotency-key ${key}: it answers with that import's rows, or does it once if it was not written`
    : 'run the same command again: each row then says whether it is in (unchanged) or what it changes, and nothing is added twice';
  return `the registry did not answer the import within ${Math.round(waitMs / 1000)} s: it may have been written all the same; ${again}. An MQTT device it created has a secret no one was shown: issue a new one with telecare device secret <serial>`;
}

/**
 * A CSV file's text. A spreadsheet's UTF-8 export is read as it is; a file that is not UTF-8 is
 * refused, naming the first line that is not, unless `--encoding windows-1252` says what it is
 * (Excel's plain "CSV" on Windows): read in another encoding, "Zoë" would arrive as "Zo�" or "ZoÃ«".
 */
function readSpreadsheetCsv(file: string, encoding: string | undefined): string {
  let bytes: Buffer;
  try {
    // Not read whole when it cannot be sent: a file the registry would refuse is refused here.
    const size = statSync(file).size;
    if (size > IMPORT_BODY_LIMIT) throw tooLarge(basename(file), size);
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.refused);
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new CliError(
      `${file} is UTF-16 ("Unicode Text"), not CSV: save it from the spreadsheet as "CSV UTF-8 (Comma delimited)"`,
      EXIT.refused,
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    if (encoding === 'windows-1252') return fromWindows1252(bytes);
    const lossy = new TextDecoder('utf-8').decode(bytes);
    const line = lossy.slice(0, lossy.indexOf('\uFFFD')).split('\n').length;
    throw new CliError(
      `${file} is not UTF-8 text (line ${line} is not): save it from the spreadsheet as "CSV UTF-8 (Comma delimited)", or, if it is Excel's plain "CSV (Comma delimited)" from Windows, import it with --encoding windows-1252`,
      EXIT.refused,
    );
  }
}

/**
 * Windows-1252 is ISO-8859-1 but for 0x80–0x9F, where it has letters and punctuation (€, ’, “, Œ)
 * instead of control codes. Node 20's TextDecoder reads the label as ISO-8859-1 and would turn
 * "O’Brien" into "O\u0092Brien"; the 32 bytes are mapped here (the five Windows leaves undefined
 * stay the control codes, which the registry refuses in a name).
 */
const WINDOWS_1252_HIGH =
  '\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178';

const fromWindows1252 = (bytes: Buffer): string =>
  bytes.toString('latin1').replace(/[\u0080-\u009F]/g, (c) => WINDOWS_1252_HIGH[c.charCodeAt(0) - 0x80] ?? c);

/**
 * Writes a file only its owner may read. A mode given to `writeFileSync` applies only to a file it
 * makes: one already there (an earlier run's, or one made readable by everyone) kept its mode, and
 * the secrets were written into it for any local user to read. The mode is set before a byte of
 * the secrets is written.
 */
function writeOwnerOnly(file: string, text: string): void {
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

import { Writable } from 'node:stream';
import type { Client, RegistryRoutes } from '@telecare/contracts';
import { type Command, InvalidArgumentError } from 'commander';
import ora, { type Ora } from 'ora';
import { CliError, EXIT } from '../client.ts';
import type { CliIo } from '../program.ts';

export type Json = Record<string, unknown>;

/** What a command needs: the registry's typed client, and how to print (text, or JSON for scripts). */
export interface CommandContext {
  api: Client<RegistryRoutes>;
  /** The same client, waiting up to `timeoutMs` for each answer (a long import). */
  apiWaiting: (timeoutMs: number) => Client<RegistryRoutes>;
  print: (value: unknown, human: () => string) => void;
  json: boolean;
}

/** What every command file is given: its context per invocation, the IO, and the exit code to set. */
export interface Commands {
  ctx: (cmd: Command) => CommandContext;
  io: CliIo;
  outcome: { exitCode: number };
}

/**
 * A live line (ora) on a terminal, started with `text`: nothing when stderr is not a terminal or
 * the output is JSON for a script.
 */
export function liveLine(io: CliIo, json: boolean, text: string): Ora {
  const stream =
    io.progressStream ??
    new Writable({
      write(chunk, _encoding, done) {
        io.stderr(String(chunk));
        done();
      },
    });
  return ora({
    stream,
    isEnabled: !json && io.interactive,
    isSilent: json || !io.interactive,
    discardStdin: false,
  }).start(text);
}

export const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

export const wholeSeconds = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('must be whole seconds, 0 or above');
  return n;
};

/** `--dc09-code-override "CID 120=fall.detected"`, repeatable: the registry checks code and type. */
export const codeOverride = (
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
export const clearable =
  (fields: Record<string, string>) => (value: string, previous: string[] | undefined) => {
    const field = fields[value];
    if (!field) throw new InvalidArgumentError(`must be one of ${Object.keys(fields).join(', ')}`);
    return [...(previous ?? []), field];
  };
export const RESIDENT_CLEARABLE = {
  ref: 'externalRef',
  phone: 'phone',
  'mobility-notes': 'mobilityNotes',
  'risk-notes': 'riskNotes',
  'key-safe': 'keySafe',
  'medical-summary': 'medicalSummary',
  referred: 'referredOn',
};
export const DEVICE_CLEARABLE = {
  location: 'location',
  model: 'model',
  supervision: 'supervisionIntervalS',
  // Back to UTC, as DC-09 says a panel clock is.
  'dc09-clock-zone': 'dc09ClockZone',
};
export const SENSITIVE: Record<string, string> = {
  keySafe: 'keySafe',
  'key-safe': 'keySafe',
  medicalSummary: 'medicalSummary',
  'medical-summary': 'medicalSummary',
};

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const secondsLeft = (deadline: number): number =>
  Math.max(0, Math.round((deadline - Date.now()) / 1000));

/** Drops options the user did not give, so the registry's defaults apply. */
/**
 * `--idempotency-key <key>` on a command that creates something: the same command run again with
 * the same key (its answer lost to a timeout) is answered with the first answer, nothing done twice.
 */
export const withIdempotencyKey = (command: Command): Command =>
  command.option(
    '--idempotency-key <key>',
    'your key for this request (1–255 visible ASCII characters): run the command again with the same key after a timeout, and it is done once',
  );

/** The `Idempotency-Key` header a command's `--idempotency-key` asks for, if any. */
export const keyHeaders = (opts: { idempotencyKey?: string }): { headers?: Record<string, string> } =>
  opts.idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': opts.idempotencyKey } };

export const given = <T extends Json>(values: T): T =>
  Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as T;

/** Sets each field named by `--clear` to null; naming a field both to set and to clear is refused. */
export function withCleared<T extends Json>(body: T, cleared: string[] | undefined): T {
  for (const field of cleared ?? []) {
    if (body[field] !== undefined) throw new CliError(`${field}: both set and cleared`, EXIT.refused);
    (body as Json)[field] = null;
  }
  return body;
}

export const orDash = (value: unknown): string =>
  value === null || value === undefined || value === '' ? '-' : String(value);

export const overridesText = (overrides: unknown): string => {
  const entries = Object.entries((overrides ?? {}) as Record<string, string>).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  return entries.length === 0 ? 'none' : entries.map(([code, type]) => `${code}=${type}`).join(', ');
};

export const healthLine = (d: Json): string =>
  `${String(d.serial).padEnd(16)} ${d.overdue ? 'OVERDUE' : 'ok     '} heartbeat ${d.lastHeartbeatAt ?? 'never'}  battery ${d.batteryPercent ?? '?'}%  mains ${d.mains === null || d.mains === undefined ? '?' : d.mains ? 'on' : 'OFF'}  signal ${d.signalDbm ?? '?'} dBm  pendant ${d.lastPendantAt ?? '-'}${refusedNote(d)}${mismatchNote(d)}${contestedNote(d)}`;

/** A device whose login was found in use from two places and has not been given a new secret since. */
function contestedNote(d: Json): string {
  const latest = d.lastLoginContested as Json | null | undefined;
  return latest
    ? `  LOGIN IN USE FROM TWO PLACES at ${latest.at} (${latest.takeovers ?? '?'} takeovers, ${latest.addresses ?? '?'} addresses): issue a new secret`
    : '';
}

/**
 * A device that sent, in the last day, alarms its registered kind does not report: how many, since
 * when, and the latest in words.
 */
function mismatchNote(d: Json): string {
  const latest = d.lastKindMismatch as Json | null | undefined;
  if (!latest) return '';
  const day = d.kindMismatchesLast24h as Json | null | undefined;
  const count = day ? ` ${day.count} in 24 h (first ${day.firstAt}), latest` : '';
  return `  KIND MISMATCH${count} ${latest.detail} at ${latest.at}`;
}

/** A device whose messages a gateway refused in the last day: how many, and the latest in its words. */
function refusedNote(d: Json): string {
  const latest = d.lastRefusal as Json | null | undefined;
  if (!d.refusedLast24h || !latest) return '';
  return `  REFUSED ${d.refusedLast24h} in 24 h, latest ${latest.reason}: ${latest.detail} at ${latest.at}`;
}

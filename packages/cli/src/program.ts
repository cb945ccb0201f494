import { Command, CommanderError } from 'commander';
import { CliError, EXIT, registryApi } from './client.ts';
import { addAwayCommands } from './commands/away.ts';
import { addCarePackageCommands } from './commands/care-package.ts';
import { addDeviceCommands } from './commands/device.ts';
import { addHealthCommand } from './commands/health.ts';
import { addImportCommand } from './commands/import.ts';
import { addResidentCommands } from './commands/resident.ts';
import { addResponderCommands } from './commands/responder.ts';
import { addRevealCommand } from './commands/reveal.ts';
import type { CommandContext, Commands } from './commands/shared.ts';
import { addTestCommand } from './commands/test.ts';
import { addTokenCommands } from './commands/token.ts';
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
  /** The stream a live display draws on (the process's stderr); else it is written through `stderr`. */
  progressStream?: NodeJS.WritableStream;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  interactive: Boolean(process.stderr.isTTY),
  progressStream: process.stderr,
};

interface Globals {
  url?: string;
  token?: string;
  json?: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:7020';

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

  const ctx = (cmd: Command): CommandContext => {
    const globals = cmd.optsWithGlobals<Globals>();
    const url = globals.url ?? io.env.TELECARE_REGISTRY_URL ?? DEFAULT_URL;
    const token = globals.token ?? io.env.TELECARE_TOKEN ?? io.env.TELECARE_ADMIN_TOKEN;
    const print = (value: unknown, human: () => string) => {
      io.stdout(`${globals.json ? JSON.stringify(value) : human()}\n`);
    };
    return {
      api: registryApi(url, token),
      apiWaiting: (timeoutMs) => registryApi(url, token, timeoutMs),
      print,
      json: Boolean(globals.json),
    };
  };

  // One file per command under commands/.
  const commands: Commands = { ctx, io, outcome };
  addResidentCommands(program, commands);
  addResponderCommands(program, commands);
  addRevealCommand(program, commands);
  addDeviceCommands(program, commands);
  addTestCommand(program, commands);
  addHealthCommand(program, commands);
  addTokenCommands(program, commands);
  addImportCommand(program, commands);
  addCarePackageCommands(program, commands);
  addAwayCommands(program, commands);
  addRulesCommands(program, io);
  return program;
}

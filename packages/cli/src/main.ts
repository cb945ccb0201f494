#!/usr/bin/env -S npx tsx
import { CliError, EXIT } from './client.ts';
import { buildProgram } from './program.ts';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  const json = program.opts<{ json?: boolean }>().json;
  if (err instanceof CliError) {
    if (json) process.stdout.write(`${JSON.stringify({ error: err.message, details: err.body ?? null })}\n`);
    else process.stderr.write(`telecare: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`telecare: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT.unavailable;
  }
}

export { CliError, EXIT, RegistryClient } from './client.ts';
export { buildProgram, type CliIo, processIo, runCli } from './program.ts';

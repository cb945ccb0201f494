export { CliError, cliClient, EXIT, registryApi } from './client.ts';
export { buildProgram, type CliIo, processIo, runCli } from './program.ts';

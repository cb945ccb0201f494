export { CliError, EXIT, registryApi, ServiceClient } from './client.ts';
export { buildProgram, type CliIo, processIo, runCli } from './program.ts';

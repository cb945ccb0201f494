export { CliError, EXIT, RegistryClient } from './client.ts';
export { buildProgram } from './program.ts';

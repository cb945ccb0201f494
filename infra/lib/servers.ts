import { spawnSync } from 'node:child_process';
import type { EnvValues } from './env.ts';
import { repoRoot, serversScript } from './paths.ts';

export type ServersCommand = 'up' | 'down' | 'status';

/** Runs infra/servers.sh with the stack's URLs; its output goes straight to the terminal. */
export function runServers(
  command: ServersCommand,
  values: EnvValues,
  names: readonly string[] = [],
): number {
  const result = spawnSync('bash', [serversScript, command, ...names], {
    cwd: repoRoot,
    env: { ...process.env, ...values },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/** Names of the servers servers.sh started and that still run. */
export function ourServers(values: EnvValues): string[] {
  const result = spawnSync('bash', [serversScript, 'ours'], {
    cwd: repoRoot,
    env: { ...process.env, ...values },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.error) throw result.error;
  return result.stdout.split('\n').filter((line) => line.trim() !== '');
}

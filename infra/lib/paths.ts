import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: infra/lib/../.. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The ignored data folder; TELECARE_DATA_DIR moves it (servers.sh honours the same variable). */
export const dataDir = path.resolve(repoRoot, process.env.TELECARE_DATA_DIR ?? '.data');
export const logsDir = path.join(dataDir, 'logs');
export const pidsDir = path.join(dataDir, 'pids');
export const stackEnvFile = path.join(dataDir, 'stack.env');

export const serversScript = path.join(repoRoot, 'infra', 'servers.sh');
export const tsxBin = path.join(repoRoot, 'node_modules', '.bin', 'tsx');

/** Paths relative to the repository read better in messages. */
export const rel = (p: string): string => {
  const relative = path.relative(process.cwd(), p);
  return relative === '' ? '.' : relative.startsWith('..') ? p : relative;
};

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `pnpm test` finds the browser the console tests drive, or stops at once saying what to install.
const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'chromium.sh');

function run(env: Record<string, string>) {
  const started = Date.now();
  const result = spawnSync('bash', [script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { ...result, ms: Date.now() - started };
}

describe('infra/chromium.sh', () => {
  it('prints the Chromium it found', () => {
    const result = run({ CHROMIUM_PATH: process.execPath });
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(process.execPath);
  });

  it('stops at once with the one command to run when Chromium is missing and it may not install', () => {
    const result = run({ CHROMIUM_PATH: '/nonexistent/chromium', TELECARE_APT: '0' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('sudo apt-get install -y chromium');
    expect(result.ms).toBeLessThan(5_000);
  });
});

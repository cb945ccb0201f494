import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/service.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the fixture service; `onStarted` is called once it prints `started`. */
function run(
  env: Record<string, string>,
  onStarted?: (signal: (s: NodeJS.Signals) => void) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
      if (stdout.includes('started') && onStarted) {
        const call = onStarted;
        onStarted = undefined;
        call((s) => child.kill(s));
      }
    });
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('runService', () => {
  it('prints every configuration problem and exits 1', async () => {
    const result = await run({ FIXTURE_PORT: 'abc', NATS_URL: 'http://x' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('fixture: invalid configuration');
    expect(result.stderr).toContain('FIXTURE_PORT');
    expect(result.stderr).toContain('NATS_URL');
  }, 60_000);

  it('exits 1 when the service cannot start', async () => {
    const result = await run({ FIXTURE_PORT: '80', FIXTURE_FAIL: '1' });
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('started');
  }, 60_000);

  it('exits 1 when the start does not finish in time, for the supervisor to start it again', async () => {
    const t0 = Date.now();
    const result = await run({ FIXTURE_PORT: '80', FIXTURE_HANG: '1500' });
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('started');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
  }, 60_000);

  it('drains the service on SIGTERM and exits 0', async () => {
    // `started` is printed inside start: give runService a moment to take the signals after it.
    const result = await run({ FIXTURE_PORT: '80' }, (signal) => setTimeout(() => signal('SIGTERM'), 500));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('started\nclosed\n');
  }, 60_000);
});

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The stack and the demo run each service under infra/supervise.ts: a crash is restarted.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'telecare-supervise-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fake service: counts its starts, crashes after `crashAfterMs` on its first `crashes` runs. */
function fakeService(file: string, crashes: number, crashAfterMs: number): string {
  const counter = path.join(dir, `${path.basename(file)}.count`);
  writeFileSync(counter, '0');
  writeFileSync(
    file,
    `import { readFileSync, writeFileSync } from 'node:fs';
const n = Number(readFileSync(${JSON.stringify(counter)}, 'utf8')) + 1;
writeFileSync(${JSON.stringify(counter)}, String(n));
console.log('run ' + n);
process.on('SIGTERM', () => { console.log('drained'); process.exit(0); });
if (n <= ${crashes}) setTimeout(() => { throw new Error('boom'); }, ${crashAfterMs});
setInterval(() => {}, 1000);
`,
  );
  return counter;
}

function supervise(file: string, graceMs: number) {
  const child = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), ['infra/supervise.ts', file], {
    cwd: root,
    env: { ...process.env, SUPERVISE_START_GRACE_MS: String(graceMs), SUPERVISE_MIN_BACKOFF_MS: '100' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

async function until(probe: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('infra/supervise.ts', () => {
  it('starts a crashed service again, and stops with it on SIGTERM', async () => {
    const file = path.join(dir, 'crashy.ts');
    const counter = fakeService(file, 2, 800);
    const run = supervise(file, 300);
    await until(() => readFileSync(counter, 'utf8') === '3');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(run.output().match(/crashed \(exit code 1\); starting it again/g)).toHaveLength(2);
    // As the stack and the demo stop it: the leader alone (tsx relays the signal once).
    process.kill(run.child.pid as number, 'SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('drained');
    expect(readFileSync(counter, 'utf8')).toBe('3');
  }, 30_000);

  it('does not restart a service that fails during start-up', async () => {
    const file = path.join(dir, 'bad-config.ts');
    const counter = fakeService(file, 5, 10);
    const run = supervise(file, 5_000);
    expect(await run.exited).toBe(1);
    expect(readFileSync(counter, 'utf8')).toBe('1');
    expect(run.output()).toContain('stopped during start-up');
  }, 30_000);
});

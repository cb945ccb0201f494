import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from './replay-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'replay-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A home in California, up at 06:00 and about every 20 minutes until 22:00 for two days, then
 * nothing after 09:00 on the third: as its devices date it, in instants.
 */
function pacificHome(): string {
  const lines: string[] = [];
  let seq = 0;
  for (let day = 0; day < 3; day++)
    for (let minute = 6 * 60; minute < 22 * 60; minute += 20) {
      if (day === 2 && minute > 9 * 60) break;
      // PDT until 7 November 2010: local + 7 h.
      const at = new Date(Date.UTC(2010, 10, 4 + day, 0, minute) + 7 * 3600_000).toISOString();
      lines.push(
        JSON.stringify({
          serial: 'CASAS-M003',
          kind: 'pir',
          location: 'kitchen',
          residentId: 'res_pacific',
          event: { id: `cs-${String(seq++).padStart(7, '0')}`, type: 'motion', at, data: {} },
        }),
      );
    }
  const file = join(dir, 'events.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await main(args), out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

describe('pnpm replay --import --time-zone', () => {
  it("reads a home abroad by its own clock: no morning 'not up' from London's, the silence said in its hours", async () => {
    const file = pacificHome();
    const london = await run(['--import', file, '--learn-days', '0', '--json']);
    expect(london.code).toBe(0);
    // Read as London's clock, every morning before 14:00 London (06:00 in California) is "not up".
    expect(london.out).toContain('not up by 10:00');
    const own = await run([
      '--import',
      file,
      '--learn-days',
      '0',
      '--json',
      '--time-zone',
      'America/Los_Angeles',
    ]);
    expect(own.code).toBe(0);
    const alerts = own.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { reason?: string; summary?: unknown; rules: string });
    expect(alerts.find((a) => a.summary)?.rules).toContain('homes in America/Los_Angeles');
    const reasons = alerts.filter((a) => a.reason).map((a) => a.reason as string);
    expect(reasons.some((r) => r.includes('not up'))).toBe(false);
    // The silence after 09:00 on the third day, said in the home's own hours.
    expect(reasons.some((r) => r.includes('no movement since 09:00 today (Sat 6 Nov)'))).toBe(true);
  });

  it('refuses a zone it does not know, with the option named', async () => {
    const result = await run(['--import', pacificHome(), '--time-zone', 'Mars/Olympus_Mons']);
    expect(result.code).toBe(2);
    expect(result.err).toContain('--time-zone Mars/Olympus_Mons: not a time zone');
    expect(result.out).toBe('');
  });
});

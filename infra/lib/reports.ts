import { spawn } from 'node:child_process';
import path from 'node:path';
import { childEnv, type EnvValues } from './env.ts';
import { repoRoot, tsxBin } from './paths.ts';

/** The months the demo seeds: the two whole months before this one. */
export function seededPeriod(now = new Date()): { from: string; to: string } {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  return {
    from: day(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1))),
    to: day(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))),
  };
}

/**
 * Simulated activity across twelve postcode districts for the seeded months, written into the
 * reports read model (`reports seed`; not onto the streams, so the live helpline never sees it).
 * Seeded: running it again changes nothing.
 */
export function seedReports(values: EnvValues, write: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      tsxBin,
      [path.join('services', 'reports', 'src', 'main.ts'), 'seed', '--months', '2'],
      {
        cwd: repoRoot,
        env: { ...childEnv(values), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    for (const stream of [child.stdout, child.stderr])
      stream?.on('data', (chunk: Buffer) => write(chunk.toString().trimEnd()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`reports seed exited with ${code}`)),
    );
  });
}

/**
 * A commissioner's one-click sign-in to the dashboard: a report token made with the admin token,
 * in the `#token=` link, opening on the seeded months. Printed on this machine's terminal only.
 */
export async function commissionerSignIn(reportsUrl: string, values: EnvValues): Promise<string> {
  const res = await fetch(new URL('/api/tokens', reportsUrl), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${values.TELECARE_ADMIN_TOKEN ?? ''}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ role: 'commissioner', recipient: 'demo-commissioner' }),
    signal: AbortSignal.timeout(5_000),
  });
  if (res.status !== 201) throw new Error(`POST /api/tokens answered ${res.status}`);
  const { token } = (await res.json()) as { token: string };
  const { from, to } = seededPeriod();
  return `${new URL('/', reportsUrl).toString()}?from=${from}&to=${to}#token=${token}`;
}

/** The banner line with the commissioner's sign-in (or why there is none). */
export function commissionerLine(link: string | Error): string {
  const label = 'commissioner'.padEnd(18);
  return link instanceof Error
    ? `${label} no dashboard link: ${link.message}`
    : `${label} ${link}  (the dashboard, on two simulated months across 12 districts)`;
}

/** Seeds the reports and signs a commissioner in, when the reports service runs; banner lines. */
export async function reportsLines(
  reportsUrl: string | undefined,
  values: EnvValues,
  write: (line: string) => void,
): Promise<string[]> {
  if (!reportsUrl) return [];
  try {
    await seedReports(values, write);
  } catch (err) {
    return [commissionerLine(err as Error)];
  }
  return [commissionerLine(await commissionerSignIn(reportsUrl, values).catch((err: Error) => err))];
}

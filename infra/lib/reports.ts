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

/** Runs one of the repository's commands under tsx, its output to `write`; rejects on a failure. */
function runTsx(args: readonly string[], values: EnvValues, write: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsxBin, [...args], {
      cwd: repoRoot,
      env: { ...childEnv(values), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr])
      stream?.on('data', (chunk: Buffer) => write(chunk.toString().trimEnd()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${args.slice(0, 2).join(' ')} exited with ${code}`)),
    );
  });
}

/**
 * The demo's commissioning cohort (`simulators cohort`): residents referred over the last 18
 * months registered through the registry's API with their referral and first-install days and care
 * packages, most installed and some still waiting, and a trust's episodes file for them sent to the
 * reports service. Registered once: a rerun finds them and sends nothing twice.
 */
export function seedCohort(values: EnvValues, write: (line: string) => void): Promise<void> {
  return runTsx([path.join('simulators', 'src', 'main.ts'), 'cohort'], values, write);
}

/**
 * Simulated activity for the seeded months, for the cohort's installed residents, written into the
 * reports read model (`reports seed --people registry`; not onto the streams, so the live helpline
 * never sees it; recorded, so a rebuild writes it again). Seeded: running it again changes nothing.
 */
export function seedReports(values: EnvValues, write: (line: string) => void): Promise<void> {
  return runTsx(
    [path.join('services', 'reports', 'src', 'main.ts'), 'seed', '--months', '2', '--people', 'registry'],
    values,
    write,
  );
}

/**
 * A one-click sign-in to the dashboard: a report token of `role` made with the admin token, in the
 * `#token=` link, opening on the seeded months. Printed on this machine's terminal only.
 */
export async function reportSignIn(
  reportsUrl: string,
  values: EnvValues,
  role: 'commissioner' | 'analyst' = 'commissioner',
): Promise<string> {
  const res = await fetch(new URL('/api/tokens', reportsUrl), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${values.TELECARE_ADMIN_TOKEN ?? ''}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ role, recipient: `demo-${role}` }),
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
    : `${label} ${link}  (the dashboard: two simulated months across 12 districts, care hours, bed days and a comparison group)`;
}

/** The banner line with an analyst's sign-in: the same dashboard, and the episode export. */
export function analystLine(link: string | Error): string {
  const label = 'analyst'.padEnd(18);
  return link instanceof Error
    ? `${label} no dashboard link: ${link.message}`
    : `${label} ${link}  (the same, and the pseudonymised episode export)`;
}

/**
 * Registers the cohort, seeds the reports for it and signs a commissioner and an analyst in, when
 * the reports service runs; banner lines.
 */
export async function reportsLines(
  reportsUrl: string | undefined,
  values: EnvValues,
  write: (line: string) => void,
): Promise<string[]> {
  if (!reportsUrl) return [];
  try {
    await seedCohort(values, write);
    await seedReports(values, write);
  } catch (err) {
    return [commissionerLine(err as Error)];
  }
  const signIn = (role: 'commissioner' | 'analyst') =>
    reportSignIn(reportsUrl, values, role).catch((err: Error) => err);
  return [commissionerLine(await signIn('commissioner')), analystLine(await signIn('analyst'))];
}

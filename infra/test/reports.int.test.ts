import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// infra is not a workspace package, so it reaches the testkit by path (tsconfig references it).
import { cleanupNamespace, freePort, serviceEnv, uniqueNamespace } from '../../packages/testkit/src/index.ts';
import type { EnvValues } from '../lib/env.ts';
import { repoRoot, tsxBin } from '../lib/paths.ts';
import { stopProcess, waitReady } from '../lib/processes.ts';
import { reportsLines } from '../lib/reports.ts';

// What `pnpm demo` does for commissioners, against a real registry and reports service started as
// the stack starts them: the cohort registered through the registry's API, its episodes file, two
// seeded months for its installed residents, and a sign-in link; every figure there, once.

const ns = uniqueNamespace('demoreports');
const children: ChildProcess[] = [];
let values: EnvValues;

async function start(service: string, entry: string, url: string): Promise<void> {
  const child = spawn(tsxBin, [entry], {
    cwd: repoRoot,
    env: { ...process.env, ...values },
    detached: true,
    stdio: 'ignore',
  });
  children.push(child);
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  await waitReady({ service, url: `${url}/readyz`, timeoutMs: 60_000, exited: () => exit });
}

beforeAll(async () => {
  const [registryPort, reportsPort] = [await freePort(), await freePort()];
  values = {
    ...serviceEnv(ns),
    REGISTRY_PORT: String(registryPort),
    REPORTS_PORT: String(reportsPort),
    REGISTRY_URL: `http://127.0.0.1:${registryPort}`,
    TELECARE_REPORTS_URL: `http://127.0.0.1:${reportsPort}`,
    REPORTS_REGISTRY_TOKEN: 'test-reports-registry-token-demo-0123456',
    REPORTS_PSEUDONYM_KEY: 'k'.repeat(40),
  };
  await start('registry', 'services/registry/src/main.ts', values.REGISTRY_URL as string);
  await start('reports', 'services/reports/src/main.ts', values.TELECARE_REPORTS_URL as string);
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.pid !== undefined) await stopProcess(child.pid, { group: true });
  await cleanupNamespace(ns);
});

const get = async (path: string, token: string) => {
  const res = await fetch(new URL(path, values.TELECARE_REPORTS_URL), {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await res.json()) as Record<string, unknown>;
};

describe('the demo reports', () => {
  it('give a commissioner every figure: activity in 12 districts, care hours, bed days, a comparison', async () => {
    const output: string[] = [];
    const lines = await reportsLines(values.TELECARE_REPORTS_URL, values, (line) => output.push(line));
    expect(lines).toHaveLength(2);
    expect(lines[0], output.join('\n')).toMatch(
      /commissioner\s+http:\/\/127\.0\.0\.1:\d+\/\?from=.*#token=rpt_/,
    );
    expect(lines[1]).toMatch(/analyst\s+http:\/\/127\.0\.0\.1:\d+\/\?from=.*#token=rpt_.*episode export/);
    expect(output.join('\n')).toMatch(/cohort: 540 residents registered with \d+ care packages, 0 found/);
    const token = /#token=(rpt_[^\s]+)/.exec(lines[0] ?? '')?.[1] ?? '';
    const query = /\?(from=[^#]+)#/.exec(lines[0] ?? '')?.[1] ?? '';

    const summary = await get(`/api/reports/summary?${query}`, token);
    const demand = summary.demand as { districts: { district: string }[] } | undefined;
    expect(demand?.districts.length ?? 0).toBeGreaterThanOrEqual(10);
    for (const [path, before] of [
      ['/api/reports/care-hours', 'careHoursBefore'],
      ['/api/reports/bed-days', 'bedDaysBefore'],
    ] as const) {
      const figure = await get(path, token);
      const [six, twelve] = figure.windows as Record<string, unknown>[];
      for (const w of [six, twelve]) {
        expect(w?.[before], `${path} ${JSON.stringify(w)}`).toEqual(expect.any(Number));
        expect(w?.meanChange).toMatchObject({ low: expect.any(Number), high: expect.any(Number) });
      }
      expect(six?.comparison, `${path} ${JSON.stringify(six)}`).toMatchObject({
        group: 'referred-not-yet-installed',
        residents: expect.any(Number),
        difference: { mean: expect.any(Number), low: expect.any(Number), high: expect.any(Number) },
      });
    }

    // The analyst's token gets the episode export of the seeded months, one row per case.
    const analyst = /#token=(rpt_[^\s]+)/.exec(lines[1] ?? '')?.[1] ?? '';
    const episodes = await fetch(new URL(`/api/reports/episodes.csv?${query}`, values.TELECARE_REPORTS_URL), {
      headers: { authorization: `Bearer ${analyst}` },
    });
    expect(episodes.status).toBe(200);
    expect((await episodes.text()).trim().split('\r\n').length).toBeGreaterThan(100);

    // Again, as a second `pnpm demo` would: nobody registered twice, no stay imported twice.
    const again: string[] = [];
    await reportsLines(values.TELECARE_REPORTS_URL, values, (line) => again.push(line));
    expect(again.join('\n')).toMatch(/cohort: 0 residents registered with 0 care packages, 540 found/);
    expect(again.join('\n')).toMatch(/hospital episodes: 0 stays imported, [1-9]\d* already there/);
  }, 300_000);
});

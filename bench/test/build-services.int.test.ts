import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cleanupNamespace,
  type ServiceProcess,
  serviceEnv,
  spawnService,
  uniqueNamespace,
} from '@telecare/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// A service built by bench/lib/build-services.ts runs in place of its TypeScript when a bench is
// given BENCH_SERVICE_BUILD: it must start, answer, and be what runs.

const root = fileURLToPath(new URL('../..', import.meta.url));
const ns = uniqueNamespace('buildsvc');
const out = mkdtempSync(path.join(tmpdir(), 'telecare-build-'));
let service: ServiceProcess | undefined;
afterAll(async () => {
  await service?.close();
  await cleanupNamespace(ns);
  rmSync(out, { recursive: true, force: true });
});

describe('bench/lib/build-services.ts', () => {
  it('bundles a service that starts, answers on /readyz and /metrics, and is the process that runs', async () => {
    const build = spawnSync(
      path.join(root, 'node_modules', '.bin', 'tsx'),
      ['bench/lib/build-services.ts', '--out', out, 'gateway-mqtt'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(build.stderr).toBe('');
    expect(build.status).toBe(0);
    const bundle = path.join(out, 'gateway-mqtt.mjs');
    const code = readFileSync(bundle, 'utf8');
    // No helper call per named function, and our own packages inside.
    expect(code).not.toMatch(/\b__name\(/);
    expect(code).not.toMatch(/from "@telecare\//);

    service = await spawnService('gateway-mqtt', { ...serviceEnv(ns), BENCH_SERVICE_BUILD: out }, out);
    expect(service.child.spawnargs.slice(1)).toEqual([bundle]);
    const metrics = await fetch(`${service.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^process_cpu_user_seconds_total[ {]/m);
  });
});

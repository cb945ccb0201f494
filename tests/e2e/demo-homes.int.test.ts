import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { type HomeOutcome, RegistryClient, registerLiveHomes } from '@telecare/simulators';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `pnpm demo` runs the same simulated homes on every start: they are found again by their devices,
 * never registered twice, and homes a larger earlier run left behind are retired, so no silent home
 * floods the queue with supervision losses.
 */
const ns = uniqueNamespace('demohomes');
let registry: RegistryHandle;
let client: RegistryClient;
const token = serviceEnv(ns).TELECARE_ADMIN_TOKEN ?? '';

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(serviceEnv(ns, { REGISTRY_PORT: '0' })));
  client = new RegistryClient(registry.url, token);
});

afterAll(async () => {
  await registry?.close();
  await cleanupNamespace(ns);
});

async function residents(): Promise<Array<{ id: string }>> {
  const response = await fetch(new URL('/api/residents', registry.url), {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as { residents?: Array<{ id: string }> } | Array<{ id: string }>;
  return Array.isArray(body) ? body : (body.residents ?? []);
}

async function register(
  homes: number,
): Promise<{ outcomes: HomeOutcome[]; serials: ReadonlyMap<string, string> }> {
  return registerLiveHomes({ registry: client, homes, seed: 7, log: () => {} });
}

describe('the demo homes across restarts', () => {
  it('resumes the same residents and devices on a second start', async () => {
    const first = await register(3);
    expect(first.outcomes).toEqual(['created', 'created', 'created']);
    const afterFirst = await residents();
    expect(afterFirst).toHaveLength(3);

    const second = await register(3);
    expect(second.outcomes).toEqual(['resumed', 'resumed', 'resumed']);
    expect([...second.serials.entries()]).toEqual([...first.serials.entries()]);
    expect((await residents()).map((r) => r.id).sort()).toEqual(afterFirst.map((r) => r.id).sort());
  });

  it('retires the homes a larger earlier run left behind, and makes them anew when needed again', async () => {
    const smaller = await register(2);
    expect(smaller.outcomes).toEqual(['resumed', 'resumed', 'retired']);
    const retired = await client.getDevice('SIMD7-L3-PENDANT');
    expect(retired?.state).toBe('decommissioned');
    expect((await register(2)).outcomes).toEqual(['resumed', 'resumed']);

    const larger = await register(3);
    expect(larger.outcomes).toEqual(['resumed', 'resumed', 'created']);
    const pendant = await client.getDevice(larger.serials.get('L3G2/pendant') ?? '');
    expect(pendant?.state).not.toBe('decommissioned');
    expect(await residents()).toHaveLength(4);
  });
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `telecare-sim homes` as `pnpm demo` runs it, stopped once its homes are running. */
function runHomes(homes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(root, 'node_modules', '.bin', 'tsx'),
      [
        'simulators/src/main.ts',
        'homes',
        '--homes',
        String(homes),
        '--press-every',
        '0',
        '--seed',
        '3',
        '--registry-url',
        registry.url,
        '--mqtt-url',
        servers.mqttUrl,
        '--namespace',
        ns,
        '--token',
        token,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`homes did not start within 60 s:\n${out}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('homes running')) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

describe('`pnpm demo` homes (telecare-sim homes) across restarts', () => {
  it('registers its residents once and retires the homes a larger run left', async () => {
    const before = (await residents()).length;
    const first = await runHomes(3);
    expect(first).toMatch(/3 homes running/);
    expect((await residents()).length).toBe(before + 3);

    const second = await runHomes(3);
    expect(second.match(/from an earlier run/g)).toHaveLength(3);
    expect((await residents()).length).toBe(before + 3);

    const third = await runHomes(2);
    expect(third).toMatch(/1 home left by an earlier run decommissioned/);
    expect((await client.getDevice('SIMD3-3-PND'))?.state).toBe('decommissioned');
    expect((await client.getDevice('SIMD3-2-PND'))?.state).not.toBe('decommissioned');
  }, 200_000);
});

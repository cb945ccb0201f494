import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from './support.ts';

const PLUGIN = DYNSEC_PLUGIN;
const ADMIN_PASSWORD = 'admin-secret-for-the-cli-test';

const ns = uniqueNamespace('clicred');
const logger = createLogger('cli-test', 'silent');
let broker: DynsecMosquitto | undefined;
let dir: string;
let registry: RegistryHandle | undefined;
let token: string;

/** The command run in this process through `runCli` (cli.int.test.ts runs the binary itself). */
const telecare = (args: string[]) =>
  runInProcess(args, { TELECARE_REGISTRY_URL: registry?.url, TELECARE_TOKEN: token });

/** `mosquitto_ctrl dynsec getClient`: exits non-zero when the broker has no such client. */
function brokerHasClient(port: number, username: string): boolean {
  try {
    const out = execFileSync(
      'mosquitto_ctrl',
      ['-p', String(port), '-u', 'registry-admin', '-P', ADMIN_PASSWORD, 'dynsec', 'getClient', username],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    ).toString();
    return out.includes(`Username: ${username}`);
  } catch {
    return false;
  }
}

let port: number;

beforeAll(async () => {
  if (!PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'clicred' });
  dir = broker.dir;
  port = broker.port;
  await waitFor(() => brokerHasClient(port, 'registry-admin'), { what: 'the dynsec broker' });
  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    MQTT_ADMIN_URL: broker.adminUrl,
  });
  token = env.TELECARE_ADMIN_TOKEN!;
  registry = await startRegistry(loadRegistryConfig(env), { logger });
});

afterAll(async () => {
  await registry?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

describe.skipIf(!PLUGIN)('telecare import with broker credentials on', () => {
  it('prints each imported MQTT device its secret once, or writes them to a 0600 file', async () => {
    const residents = join(dir, 'residents.csv');
    writeFileSync(residents, 'ref,name,address,postcode\nR1,Cli Cred,4 Road,GL1 2AB\n');
    const first = join(dir, 'devices-1.csv');
    writeFileSync(first, 'serial,kind,resident\nPND-CLI1,pendant,R1\n');
    const shown = await telecare(['import', residents, first]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/MQTT secrets .*not shown again/);
    expect(shown.stdout).toMatch(/PND-CLI1\s+[A-Za-z0-9_-]{32}/);
    expect(brokerHasClient(port, 'PND-CLI1')).toBe(true);

    const second = join(dir, 'devices-2.csv');
    writeFileSync(second, 'serial,kind\nPND-CLI2,pendant\nPND-CLI3,pendant\n');
    const file = join(dir, 'secrets.csv');
    const written = await telecare(['import', second, '--secrets-file', file]);
    expect(written.code).toBe(0);
    expect(written.stdout).toContain(`2 MQTT secrets written to ${file}`);
    expect(written.stdout).not.toMatch(/PND-CLI2\s+[A-Za-z0-9_-]{32}/);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('serial,username,secret');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['PND-CLI2', 'PND-CLI3']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(brokerHasClient(port, 'PND-CLI3')).toBe(true);

    // A file already there (an earlier run's, or one made readable by everyone) is not left so: a
    // file's mode is given only when it is made, and the secrets would have been written into it
    // for any local user to read.
    const existing = join(dir, 'secrets-again.csv');
    writeFileSync(existing, 'old\n', { mode: 0o644 });
    chmodSync(existing, 0o644);
    const third = join(dir, 'devices-3.csv');
    writeFileSync(third, 'serial,kind\nPND-CLI4,pendant\n');
    expect((await telecare(['import', third, '--secrets-file', existing])).code).toBe(0);
    expect(readFileSync(existing, 'utf8')).toContain('PND-CLI4');
    expect(statSync(existing).mode & 0o777).toBe(0o600);
  });

  it('device pair that moves a device to another resident prints its new secret, once', async () => {
    const residents = join(dir, 'residents-move.csv');
    writeFileSync(
      residents,
      'ref,name,address,postcode\nRM1,Move One,5 Road,GL1 2AB\nRM2,Move Two,6 Road,GL2 2AB\n',
    );
    const devices = join(dir, 'devices-move.csv');
    writeFileSync(devices, 'serial,kind,resident\nPND-CLIMV,pendant,RM1\n');
    expect((await telecare(['import', residents, devices])).code).toBe(0);
    const found = await telecare(['--json', 'resident', 'search', 'RM2']);
    const to = (JSON.parse(found.stdout) as { residents: { id: string }[] }).residents[0]!.id;
    const moved = await telecare(['device', 'pair', 'PND-CLIMV', '--resident', to]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain(`device PND-CLIMV paired with ${to}`);
    expect(moved.stdout).toMatch(/MQTT secret:\s+[A-Za-z0-9_-]{32}/);
    expect(moved.stdout).toMatch(/old one no longer works/);
  });
});

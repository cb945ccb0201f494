import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventIdFor, names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import { connectNats, createLogger, jetstream, type NatsConnection } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = join(createRequire(import.meta.url).resolve('tsx/package.json'), '..', 'dist', 'cli.mjs');

const ns = uniqueNamespace('cli');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const logger = createLogger('cli-test', env.LOG_LEVEL);
let registry: RegistryHandle;
let nc: NatsConnection;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real binary: tsx on main.ts, as `pnpm telecare` runs it. */
function telecare(args: string[], token: string | null = env.TELECARE_ADMIN_TOKEN!): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX, MAIN, ...args], {
      env: {
        PATH: process.env.PATH,
        TELECARE_REGISTRY_URL: registry.url,
        ...(token === null ? {} : { TELECARE_TOKEN: token }),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'cli-test', logger });
  dir = mkdtempSync(join(tmpdir(), 'telecare-cli-'));
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cleanupNamespace(ns);
});

describe('telecare CLI through its real binary', () => {
  let residentId: string;

  it('adds a resident and registers and pairs a device, human and --json', async () => {
    const added = await telecare([
      '--json',
      'resident',
      'add',
      '--name',
      'Cli Resident',
      '--address',
      '5 Lane',
      '--postcode',
      'gl1 2ab',
      '--lives-alone',
    ]);
    expect(added.code).toBe(0);
    residentId = JSON.parse(added.stdout).id;
    expect(residentId).toMatch(/^res_/);

    const registered = await telecare(['device', 'register', '--serial', 'PND-CLI1', '--kind', 'pendant']);
    expect(registered.code).toBe(0);
    expect(registered.stdout).toContain('device PND-CLI1 registered (stock)');
    const paired = await telecare([
      'device',
      'pair',
      'PND-CLI1',
      '--resident',
      residentId,
      '--location',
      'worn',
    ]);
    expect(paired.stdout).toContain(`device PND-CLI1 paired with ${residentId} (installed)`);

    const bad = await telecare(['device', 'register', '--serial', 'PND-CLI1', '--kind', 'pendant']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('serial: already registered');
  });

  it('runs a test call to a PASS verdict when the press arrives, and FAIL (exit 1) when it does not', async () => {
    const run = telecare(['test', 'PND-CLI1', '--timeout', '20']);
    // The press, as the gateway writes it to EVENTS once the installer presses the pendant.
    await waitFor(async () => {
      const res = await fetch(`${registry.url}/api/devices/PND-CLI1/test`, {
        headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
      });
      return res.ok && ((await res.json()) as { status: string }).status === 'waiting';
    });
    const deviceEventId = `press-${randomBytes(4).toString('hex')}`;
    const partition = partitionOf(residentId, 8);
    const now = new Date().toISOString();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdFor('PND-CLI1', deviceEventId),
      source: '/gateway-mqtt',
      type: 'pendant.pressed',
      subject: 'PND-CLI1',
      time: now,
      datacontenttype: 'application/json',
      residentid: residentId,
      devicekind: 'pendant',
      deviceeventid: deviceEventId,
      partition,
      receivedat: now,
      testmode: true,
      data: { batteryPercent: 77, signalDbm: -61 },
    };
    await jetstream(nc).publish(n.subjects.event(partition, event.type), JSON.stringify(event), {
      msgID: event.id,
    });
    const passed = await run;
    expect(passed.code).toBe(0);
    expect(passed.stdout).toMatch(/PASS PND-CLI1: pendant.pressed arrived end to end in \d+ ms/);
    expect(passed.stdout).toContain('battery 77%, signal -61 dBm');

    const failed = await telecare(['--json', 'test', 'PND-CLI1', '--timeout', '1']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      status: 'failed',
      reason: 'no event from PND-CLI1 within 1 s',
    });
  });

  it('lists device health', async () => {
    const health = await telecare(['--json', 'health', 'PND-CLI1']);
    expect(health.code).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({
      serial: 'PND-CLI1',
      batteryPercent: 77,
      signalDbm: -61,
    });
    const fleet = await telecare(['health', '--battery-below', '80']);
    expect(fleet.stdout).toContain('PND-CLI1');
  });

  it('creates an installer token that works, and refuses without a token (exit 3)', async () => {
    const created = await telecare(['--json', 'token', 'create', '--name', 'van 3', '--role', 'installer']);
    expect(created.code).toBe(0);
    const installer = JSON.parse(created.stdout).token as string;
    const byInstaller = await telecare(
      ['device', 'register', '--serial', 'PND-CLI2', '--kind', 'pendant'],
      installer,
    );
    expect(byInstaller.code).toBe(0);
    const denied = await telecare(['token', 'create', '--name', 'x', '--role', 'admin'], installer);
    expect(denied.code).toBe(3);
    const none = await telecare(['health'], null);
    expect(none.code).toBe(3);
  });

  it('imports CSV files, refusing all on a bad row (exit 2) unless --import-valid', async () => {
    const residents = join(dir, 'residents.csv');
    const devices = join(dir, 'devices.csv');
    writeFileSync(
      residents,
      'ref,name,address,postcode\nR1,Rita Row,1 Street,GL3 4AB\nR2,Bad Row,2 Street,XX\n',
    );
    writeFileSync(devices, 'serial,kind,resident\nCSV-0001,pendant,R1\nCSV-0002,pendant,R2\n');
    const refused = await telecare(['import', residents, devices]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain('residents.csv line 3: postcode: must be a UK postcode');
    expect(refused.stdout).toContain('devices.csv line 3: resident: resident R2 has errors in residents.csv');
    expect(refused.stdout).toContain('nothing imported');
    const partial = await telecare(['import', residents, devices, '--import-valid']);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toContain('imported 1 residents and 1 devices');
  });

  it('decommissions a device', async () => {
    const out = await telecare(['device', 'decommission', 'PND-CLI2']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('device PND-CLI2 decommissioned');
  });
});

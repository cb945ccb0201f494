import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { names } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  type ServiceProcess,
  servers,
  serviceEnv,
  spawnService,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { MqttPacketProxy } from './mqtt-proxy.ts';
import { apiCaller, brokerAdmits, deviceLogin, sql } from './support.ts';

// A registry process that dies while the broker holds what PostgreSQL never recorded: a new secret
// taken by the broker before the commit, or a device client whose registration never committed.
// The first registry runs as a process of its own, killed outright; the one started after it
// (in this process) must put the broker back in step without anyone issuing a secret.

const ADMIN_PASSWORD = 'admin-secret-for-regcrash';
const ns = uniqueNamespace('regcrash');
const n = names(ns);
const logDir = mkdtempSync(path.join(tmpdir(), 'registry-crash-'));
let broker: DynsecMosquitto;
let proxy: MqttPacketProxy;
let env: Record<string, string>;
let child: ServiceProcess | undefined;
let registry: RegistryHandle | undefined;
let url = '';

const call = apiCaller(
  () => url,
  () => env.TELECARE_ADMIN_TOKEN!,
);
const admits = (username: string, password: string) => brokerAdmits(broker.port, username, password);

async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** A device client made in the broker as the registry makes one, with no row behind it. */
const deviceClient = (serial: string, secret: string, topics: ReturnType<typeof names>['mqtt']) =>
  deviceLogin(broker, serial, topics, secret);

/** Starts the registry again after the crash, in this process, on the same database and broker. */
async function restart(): Promise<void> {
  const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  registry = await startRegistry(loadRegistryConfig({ ...env, REGISTRY_PORT: '0' }), { logger });
  url = registry.url;
}

beforeAll(async () => {
  if (!DYNSEC_PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'regcrash' });
  await waitFor(() => admits('registry-admin', ADMIN_PASSWORD), { what: 'the broker' });
  proxy = await MqttPacketProxy.start(broker.port);
  env = serviceEnv(ns, {
    MQTT_ADMIN_URL: `mqtt://registry-admin:${ADMIN_PASSWORD}@127.0.0.1:${proxy.port}`,
    REGISTRY_DATA_KEY: 'ab'.repeat(32),
    REGISTRY_BROKER_REPAIR_S: '0.2',
    REGISTRY_BROKER_REPAIR_GRACE_S: '1',
    REGISTRY_BROKER_SWEEP_S: '0.2',
  });
  child = await spawnService('registry', env, logDir);
  url = child.url;
}, 90_000);

afterAll(async () => {
  await child?.close();
  await registry?.close();
  await proxy?.close();
  broker?.stop();
  await cleanupNamespace(ns);
  rmSync(logDir, { recursive: true, force: true });
});

describe.skipIf(!DYNSEC_PLUGIN)('a registry that dies with the broker ahead of PostgreSQL', () => {
  it('a new secret the broker took before a commit that never came is taken back by the next registry', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Door Step',
      address: '1 Road',
      postcode: 'GL1 2AB',
    });
    expect(resident.status).toBe(201);
    const created = await call('POST', '/api/devices', {
      serial: 'PND-CRASH1',
      residentId: resident.body.id,
      kind: 'pendant',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const old = (created.body.credentials as { secret: string }).secret;

    // The broker takes the new password; the registry dies before its answer reaches it, and so
    // before the commit: PostgreSQL rolls the new secret back with the dead connection.
    const taken = proxy.dropNext('answer', 'setClientPassword');
    const issuing = call('POST', '/api/devices/PND-CRASH1/credentials').catch((err: unknown) => err);
    await taken;
    child!.child.kill('SIGKILL');
    await new Promise((exited) => child!.child.once('exit', exited));
    await issuing;
    child = undefined;
    expect(await admits('PND-CRASH1', old)).toBe(false);

    // It used to stay refused until someone issued it a secret again.
    await restart();
    await waitFor(() => admits('PND-CRASH1', old), {
      what: 'the broker to take the secret the device holds again',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(
      await sql(`select outcome from "${n.schema('registry')}".broker_repairs where serial = 'PND-CRASH1'`),
    ).toEqual([{ outcome: 'secret-restored' }]);
    expect(
      await sql(
        `select broker_unconfirmed_since from "${n.schema('registry')}".devices where serial = 'PND-CRASH1'`,
      ),
    ).toEqual([{ broker_unconfirmed_since: null }]);

    // An issue that commits takes back the token it recorded before telling the broker.
    const issued = await call('POST', '/api/devices/PND-CRASH1/credentials');
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    expect(await admits('PND-CRASH1', (issued.body.credentials as { secret: string }).secret)).toBe(true);
    expect(
      await sql(
        `select broker_unconfirmed_since from "${n.schema('registry')}".devices where serial = 'PND-CRASH1'`,
      ),
    ).toEqual([{ broker_unconfirmed_since: null }]);
    expect(
      await sql(`select 1 from "${n.schema('registry')}".broker_issues where serial = 'PND-CRASH1'`),
    ).toEqual([]);
  }, 120_000);

  it("a device client the registry made but holds no row of is removed; others' clients are left", async () => {
    if (!registry) await restart();
    // A registration whose commit never came, its client left in the broker: nobody holds its secret.
    deviceClient('PND-ORPHAN1', 'orphan-secret', n.mqtt);
    // Another namespace's device, and a client that is no device's: not this registry's to remove.
    const other = names(`${ns}x`).mqtt;
    deviceClient('PND-OTHER1', 'other-secret', other);
    broker.ctrl('createClient', 'someone-else', '-p', 'their-own-password');
    expect(await admits('PND-ORPHAN1', 'orphan-secret')).toBe(true);

    // Its removal counted as well as its login refused: on a busy machine a login can fail for
    // want of an answer before the sweep has been.
    await waitFor(
      async () =>
        (await metric('registry_broker_repairs_total', 'outcome="orphan-removed"')) >= 1 &&
        !(await admits('PND-ORPHAN1', 'orphan-secret')),
      {
        what: 'the orphaned device client to be removed',
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    expect(await admits('PND-OTHER1', 'other-secret')).toBe(true);
    expect(await admits('someone-else', 'their-own-password')).toBe(true);
    expect(await metric('registry_broker_repairs_total', 'outcome="orphan-removed"')).toBe(1);
    expect(
      await sql(`select outcome from "${n.schema('registry')}".broker_repairs where serial = 'PND-ORPHAN1'`),
    ).toEqual([{ outcome: 'orphan-removed' }]);
  }, 60_000);

  it('a device client with no row is left while an import runs: its rows may not have committed yet', async () => {
    if (!registry) await restart();
    const schema = n.schema('registry');
    // An import in hand, on any registry: it holds the import lock until its rows commit.
    const importing = new pg.Client({ connectionString: servers.databaseUrl });
    await importing.connect();
    try {
      await importing.query('select pg_advisory_lock(hashtext($1))', [`${schema}:import`]);
      deviceClient('PND-IMPORT1', 'import-secret', n.mqtt);
      // Passes past the grace (1 s), each seen by a device it repairs: the orphan sweep comes after
      // the repairs in a pass, so the third repair says the second pass's sweep is over.
      for (const round of [1, 2, 3]) {
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        await sql(
          `update "${schema}".devices set broker_unconfirmed_since = now() where serial = 'PND-CRASH1'`,
        );
        await waitFor(
          async () =>
            (await sql(`select 1 from "${schema}".broker_repairs where serial = 'PND-CRASH1'`)).length ===
            round + 1,
          { what: `repair pass ${round}`, timeoutMs: 30_000, intervalMs: 100 },
        );
      }
      expect(await admits('PND-IMPORT1', 'import-secret')).toBe(true);
    } finally {
      await importing.end();
    }
    await waitFor(async () => !(await admits('PND-IMPORT1', 'import-secret')), {
      what: 'the client removed once no import runs',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  }, 60_000);
});

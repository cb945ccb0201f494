import { randomBytes } from 'node:crypto';
import { names } from '@telecare/contracts';
import { type Clock, Counter, createLogger, createPool, ManualClock, systemClock } from '@telecare/platform';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  servers,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrokerRepair } from '../src/broker-repair.ts';
import { FieldCipher, hashSecret, newSecret, parseDataKey } from '../src/crypto.ts';
import { DynsecAuthority, loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { RegistryStore } from '../src/store.ts';
import { apiCaller, brokerAdmits, brokerRoles, deviceLogin, sql } from './support.ts';

// The broker repair as another registry instance runs it, its passes driven one at a time, against
// a registry's schema and a dynamic-security Mosquitto: issues that overlap or wait, and what a
// registration or a removal that did not finish leaves in the broker.

const ns = uniqueNamespace('regrepair');
const n = names(ns);
const schema = n.schema('registry');
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let broker: DynsecMosquitto;
let env: Record<string, string>;
let registry: RegistryHandle;
let pool: pg.Pool;
let store: RegistryStore;
let authority: DynsecAuthority;
let residentId: string;

const call = apiCaller(
  () => registry.url,
  () => env.TELECARE_ADMIN_TOKEN!,
);
const admits = (username: string, password: string) => brokerAdmits(broker.port, username, password);

/** A pendant registered through the API: its secret, held by its row and by the broker. */
async function pendant(serial: string): Promise<string> {
  const created = await call('POST', '/api/devices', { serial, residentId, kind: 'pendant' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return (created.body.credentials as { secret: string }).secret;
}

/** The repair of another instance (started afresh: nothing in its memory), its passes run by the test. */
function repairer(graceMs: number, options: { clock?: Clock; sweepEveryMs?: number } = {}) {
  return startBrokerRepair({
    store,
    authority,
    clock: options.clock ?? systemClock,
    logger,
    repairs: new Counter({
      name: 'repairs',
      help: 'repairs',
      labelNames: ['outcome'] as const,
      registers: [],
    }),
    intervalMs: 3_600_000,
    graceMs,
    sweepEveryMs: options.sweepEveryMs ?? 3_600_000,
  });
}

/** One pass of a repair started afresh, with `graceMs`. */
async function onePass(graceMs: number): Promise<void> {
  const repair = repairer(graceMs);
  try {
    await repair.pass();
  } finally {
    await repair.stop();
  }
}

/** Waits until `ms` have passed on PostgreSQL's clock, the one the repair reads an issue's grace by. */
async function pgClockPasses(ms: number): Promise<void> {
  const [{ at }] = (await sql('select clock_timestamp() as at')) as [{ at: Date }];
  await waitFor(
    async () =>
      ((await sql('select clock_timestamp() as at')) as [{ at: Date }])[0].at.getTime() > at.getTime() + ms,
    { what: `${ms} ms on PostgreSQL's clock`, intervalMs: 20 },
  );
}

type Issue = Awaited<ReturnType<RegistryStore['beginBrokerIssue']>>;

/** An issue that tells the broker its new secret and commits: the secret. */
async function commits(serial: string, issue: Issue): Promise<string> {
  const secret = newSecret();
  await store.setCredential(serial, { hash: hashSecret(secret), secret, issue }, new Date(), () =>
    authority.install(serial, secret),
  );
  return secret;
}

/** An issue whose registry dies once the broker took its new secret, before the commit. */
async function dies(serial: string, issue: Issue): Promise<void> {
  const secret = newSecret();
  const write = store.setCredential(
    serial,
    { hash: hashSecret(secret), secret, issue },
    new Date(),
    async () => {
      await authority.install(serial, secret);
      throw new Error('the registry died before its commit');
    },
  );
  await expect(write).rejects.toThrow();
}

beforeAll(async () => {
  if (!DYNSEC_PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: 'admin-secret-for-regrepair', label: 'regrepair' });
  await waitFor(() => admits(broker.adminUser, broker.adminPassword), { what: 'the broker' });
  env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    MQTT_ADMIN_URL: broker.adminUrl,
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
    // The registry's own passes run at its start-up only: the test runs the others.
    REGISTRY_BROKER_REPAIR_S: '3600',
  });
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  pool = createPool({ url: servers.databaseUrl, logger, name: 'registry-repair-test' });
  store = new RegistryStore(pool, schema, new FieldCipher(parseDataKey(env.REGISTRY_DATA_KEY!)!));
  authority = await DynsecAuthority.connect({
    url: broker.adminUrl,
    topics: n.mqtt,
    logger,
    clientId: `${ns}-repair-test`,
  });
  const made = await call('POST', '/api/residents', {
    name: 'Door Step',
    address: '1 Road',
    postcode: 'GL1 2AB',
  });
  residentId = made.body.id as string;
}, 60_000);

afterAll(async () => {
  await authority?.close();
  await pool?.end();
  await registry?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

describe.skipIf(!DYNSEC_PLUGIN)('issues of a secret that overlap or wait, and the repair', () => {
  it('two issues begun one after the other (often in one millisecond): the first one to commit leaves the other marked', async () => {
    // The mark used to be matched by the time an issue began, to the millisecond: the first commit
    // took the other's mark too, and a registry dying in the other left no mark for the repair.
    const serial = 'PND-TWIN1';
    await pendant(serial);
    // Recorded without telling the broker: only the marks are looked at here.
    const secret = newSecret();
    const hash = hashSecret(secret);
    const recorded = (issue: Issue) =>
      store.setCredential(serial, { hash, secret, issue }, new Date(), async () => {});
    for (let attempt = 0; attempt < 300; attempt++) {
      const first = await store.beginBrokerIssue(serial, new Date());
      const second = await store.beginBrokerIssue(serial, new Date());
      await recorded(first);
      expect(await store.brokerUnconfirmed(0), `attempt ${attempt}: the other issue still marked`).toEqual([
        serial,
      ]);
      await recorded(second);
      expect(await store.brokerUnconfirmed(0)).toEqual([]);
    }
  }, 60_000);

  it("an issue begun later that commits first leaves the earlier one's mark", async () => {
    const serial = 'PND-LATER1';
    await pendant(serial);
    const earlier = await store.beginBrokerIssue(serial, new Date());
    const later = await store.beginBrokerIssue(serial, new Date());
    const held = await commits(serial, later);
    await dies(serial, earlier);
    await pgClockPasses(100);
    await onePass(50);
    expect(await admits(serial, held)).toBe(true);
  });

  it('an issue that waited past the grace is not repaired underneath: a repair before its broker commands keeps the device in step', async () => {
    const serial = 'PND-SLOW1';
    const old = await pendant(serial);
    const slow = await store.beginBrokerIssue(serial, new Date());
    // It waits (for a pool connection, or the row lock) longer than the grace, and a pass runs.
    await pgClockPasses(100);
    await onePass(50);
    // It reaches the broker at last, and its registry dies before the commit.
    await dies(serial, slow);
    await pgClockPasses(100);
    await onePass(50);
    expect(await admits(serial, old)).toBe(true);
  });
});

describe.skipIf(!DYNSEC_PLUGIN)('device clients and roles with no row', () => {
  it('a role left without its client, and no row, is removed; one with a row, or of another namespace, is left', async () => {
    // A registration that died between making the role and the client, or a removal between
    // deleting the client and the role.
    deviceLogin(broker, 'PND-ROLEONLY1', n.mqtt);
    deviceLogin(broker, 'PND-ROLEOTHER1', names(`${ns}x`).mqtt);
    await pendant('PND-ROLEROW1');
    broker.ctrl('deleteClient', 'PND-ROLEROW1');
    await waitFor(() => brokerRoles(broker).has('device-PND-ROLEONLY1'), { what: 'the role saved' });

    await onePass(0);
    await waitFor(() => !brokerRoles(broker).has('device-PND-ROLEONLY1'), {
      what: 'the orphaned role removed',
      timeoutMs: 5_000,
    });
    expect(brokerRoles(broker).has('device-PND-ROLEOTHER1')).toBe(true);
    expect(brokerRoles(broker).has('device-PND-ROLEROW1')).toBe(true);
    expect(
      await sql(`select outcome from "${schema}".broker_repairs where serial = 'PND-ROLEONLY1'`),
    ).toEqual([{ outcome: 'orphan-removed' }]);
  });

  it('an orphan seen before a restart is removed once its grace has passed, however often the registry restarts', async () => {
    const clock = new ManualClock(new Date('2026-03-01T10:00:00.000Z'));
    deviceLogin(broker, 'PND-RESTART1', n.mqtt, 'restart-secret');
    // Each start-up sweeps once; the next start comes well within the grace (a second here), until
    // the grace has passed since the first start (on PostgreSQL's clock, which the grace is read by).
    const [{ first }] = (await sql('select clock_timestamp() as first')) as [{ first: Date }];
    for (let start = 0; (await admits('PND-RESTART1', 'restart-secret')) && start < 100; start++) {
      const repair = repairer(1_000, { clock });
      await repair.pass();
      await repair.stop();
      clock.advance(25_000);
      await pgClockPasses(300);
    }
    expect(await admits('PND-RESTART1', 'restart-secret')).toBe(false);
    const [{ removed }] = (await sql('select clock_timestamp() as removed')) as [{ removed: Date }];
    expect(removed.getTime() - first.getTime()).toBeGreaterThanOrEqual(1_000);
    expect(
      await sql(`select unconfirmed_since from "${schema}".broker_repairs where serial = 'PND-RESTART1'`),
    ).toEqual([{ unconfirmed_since: new Date('2026-03-01T10:00:00.000Z') }]);
  });

  it('a client or role left for a device whose row the broker must not admit (decommissioned, never issued a secret) is removed; a live one is left', async () => {
    // A decommission whose broker removal did not finish: the client deleted, the role left.
    const retired = 'PND-RETIRED1';
    await pendant(retired);
    expect((await call('POST', `/api/devices/${retired}/decommission`)).status).toBe(200);
    deviceLogin(broker, retired, n.mqtt);
    // A decommission by a registry without broker credentials: the broker told nothing.
    const untold = 'PND-RETIRED2';
    const untoldSecret = await pendant(untold);
    await store.decommission(untold, new Date(), async () => {});
    expect(await admits(untold, untoldSecret)).toBe(true);
    // A device registered by a registry without broker credentials, over the client a registration
    // that did not commit left behind.
    const unissued = 'PND-UNISSUED1';
    deviceLogin(broker, unissued, n.mqtt, 'left-secret');
    await store.createDevice(
      {
        serial: unissued,
        residentId,
        kind: 'pendant',
        model: null,
        protocol: 'mqtt',
        location: null,
        supervisionIntervalS: null,
        dc09Account: null,
        dc09Key: null,
        dc09KeyEncoding: 'hex',
      },
      new Date(),
    );
    const live = 'PND-LIVE1';
    const liveSecret = await pendant(live);
    await waitFor(() => brokerRoles(broker).has(`device-${retired}`), { what: 'the role saved' });

    await onePass(0);
    await waitFor(() => !brokerRoles(broker).has(`device-${retired}`), {
      what: "the retired device's role removed",
      timeoutMs: 5_000,
    });
    expect(await admits(untold, untoldSecret)).toBe(false);
    expect(brokerRoles(broker).has(`device-${untold}`)).toBe(false);
    expect(await admits(unissued, 'left-secret')).toBe(false);
    expect(await admits(live, liveSecret)).toBe(true);
    expect(
      await sql(
        `select serial, outcome from "${schema}".broker_repairs
          where serial in ('${retired}', '${untold}', '${unissued}', '${live}') order by serial`,
      ),
    ).toEqual([
      { serial: retired, outcome: 'client-removed' },
      { serial: untold, outcome: 'client-removed' },
      { serial: unissued, outcome: 'client-removed' },
    ]);
    // Their rows are as they were.
    expect((await call('GET', `/api/devices/${unissued}`)).body.state).toBe('installed');
  });

  it("an orphan's grace is read on PostgreSQL's clock: registries whose clocks are hours apart do not remove it early", async () => {
    deviceLogin(broker, 'PND-SKEW1', n.mqtt, 'skew-secret');
    const skewed = (hours: number) => new ManualClock(new Date(Date.now() + hours * 3_600_000));
    // First seen by a registry whose clock is two hours behind, then swept at once by one on time
    // and by one two hours ahead, each with a minute's grace.
    for (const clock of [skewed(-2), systemClock, skewed(2)]) {
      const repair = repairer(60_000, { clock });
      await repair.pass();
      await repair.stop();
    }
    expect(await admits('PND-SKEW1', 'skew-secret')).toBe(true);
    // Once the grace has passed on PostgreSQL's clock, a registry behind removes it all the same.
    await pgClockPasses(600);
    const repair = repairer(500, { clock: skewed(-2) });
    await repair.pass();
    await repair.stop();
    expect(await admits('PND-SKEW1', 'skew-secret')).toBe(false);
  });

  it('the sweep runs at most every REGISTRY_BROKER_SWEEP_S, not at each repair pass', async () => {
    const clock = new ManualClock(new Date('2026-03-02T10:00:00.000Z'));
    const repair = repairer(0, { clock, sweepEveryMs: 60_000 });
    try {
      await repair.pass(); // start-up: swept
      deviceLogin(broker, 'PND-SWEEP1', n.mqtt, 'sweep-secret');
      for (let round = 0; round < 5; round++) {
        clock.advance(10_000);
        await repair.pass();
      }
      // Removed at its first sight (no grace here) had any of those passes swept.
      expect(await admits('PND-SWEEP1', 'sweep-secret')).toBe(true);
      clock.advance(10_000);
      await repair.pass();
      expect(await admits('PND-SWEEP1', 'sweep-secret')).toBe(false);
    } finally {
      await repair.stop();
    }
  });
});

import { fileURLToPath } from 'node:url';
import {
  Counter,
  type DefinedService,
  defineService,
  type Logger,
  migrate,
  onBucketRecreated,
  PersonLimit,
  type ServiceContext,
  type ServiceHandle,
  watchConsumers,
} from '@telecare/platform';
import { registerApi } from './api.ts';
import { AwayPublisher } from './away-bucket.ts';
import { startBrokerRepair, unconfirmedGauge } from './broker-repair.ts';
import { loadRegistryConfig, type RegistryConfig } from './config.ts';
import { type CredentialAuthority, DynsecAuthority } from './credentials.ts';
import { FieldCipher } from './crypto.ts';
import { Dc09AccountPublisher, startPreviousKeySweep } from './dc09-accounts.ts';
import { DeviceMapPublisher } from './device-map.ts';
import { startEventsConsumer, startTestDeadlines } from './events.ts';
import { IdempotencyStore } from './idempotency.ts';
import { checkDataKey } from './key-check.ts';
import type { TestCall } from './records.ts';
import { startRefusalsConsumer } from './refusals.ts';
import { RegistryStore } from './store.ts';

/**
 * At start-up, the broker's device clients and roles are brought in step with PostgreSQL. A broker
 * that cannot be resynced does not stop the registry (it is not on the alarm path); the next
 * start-up tries again.
 */
async function resyncBroker(
  authority: CredentialAuthority,
  store: RegistryStore,
  logger: Logger,
  repairs: Counter<'outcome'>,
): Promise<void> {
  const log = logger.child({ component: 'credentials' });
  try {
    const report = await authority.resync(await store.mqttCredentials());
    repairs.inc({ outcome: 'repaired' }, report.repaired.length);
    repairs.inc({ outcome: 'removed' }, report.removed.length);
    repairs.inc({ outcome: 'reissue-needed' }, report.reissue.length);
    log.info(
      {
        checked: report.checked,
        repaired: report.repaired,
        removed: report.removed,
        reissue: report.reissue.length,
      },
      'broker credentials in step with postgres',
    );
    if (report.reissue.length > 0) {
      log.warn(
        { serials: report.reissue },
        'devices without a broker client and no recoverable secret: re-issue with POST /api/devices/:serial/credentials',
      );
    }
  } catch (err) {
    repairs.inc({ outcome: 'failed' });
    log.warn({ err }, 'broker credentials not resynced; the next start-up tries again');
  }
}

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/**
 * The registry: migrates its schema, brings the device map in step with PostgreSQL, keeps device
 * health from EVENTS, then serves the API. Ready while PostgreSQL and NATS answer and the data key
 * (if set) matches the database.
 */
export const registryService: DefinedService<RegistryConfig, object> = defineService({
  name: 'registry',
  config: () => loadRegistryConfig(),
  streams: ['events', 'deadletter'],
  http: (config: RegistryConfig) => ({ port: config.REGISTRY_PORT, host: config.HTTP_HOST }),
  start: wireRegistry,
});

export type RegistryHandle = ServiceHandle<object>;

/** Starts the registry; resolves once it is listening, rejects (having closed what it opened) if any step fails. */
export const startRegistry: DefinedService<RegistryConfig, object>['start'] = registryService.start;

async function wireRegistry(service: ServiceContext<RegistryConfig>): Promise<object> {
  const { config, logger, clock, lifecycle, metrics } = service;
  const n = service.names;
  const schema = n.schema('registry');
  await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger, tls: config.TELECARE_TLS_CA });
  const pool = service.postgres({ url: config.DATABASE_URL });
  const { nc, js, jsm } = await service.nats();
  watchConsumers(metrics, jsm, [
    { stream: n.streams.events, include: (c) => c === config.REGISTRY_CONSUMER },
    { stream: n.streams.deadletter, include: (c) => c === config.REGISTRY_REFUSALS_CONSUMER },
  ]);

  const residentsCreated = new Counter({
    name: 'registry_residents_created_total',
    help: 'Residents created',
    registers: [metrics],
  });
  const devicesCreated = new Counter({
    name: 'registry_devices_created_total',
    help: 'Devices created',
    registers: [metrics],
  });
  const puts = new Counter({
    name: 'registry_device_map_puts_total',
    help: 'Device map (NATS KV) writes by outcome: written, rewritten (the entry the bucket held written again, to move its revision on), unchanged (left by the start-up sync), deleted, failed, full (refused by the full bucket)',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const refused = new Counter({
    name: 'registry_requests_refused_total',
    help: 'API requests refused, by reason',
    labelNames: ['reason'] as const,
    registers: [metrics],
  });

  const dc09Puts = new Counter({
    name: 'registry_dc09_account_puts_total',
    help: 'DC-09 accounts (NATS KV) writes by outcome: written, rewritten (the entry the bucket held written again, to move its revision on), deleted, failed, full (refused by the full bucket)',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });
  const awayPuts = new Counter({
    name: 'registry_away_puts_total',
    help: 'Away periods (NATS KV resident-away) writes by outcome: written, rewritten (the entry the bucket held written again, or a deleted key deleted again, to move its revision on), deleted, failed, full (refused by the full bucket)',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });

  const brokerRepairs = new Counter({
    name: 'registry_broker_repairs_total',
    help: 'Broker credential repairs, by outcome: repaired, removed, reissue-needed, failed (resync at start-up); secret-restored, client-removed (devices awaiting repair); orphan-removed (device clients with no row)',
    labelNames: ['outcome'] as const,
    registers: [metrics],
  });

  const configured = config.REGISTRY_DATA_KEY ? new FieldCipher(config.REGISTRY_DATA_KEY) : undefined;
  if (!configured) {
    logger.warn(
      'REGISTRY_DATA_KEY is not set: key-safe information, medical summaries and DC-09 keys cannot be stored or revealed',
    );
  }
  // A wrong key is found now, not at the first reveal: the registry stays not ready and seals
  // nothing with it (that would mix two keys in one database).
  const keyCheck = configured
    ? await checkDataKey(pool, schema, configured, new Date(clock.now()))
    : undefined;
  if (keyCheck && !keyCheck.ok)
    logger.error(
      { reason: keyCheck.reason },
      'REGISTRY_DATA_KEY is not the key this database was sealed with: not ready; sensitive fields refused until the right key is set',
    );
  const cipher = keyCheck?.ok ? configured : undefined;
  const store = new RegistryStore(
    pool,
    schema,
    cipher,
    keyCheck && !keyCheck.ok
      ? 'REGISTRY_DATA_KEY does not match this database (key check failed)'
      : undefined,
    config.REGISTRY_DC09_KEY_GRACE_S,
    config.REGISTRY_DC09_SHARED_KEY,
  );
  // Keys stored before their fingerprints were kept get them now (the key check opens them until then).
  const fingerprinted = await store.fillDc09KeyFingerprints();
  if (fingerprinted > 0) logger.info({ devices: fingerprinted }, 'DC-09 key fingerprints filled');
  const brokerGraceMs = config.REGISTRY_BROKER_REPAIR_GRACE_S * 1000;
  unconfirmedGauge(store, metrics, brokerGraceMs);
  const replicas = config.TELECARE_STREAM_REPLICAS;
  // The store the buckets' bounds are a share of.
  const storeBytes = config.TELECARE_JETSTREAM_MAX_BYTES;
  const deviceMap = new DeviceMapPublisher({ nc, names: n, store, logger, puts, replicas, storeBytes });
  lifecycle.add('device-map', () => deviceMap.close());
  await deviceMap.syncAll();
  const away = new AwayPublisher({
    nc,
    names: n,
    store,
    logger,
    puts: awayPuts,
    clock: () => new Date(clock.now()),
    replicas,
    storeBytes,
  });
  lifecycle.add('resident-away', () => away.close());
  await away.syncAll();
  const dc09 = new Dc09AccountPublisher({
    nc,
    names: n,
    store,
    logger,
    puts: dc09Puts,
    replicas,
    storeBytes,
    clock,
  });
  const keyWrong = keyCheck !== undefined && !keyCheck.ok;
  // The bucket and the broker keep what a right key wrote until the key is put right.
  if (keyWrong)
    logger.warn('DC-09 accounts and broker credentials not resynced: REGISTRY_DATA_KEY does not match');
  else await dc09.syncAll();
  lifecycle.add('dc09-accounts', () => dc09.close());
  // A bucket JetStream lost, made again empty (by any service), is written whole again from here.
  onBucketRecreated(nc, n.kv.deviceMap, () => deviceMap.syncAll());
  onBucketRecreated(nc, n.kv.residentAway, () => away.syncAll());
  if (!keyWrong) onBucketRecreated(nc, n.kv.dc09Accounts, () => dc09.syncAll());

  let credentials: CredentialAuthority | undefined;
  if (config.MQTT_ADMIN_URL) {
    const authority = await DynsecAuthority.connect({
      url: config.MQTT_ADMIN_URL,
      topics: n.mqtt,
      logger,
      clientId: `${n.namespace}-registry-${process.pid}-${Date.now().toString(36)}`,
      batch: config.REGISTRY_BROKER_BATCH,
      tls: config.TELECARE_TLS_CA,
    });
    credentials = authority;
    lifecycle.add('mqtt-credentials', () => authority.close());
    if (!keyWrong) {
      await resyncBroker(authority, store, logger, brokerRepairs);
      const repair = startBrokerRepair({
        store,
        authority,
        clock,
        logger,
        repairs: brokerRepairs,
        intervalMs: config.REGISTRY_BROKER_REPAIR_S * 1000,
        graceMs: brokerGraceMs,
        sweepEveryMs: config.REGISTRY_BROKER_SWEEP_S * 1000,
      });
      lifecycle.add('broker-repair', () => repair.stop());
      await repair.pass().catch(() => undefined);
    }
  } else {
    logger.warn('MQTT_ADMIN_URL is not set: devices get no broker credentials (an anonymous broker)');
  }

  const onTestFinished = async (test: TestCall) => {
    await Promise.all([deviceMap.publish(test.serial), dc09.publish(test.serial)]);
  };
  const consumers = { js, jsm, names: n, store, clock, logger, metrics };
  const events = await startEventsConsumer({
    ...consumers,
    consumer: config.REGISTRY_CONSUMER,
    onTestFinished,
  });
  lifecycle.add('events', () => events.stop());
  const refusals = await startRefusalsConsumer({ ...consumers, consumer: config.REGISTRY_REFUSALS_CONSUMER });
  lifecycle.add('refusals', () => refusals.stop());
  const deadlines = startTestDeadlines({ store, clock, logger, onTestFinished });
  lifecycle.add('test-deadlines', () => deadlines.stop());
  if (!keyWrong) {
    const sweep = startPreviousKeySweep({
      store,
      publisher: dc09,
      clock,
      logger,
      intervalMs: config.REGISTRY_DC09_KEY_SWEEP_S * 1000,
    });
    lifecycle.add('dc09-key-sweep', () => sweep.stop());
  }

  // Unset is a choice (sensitive fields refused); a key that does not match is a fault.
  service.ready('dataKey', () => keyCheck === undefined || keyCheck.ok);
  await registerApi(service.http, {
    store,
    idempotency: new IdempotencyStore(pool, schema, {
      keysPerActor: config.REGISTRY_IDEMPOTENCY_KEYS_PER_TOKEN,
    }),
    deviceMap,
    dc09,
    away,
    credentials,
    publishWindow: config.REGISTRY_PUBLISH_WINDOW,
    clock,
    logger,
    adminToken: config.TELECARE_ADMIN_TOKEN,
    helplineToken: config.HELPLINE_REGISTRY_TOKEN,
    reportsToken: config.REPORTS_REGISTRY_TOKEN,
    revealLimits: {
      perPerson: new PersonLimit(
        pool,
        schema,
        'reveals',
        config.REGISTRY_REVEAL_LIMIT,
        config.REGISTRY_REVEAL_WINDOW_S * 1000,
        () => clock.now(),
      ),
      perToken: new PersonLimit(
        pool,
        schema,
        'reveals-token',
        config.REGISTRY_REVEAL_TOKEN_LIMIT,
        config.REGISTRY_REVEAL_WINDOW_S * 1000,
        () => clock.now(),
      ),
    },
    testTimeoutS: config.REGISTRY_TEST_TIMEOUT_S,
    testsPerToken: config.REGISTRY_TESTS_PER_TOKEN,
    dc09Keyless: config.REGISTRY_DC09_KEYLESS,
    metrics: { residentsCreated, devicesCreated, refused },
  });
  if (!config.TELECARE_ADMIN_TOKEN)
    logger.warn('TELECARE_ADMIN_TOKEN is not set: every /api request is refused');
  return {};
}

import { readFile } from 'node:fs/promises';
import { DEVICE_EVENT_TYPES, DeviceMapEntry, names, partitionOf, TAXONOMY } from '@telecare/contracts';
import {
  type Clock,
  ConfigError,
  connectNats,
  createHttpServer,
  createLogger,
  createMetrics,
  createRedis,
  ensureStreams,
  jetstream,
  jetstreamManager,
  Lifecycle,
  type Logger,
  openDeviceMap,
  systemClock,
  withTimeout,
} from '@telecare/platform';
import {
  DEFAULT_RULE_SET,
  type DeviceContext,
  parseRuleSet,
  type RuleSet,
  RuleSetError,
} from '@telecare/rules';
import { AreaLanes, areaTypesOf } from './area-lanes.ts';
import type { TriageConfig } from './config.ts';
import { laneWork, startOwnership } from './leases.ts';
import { createTriageMetrics } from './metrics.ts';
import {
  areaLanes,
  ensureLaneConsumers,
  partitionLanes,
  removeAreaConsumers,
  removeRetiredConsumers,
  runLaneWorkers,
} from './partitions.ts';
import { EventProcessor, SERVICE } from './processor.ts';
import { registerRulesApi } from './rules-api.ts';
import { RulesStore } from './rules-store.ts';
import { StateStore } from './state-store.ts';
import { TimerStore } from './timers.ts';

export interface TriageHandle {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export interface TriageOptions {
  logger?: Logger;
  clock?: Clock;
  /** Rules to run, when none is stored, instead of TRIAGE_RULES_FILE or the default set. */
  ruleSet?: RuleSet;
}

/**
 * Starts triage: EVENTS → rules → ALERTS, one ordered durable consumer per partition, resident
 * state in Redis. Creates the streams and consumers it needs, and runs the partitions whose
 * leases it holds (all of them without leases).
 */
export async function startTriage(config: TriageConfig, options: TriageOptions = {}): Promise<TriageHandle> {
  const logger = options.logger ?? createLogger(SERVICE, config.LOG_LEVEL);
  const clock = options.clock ?? systemClock;
  const fallback = options.ruleSet ?? (await loadRuleSet(config.TRIAGE_RULES_FILE));
  const n = names(config.TELECARE_NAMESPACE);
  const lifecycle = new Lifecycle(logger);

  try {
    const nc = await connectNats({ url: config.NATS_URL, name: SERVICE, logger });
    lifecycle.add('nats', () => nc.drain());
    const jsm = await jetstreamManager(nc);
    const replicas = config.TELECARE_STREAM_REPLICAS;
    await ensureStreams(jsm, n, ['events', 'alerts', 'deadletter'], { replicas });
    const rules = await RulesStore.open({ nc, names: n, fallback, clock, logger, replicas });
    lifecycle.add('rules', () => rules.close());
    // One snapshot for the lanes and the processor; a change meanwhile is applied below.
    const ruleSet = rules.inForce.ruleSet;
    const p1Types = DEVICE_EVENT_TYPES.filter((type) => TAXONOMY[type].priority === 1);
    const alarmTypes = config.TRIAGE_ALARM_LANE ? p1Types : [];
    const ownLanes = partitionLanes(n, config.TELECARE_PARTITIONS, alarmTypes);
    const startAreaLanes = areaLanes(n, areaTypesOf(ruleSet));
    await ensureLaneConsumers(jsm, n, [...ownLanes, ...startAreaLanes], config.TRIAGE_ACK_WAIT_S);
    await removeRetiredConsumers(jsm, n, p1Types);
    await removeAreaConsumers(jsm, n, startAreaLanes);

    const redis = await createRedis({ url: config.REDIS_URL, logger, name: SERVICE });
    lifecycle.add('redis', async () => {
      await redis.quit().catch(() => redis.disconnect());
    });

    const registry = createMetrics(SERVICE);
    const metrics = createTriageMetrics(registry);
    const js = jetstream(nc);
    const timers = await TimerStore.open({
      nc,
      names: n,
      redis,
      partitions: config.TELECARE_PARTITIONS,
      partitionOf: (residentId) => partitionOf(residentId, config.TELECARE_PARTITIONS),
      logger,
      replicas,
    });
    // The index is a cache of the durable timer records: rebuild it before any loop reads it.
    metrics.timersPending.set(await timers.rebuildIndex());
    timers.onIndexLost = (indexed) => {
      metrics.timerIndexLost.inc();
      metrics.timersPending.set(indexed);
    };
    const deviceMap = await openDeviceMap(nc, n, { replicas });
    const device = async (serial: string): Promise<DeviceContext | undefined> => {
      const entry = await deviceMap.get(serial);
      if (entry?.operation !== 'PUT') return undefined;
      const parsed = DeviceMapEntry.safeParse(entry.json());
      return parsed.success ? { supervisionIntervalS: parsed.data.supervisionIntervalS } : undefined;
    };
    const processor = new EventProcessor({
      js,
      names: n,
      timers,
      device,
      store: new StateStore(redis, n.redisPrefix, logger),
      ruleSet,
      clock,
      metrics,
      logger,
      retryDelayMs: config.TRIAGE_RETRY_DELAY_MS,
    });
    const workers = runLaneWorkers({
      js,
      names: n,
      processor,
      timers,
      clock,
      logger,
      retryDelayMs: config.TRIAGE_RETRY_DELAY_MS,
      ackWaitMs: config.TRIAGE_ACK_WAIT_S * 1_000,
    });
    lifecycle.add('lanes', () => workers.stopAll());
    const work = laneWork(workers, ownLanes, startAreaLanes);
    // The area lanes follow the rule set in force: see "The rules in force".
    const followed = new AreaLanes({
      jsm,
      names: n,
      ackWaitS: config.TRIAGE_ACK_WAIT_S,
      retryDelayMs: config.TRIAGE_RETRY_DELAY_MS,
      work,
      lanes: startAreaLanes,
      inForce: (next) => processor.setRuleSet(next),
      logger,
    });
    lifecycle.add('area-lanes', () => followed.close());
    rules.onChange((next) => followed.follow(next));
    if (rules.inForce.ruleSet !== ruleSet) void followed.follow(rules.inForce.ruleSet);
    // Which partitions (and whether the area lanes) this instance runs: see "Partition ownership".
    const ownership = await startOwnership({
      nc,
      names: n,
      partitions: config.TELECARE_PARTITIONS,
      settings: {
        enabled: config.TRIAGE_LEASES,
        ttlS: config.TRIAGE_LEASE_TTL_S,
        renewMs: config.TRIAGE_LEASE_RENEW_MS,
        instance: config.TRIAGE_INSTANCE,
      },
      work,
      metrics,
      logger,
      replicas,
    });
    lifecycle.add('partitions', () => ownership.stop());

    const app = createHttpServer({
      logger,
      metrics: registry,
      readiness: {
        nats: async () => !nc.isClosed() && (await withTimeout(nc.rtt(), 2_000)) !== undefined,
        redis: async () => redis.status === 'ready' && (await withTimeout(redis.ping(), 2_000)) === 'PONG',
        partitions: () => workers.healthy,
        leases: () => ownership.healthy,
        // Ready means it holds what it needs: partitions, or the standby's certainty that a live
        // instance holds every one (see "Readiness" in the README).
        owns: () => ownership.ready,
      },
      details: () => ({
        instance: ownership.instance,
        partitions: ownership.partitions(),
        area: ownership.area,
        standby: ownership.standby,
        areaLanes: work.areaTypes(),
      }),
    });
    await registerRulesApi(app, rules, config.TELECARE_ADMIN_TOKEN, logger);
    lifecycle.add('http', () => app.close());
    await app.listen({ port: config.TRIAGE_PORT, host: config.HTTP_HOST });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.TRIAGE_PORT;
    logger.info(
      {
        port,
        partitions: config.TELECARE_PARTITIONS,
        owned: ownership.partitions(),
        rules: ruleSet.rules.length,
        ruleSetVersion: ruleSet.version,
      },
      'triage started',
    );
    return { port, url: `http://${config.HTTP_HOST}:${port}`, close: () => lifecycle.close() };
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

async function loadRuleSet(file: string | undefined): Promise<RuleSet> {
  if (!file) return DEFAULT_RULE_SET;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(SERVICE, [
      `TRIAGE_RULES_FILE: cannot read ${file} as JSON: ${(err as Error).message}`,
    ]);
  }
  try {
    return parseRuleSet(json);
  } catch (err) {
    if (!(err instanceof RuleSetError)) throw err;
    throw new ConfigError(
      SERVICE,
      err.issues.map((issue) => `TRIAGE_RULES_FILE ${issue.path}: ${issue.message}`),
    );
  }
}

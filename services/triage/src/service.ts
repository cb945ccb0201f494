import { readFile } from 'node:fs/promises';
import { DEVICE_EVENT_TYPES, partitionOf, ResidentAwayEntry, TAXONOMY } from '@telecare/contracts';
import {
  type Clock,
  ConfigError,
  createBucket,
  type DefinedService,
  defineService,
  JetStreamPublisher,
  type Logger,
  lastValues,
  openDeviceMapMirror,
  type RedisRefusalReason,
  redisTarget,
  type ServiceContext,
  type ServiceHandle,
  securityEventPublisher,
  WatchedBucket,
  watchConsumers,
} from '@telecare/platform';
import {
  DEFAULT_RULE_SET,
  type DeviceContext,
  parseRuleSet,
  type RuleSet,
  RuleSetError,
} from '@telecare/rules';
import { AreaLanes, areaTypesOf } from './area-lanes.ts';
import { loadTriageConfig, type TriageConfig } from './config.ts';
import { EVENT_INDEX_TTL_S, EventIndex, eventIndexView, takingOverGapClaims } from './event-index.ts';
import { GapClaims } from './index-gaps.ts';
import { laneWork, startOwnership } from './leases.ts';
import { createTriageMetrics, registerStatesHeld } from './metrics.ts';
import {
  areaLanes,
  ensureLaneConsumers,
  partitionLanes,
  removeAreaConsumers,
  removeRetiredConsumers,
  runLaneWorkers,
} from './partitions.ts';
import { EventProcessor, SERVICE } from './processor.ts';
import { RedisAway } from './redis-away.ts';
import { registerRulesApi } from './rules-api.ts';
import { RulesStore } from './rules-store.ts';
import { forgettingStates, StateStore } from './state-store.ts';
import { TimerStore } from './timers.ts';

export type TriageHandle = ServiceHandle<object>;

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
export function triageService(ruleSet?: RuleSet): DefinedService<TriageConfig, object> {
  return defineService({
    name: SERVICE,
    config: () => loadTriageConfig(),
    streams: ['events', 'alerts', 'deadletter', 'security'],
    // Every event stores timers and alerts with a request each: no caller stack built in advance.
    natsAsyncTraces: false,
    http: (config: TriageConfig) => ({ port: config.TRIAGE_PORT, host: config.HTTP_HOST }),
    start: (service) => wireTriage(service, ruleSet),
  });
}

export function startTriage(config: TriageConfig, options: TriageOptions = {}): Promise<TriageHandle> {
  const { ruleSet, ...shell } = options;
  return triageService(ruleSet).start(config, shell);
}

async function wireTriage(
  service: ServiceContext<TriageConfig>,
  given: RuleSet | undefined,
): Promise<object> {
  const { config, logger, clock, lifecycle } = service;
  const n = service.names;
  service.step('reading the rules');
  const fallback = given ?? (await loadRuleSet(config.TRIAGE_RULES_FILE));
  service.step('connecting to NATS');
  const { nc, js, jsm } = await service.nats();
  const replicas = config.TELECARE_STREAM_REPLICAS;
  // The store the buckets' bounds are a share of.
  const storeBytes = config.TELECARE_JETSTREAM_MAX_BYTES;
  // Before the rules: the copy of their history is kept in Redis.
  service.step('connecting to Redis');
  const redis = await service.redis(redisTarget(config));
  // Commands fail at once while Redis is known not to answer, or writes while it refuses them,
  // logged as it goes and comes back.
  const redisAway = RedisAway.of(redis, logger, `${n.redisPrefix}triage:writable`);
  service.step('opening the rule set in force');
  const rules = await RulesStore.open({
    nc,
    names: n,
    redis,
    fallback,
    clock,
    logger,
    replicas,
    storeBytes,
  });
  lifecycle.add('rules', () => rules.close());
  // One snapshot for the lanes and the processor; a change meanwhile is applied below.
  const ruleSet = rules.inForce.ruleSet;
  const p1Types = DEVICE_EVENT_TYPES.filter((type) => TAXONOMY[type].priority === 1);
  const alarmTypes = config.TRIAGE_ALARM_LANE ? p1Types : [];
  const ownLanes = partitionLanes(n, config.TELECARE_PARTITIONS, alarmTypes);
  const startAreaLanes = areaLanes(n, areaTypesOf(ruleSet));
  service.step('bringing the lane consumers in step');
  await ensureLaneConsumers(
    jsm,
    n,
    [...ownLanes, ...startAreaLanes],
    config.TRIAGE_ACK_WAIT_S,
    config.TRIAGE_LANE_CONCURRENCY,
  );
  await removeRetiredConsumers(jsm, n, p1Types);
  await removeAreaConsumers(jsm, n, startAreaLanes);

  const registry = service.metrics;
  const metrics = createTriageMetrics(registry);
  RedisAway.of(redis).onChange = (away, cause) => {
    metrics.redisAway.set(away ? 1 : 0);
    if (away) metrics.redisWentAway.inc({ cause });
  };
  metrics.redisAway.set(RedisAway.of(redis).away ? 1 : 0);
  for (const reason of REDIS_REFUSAL_REASONS) metrics.redisRefusing.set({ reason }, 0);
  redisAway.onRefusing = (refusal) => {
    for (const reason of REDIS_REFUSAL_REASONS)
      metrics.redisRefusing.set({ reason }, reason === refusal?.reason ? 1 : 0);
    if (refusal) metrics.redisRefusals.inc({ reason: refusal.reason });
  };
  watchConsumers(registry, jsm, [{ stream: n.streams.events, include: (c) => c.startsWith('triage-') }]);
  const timers = await TimerStore.open({
    nc,
    names: n,
    redis,
    partitions: config.TELECARE_PARTITIONS,
    partitionOf: (residentId) => partitionOf(residentId, config.TELECARE_PARTITIONS),
    logger,
    replicas,
    storeBytes,
  });
  // The index is a cache of the durable timer records: rebuild it before any loop reads it.
  service.step('rebuilding the timer index');
  metrics.timersPending.set(await timers.rebuildIndex());
  timers.onWrite = (op, rule) => metrics.timerWrites.inc({ op, rule });
  timers.onIndexLost = (indexed) => {
    metrics.timerIndexLost.inc();
    metrics.timersPending.set(indexed);
  };
  // Every event's device, from memory: no round trip to NATS per event.
  service.step('opening the device map');
  const deviceMap = await openDeviceMapMirror(nc, n, logger, { replicas, storeBytes });
  lifecycle.add('device-map', () => deviceMap.close());
  // Whose the device is now: no one's (`residentId: null`) once the registry removed it from the
  // map (decommissioned) or marks it so; not known when the map never held it or cannot be read.
  const device = async (serial: string): Promise<DeviceContext | undefined> => {
    const entry = await deviceMap.lookup(serial);
    if (!entry) return deviceMap.removed(serial) ? { residentId: null } : undefined;
    return {
      supervisionIntervalS: entry.supervisionIntervalS,
      residentId: entry.state === 'decommissioned' ? null : entry.residentId,
      kind: entry.kind,
    };
  };
  // Each resident's declared away periods, from memory (the registry writes the bucket).
  service.step('following the declared away periods');
  const awayBucket = new WatchedBucket({
    kv: await createBucket(
      nc,
      n.kv.residentAway,
      { kind: 'residentAway', history: 5 },
      { replicas, storeBytes, logger },
    ),
    schema: ResidentAwayEntry,
    keyOf: (entry) => entry.residentId,
    what: 'resident away',
    logger: logger.child({ component: 'resident-away' }),
  });
  lifecycle.add('resident-away', () => awayBucket.close());
  // Read whole before any lane starts: an event handled before the watch delivered a resident's
  // periods would see none.
  service.step('reading the declared away periods');
  const awayHeld = awayBucket.preload(await lastValues(nc, n.kv.residentAway));
  logger.info({ residents: awayHeld }, 'declared away periods read');
  const away = (residentId: string) => awayBucket.held(residentId)?.periods;
  const store = new StateStore(redis, n.redisPrefix, logger, {
    cache: config.TRIAGE_STATE_CACHE,
    loaded: (from) => metrics.stateLoads.inc({ from }),
  });
  registerStatesHeld(registry, () => store.held);
  // Closed after the lanes stopped (closers run in reverse): their last alerts still get answers.
  const publisher = new JetStreamPublisher(nc);
  lifecycle.add('publisher', () => publisher.close());
  // Cancels not taken, stored on SECURITY for the helpline's list and held while NATS is away;
  // drained after the lanes stopped raising and before the publisher closes (closers run in reverse).
  const securityEvents = securityEventPublisher(publisher, n, logger.child({ component: 'security' }), {
    metrics: registry,
  });
  lifecycle.add('security-events', () => securityEvents.close());
  const index = new EventIndex(redis, n, {
    claims: await GapClaims.open({ nc, names: n, ttlS: EVENT_INDEX_TTL_S, replicas, storeBytes, logger }),
    waitMs: config.TRIAGE_INDEX_WAIT_MS,
    partitionOf: (residentId) => partitionOf(residentId, config.TELECARE_PARTITIONS),
    logger,
    settled: (outcome, count) => metrics.eventIndexSkipsSettled.inc({ outcome }, count),
  });
  // Closed after the lanes (closers run in reverse): the gaps they skipped get a last try.
  lifecycle.add('event-index', () => index.close());
  const processor = new EventProcessor({
    publisher,
    names: n,
    timers,
    device,
    away,
    store,
    index,
    ruleSet,
    clock,
    metrics,
    logger,
    securityEvent: securityEvents.raise,
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
    inHand: config.TRIAGE_LANE_CONCURRENCY,
    timerMaxWaitMs: config.TRIAGE_TIMER_MAX_WAIT_S * 1_000,
    firedUnread: () => metrics.timersUnread.inc(),
    retrySooner: () => RedisAway.of(redis).answersAgain(),
    metrics: registry,
  });
  lifecycle.add('lanes', () => workers.stopAll());
  const work = takingOverGapClaims(
    forgettingStates(laneWork(workers, ownLanes, startAreaLanes), store),
    index,
  );
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
  service.step('taking partition leases');
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
    storeBytes,
  });
  lifecycle.add('partitions', () => ownership.stop());

  service.ready('partitions', () => workers.healthy);
  // Redis answers but refuses writes: no state is saved, so events and timers wait (alarms still alert).
  service.ready('redisWrites', () => redisAway.refusing === undefined);
  service.ready('leases', () => ownership.healthy);
  // Ready means it holds what it needs: partitions, or the standby's certainty that a live
  // instance holds every one (see "Readiness" in the README).
  service.ready('owns', () => ownership.ready);
  service.details(() => ({
    instance: ownership.instance,
    partitions: ownership.partitions(),
    area: ownership.area,
    standby: ownership.standby,
    areaLanes: work.areaTypes(),
    redis: redisRefusingNow(redisAway),
  }));
  service.step('mounting the rules API');
  await registerRulesApi(
    service.http,
    rules,
    { admin: config.TELECARE_ADMIN_TOKEN, helpline: config.HELPLINE_TRIAGE_TOKEN },
    (residentId) =>
      eventIndexView({ index, jsm, names: n, partitions: config.TELECARE_PARTITIONS }, residentId),
    logger,
  );
  logger.info(
    {
      partitions: config.TELECARE_PARTITIONS,
      owned: ownership.partitions(),
      rules: ruleSet.rules.length,
      ruleSetVersion: ruleSet.version,
    },
    'triage started',
  );
  return {};
}

const REDIS_REFUSAL_REASONS: readonly RedisRefusalReason[] = ['oom', 'loading', 'readonly', 'misconf'];

/** For `/readyz`: what Redis refuses now and why, in its words and an operator's. */
function redisRefusingNow(away: RedisAway): Record<string, unknown> {
  const refusal = away.refusing;
  return refusal ? { refuses: refusal.reason, says: refusal.says, reply: refusal.reply } : { refuses: null };
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

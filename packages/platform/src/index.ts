export { type Clock, ManualClock, systemClock } from './clock.ts';
export {
  commonEnv,
  gatewayStateEnv,
  loadConfig,
  port,
  type RedisSentinel,
  type RedisTarget,
  redisTarget,
} from './config.ts';
export {
  ALARM_LANE,
  type ConsumerLoop,
  type ConsumerLoopOptions,
  ensureDurableConsumer,
  isRetryable,
  type MessageContext,
  refusalReason,
  startConsumerLoop,
} from './consumer.ts';
export { type WatchedConsumers, watchConsumers } from './consumer-metrics.ts';
export { type Decoded, decodeJson, issuesOf, parseMessage, type RefusalReason } from './decode.ts';
export {
  type DurabilityFinding,
  natsDurability,
  postgresDurability,
  warnDurability,
} from './durability.ts';
export { LeaderElections, leaderElectedSubject, type Raft } from './elections.ts';
export {
  BucketMissingError,
  ConfigError,
  formatBytes,
  isDataException,
  PoisonMessageError,
  type PostgresRefusal,
  postgresRefusal,
  reportedElsewhere,
  StreamReplicasError,
  StreamStorageError,
  TelecareError,
  TransientError,
} from './errors.ts';
export {
  bearerAuth,
  bearerToken,
  Counter,
  createHttpServer,
  createMetrics,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  Gauge,
  Histogram,
  HTTP_CONNECTIONS_PER_ADDRESS,
  REQUEST_TIMEOUT_MS,
  type ReadinessCheck,
  type Registry,
  sameSecret,
} from './http.ts';
export {
  ForbiddenError,
  httpErrorHandler,
  InvalidRequestError,
  type Issue,
  isDependencyDown,
  NotFoundError,
  parseRequest,
  RateLimitedError,
  RefusedError,
  RequestError,
  requestIssues,
  UnauthorizedError,
  UnavailableError,
  UnsupportedMediaTypeError,
} from './http-errors.ts';
export { nulPaths } from './input.ts';
export { KeyedLock, LanePool } from './keyed.ts';
export {
  BUCKET_LOOK_AFTER_MS,
  BUCKET_LOOK_TIMEOUT_MS,
  type BucketFollower,
  createBucket,
  type DeviceMap,
  followBucket,
  isWrongRevision,
  type KV,
  type KvEntry,
  keepBuckets,
  lastValues,
  onBucketRecreated,
  openDc09Accounts,
  openDeviceMap,
  openDeviceMapMirror,
  WatchedBucket,
} from './kv.ts';
export { createLogger, type Logger, REDACT_PATHS, warnFailure } from './logger.ts';
export {
  connectMqtt,
  disableNagle,
  type IPublishPacket,
  type MqttClient,
  type MqttMessageHandler,
  MqttSessionWatch,
  SESSION_TAKEN_OVER,
} from './mqtt.ts';
export {
  connectNats,
  DEAD_LETTER_MAX_RAW_BYTES,
  DEAD_LETTER_STREAM_MAX_BYTES,
  DEAD_LETTERS_PER_REASON,
  DEFAULT_JETSTREAM_MAX_BYTES,
  DiscardPolicy,
  ensureStreams,
  headers,
  isConsumerNotFound,
  isJetStreamUnavailable,
  isNoResponders,
  isPermanentFailure,
  isStreamNotFound,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamStore,
  jetStreamStore,
  jetstream,
  jetstreamManager,
  keepStreams,
  type NatsConnection,
  natsAnswers,
  publishDeadLetter,
  type ReplicaOptions,
  SECURITY_STREAM_MAX_BYTES,
  SECURITY_STREAM_MAX_MSGS,
  STREAM_CHECK_MS,
  type StreamBytes,
  type StreamOptions,
  type StreamsEnsured,
  streamBytes,
  streamConfigs,
  withReplicas,
} from './nats.ts';
export {
  attemptAll,
  forgetAttempt,
  type LimitOf,
  PersonLimit,
  type RateDecision,
} from './person-limit.ts';
export {
  createPool,
  migrate,
  migrationLockOf,
  type Pool,
  type PoolClient,
  prepared,
  REFUSAL_FRESH_MS,
  withTransaction,
  writesRefused,
} from './postgres.ts';
export { JetStreamPublisher } from './publisher.ts';
export { ReadMark } from './read-mark.ts';
export {
  type ChainableCommander,
  createRedis,
  REDIS_COMMAND_TIMEOUT_MS,
  REDIS_CONNECT_TIMEOUT_MS,
  type Redis,
  type RedisRefusal,
  type RedisRefusalReason,
  redisRefusal,
} from './redis.ts';
export {
  type ContractsServed,
  collectRoutes,
  contractsServed,
  mountRoutes,
  type OpenApiInfo,
  openApiDocument,
  type RouteHandler,
  type RouteHandlers,
  type RouteRequest,
  serveOpenApi,
} from './routes.ts';
export {
  type HeldSecurityEvent,
  SECURITY_OUTBOX_DRAIN_MS,
  SECURITY_OUTBOX_MAX_HELD,
  SECURITY_OUTBOX_RETRY,
  SecurityEventOutbox,
  type SecurityOutboxDrop,
  type SecurityOutboxOptions,
  securityEventPublisher,
} from './security-events.ts';
export { SECURITY_SPOOL_FILE } from './security-spool.ts';
export {
  DEPENDENCY_CHECK_MS,
  type DefinedService,
  defineService,
  type NatsClients,
  type ServiceConfig,
  type ServiceContext,
  type ServiceDefinition,
  type ServiceHandle,
  SLOW_STEP_MS,
} from './service.ts';
export {
  type Closer,
  exitOnSignals,
  Lifecycle,
  type RunningService,
  runService,
  START_TIMEOUT_MS,
} from './shutdown.ts';
export {
  lockStateFolder,
  STATE_LOCK_FILE,
  STATE_LOCK_STALE_MS,
  StateFolderInUseError,
  type StateFolderLock,
} from './state-lock.ts';
export { createStoreMetrics, type StoreMetrics } from './store-metrics.ts';
export { watchStreams } from './stream-metrics.ts';
export { hashToken, newSecret, type TokenFormat, type TokenRecord, TokenStore } from './tokens.ts';
export {
  activeTraceparent,
  injectTrace,
  inSpan,
  type MsgHdrs,
  mqttTraceContext,
  natsTraceContext,
  ROOT_TRACE,
  recordSpan,
  SpanKind,
  type SpanOptions,
  startTracing,
  type TraceContext,
  type TracesExporterKind,
  type Tracing,
  traceIdOf,
  traceparentContext,
  tracesExporterOf,
  tracingEnabled,
  type UserProperties,
} from './tracing.ts';
export {
  crossSiteReason,
  DATA_POLICY,
  overTls,
  pagePolicy,
  registerWebSecurity,
  securityHeaders,
  sha256Source,
  type WebSecurityOptions,
} from './web-security.ts';
export {
  ACK_WAIT_S,
  type BackoffPolicy,
  backoffDelay,
  type InProgress,
  keepWorking,
  Pause,
  REDELIVERY,
  SECOND_NS,
  STORE_RETRY,
  sleep,
  TimeoutError,
  within,
  withTimeout,
} from './work.ts';

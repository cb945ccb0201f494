import { fileURLToPath } from 'node:url';
import {
  type DefinedService,
  defineService,
  PersonLimit,
  type ServiceContext,
  type ServiceHandle,
  watchConsumers,
  within,
} from '@telecare/platform';
import { Authenticator } from './auth.ts';
import { type HelplineConfig, loadHelplineConfig } from './config.ts';
import { CaseFeed } from './feed.ts';
import { HeldAlerts } from './held-alerts.ts';
import { isIngestConsumer, startIngest, totalConcurrency } from './ingest.ts';
import { createHelplineMetrics } from './metrics.ts';
import { PartnerHandovers } from './overflow.ts';
import { PeopleStore } from './people.ts';
import { ConsoleStore } from './presence.ts';
import { CasePublisher } from './publisher.ts';
import { watchQueue } from './queue-metrics.ts';
import { RegistryClient } from './registry-client.ts';
import { type BudgetStore, SharedBudget } from './request-budget.ts';
import { registerRoutes } from './routes/index.ts';
import { Scheduler } from './scheduler.ts';
import { upgradeSchema } from './schema-upgrade.ts';
import { SecurityEvents, startSecurityIngest } from './security.ts';
import { CaseStore } from './store/index.ts';
import { LiveStreams } from './stream.ts';
import { StreamTickets } from './stream-tickets.ts';
import { createTelephony } from './telephony.ts';
import { TimelineReader } from './timeline.ts';
import { UnmappedCodesReader } from './unmapped.ts';

interface HelplineOwn {
  /** Runs the timers once now (tests step a manual clock with it). */
  tick(): Promise<void>;
}

export type HelplineHandle = ServiceHandle<HelplineOwn>;

/** The helpline's SQL migrations (node-pg-migrate). */
export const HELPLINE_MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
/** How often committed case events that did not reach CASES at once are retried. */
const OUTBOX_RETRY_MS = 5_000;

/**
 * The helpline: turns alerts into cases in PostgreSQL, records every change as a case event
 * (also published to CASES), and serves the case API, the live stream and the console.
 */
export const helplineService: DefinedService<HelplineConfig, HelplineOwn> = defineService({
  name: 'helpline',
  config: () => loadHelplineConfig(),
  streams: ['alerts', 'cases', 'deadletter', 'security'],
  http: (config: HelplineConfig) => ({
    port: config.HELPLINE_PORT,
    host: config.HTTP_HOST,
    trustProxy: config.HELPLINE_TRUST_PROXY,
  }),
  start: wireHelpline,
  // The first start after an upgrade from before migration 013 counts every alert stored until
  // then (`schema-upgrade.ts`): minutes for a million alerts, with the previous version serving.
  startTimeoutMs: 30 * 60_000,
});

export const startHelpline: DefinedService<HelplineConfig, HelplineOwn>['start'] = helplineService.start;

async function wireHelpline(service: ServiceContext<HelplineConfig>): Promise<HelplineOwn> {
  const { config, logger, clock, lifecycle } = service;
  const n = service.names;
  const schema = n.schema('helpline');
  const app = service.http;
  await upgradeSchema({
    url: config.DATABASE_URL,
    schema,
    dir: HELPLINE_MIGRATIONS,
    logger,
    tls: config.TELECARE_TLS_CA,
  });
  // Room for every concurrent alert commit plus the API, the feed and the timers.
  const pool = service.postgres({
    url: config.DATABASE_URL,
    max: totalConcurrency(config.INGEST_CONCURRENCY) + 8,
  });
  const { nc, js, jsm } = await service.nats();

  const metrics = createHelplineMetrics(service.metrics);
  const security = new SecurityEvents(pool, schema, logger.child({ component: 'security' }), {
    nc,
    subject: n.subjects.securityEvents,
  });
  const consoles = new ConsoleStore(pool, schema, config.PRESENCE_TIMEOUT_S);
  const store = new CaseStore(pool, schema, config.CASE_JOIN_WINDOW_S, consoles);
  watchQueue(service.metrics, store, clock);
  watchConsumers(service.metrics, jsm, [{ stream: n.streams.alerts, include: isIngestConsumer }]);
  const publisher = new CasePublisher(store, js, n, metrics, logger.child({ component: 'publisher' }));

  // The case store's own ping: PostgreSQL answers and the schema is there.
  service.ready('postgres', () => within(store.ping(), 2_000));

  const feed = await CaseFeed.start({
    js,
    jsm,
    names: n,
    store,
    logger: logger.child({ component: 'feed' }),
  });
  const people = new PeopleStore(
    pool,
    schema,
    { consoles, now: () => new Date(clock.now()) },
    { idleSeconds: config.SESSION_TTL_S, maxSeconds: config.SESSION_MAX_S },
  );
  if (config.HELPLINE_ADMIN_EMAIL && config.HELPLINE_ADMIN_PASSWORD) {
    const created = await people.seedAdmin(
      config.HELPLINE_ADMIN_EMAIL,
      config.HELPLINE_ADMIN_PASSWORD,
      new Date(clock.now()),
    );
    logger.info({ created }, created ? 'first admin user created' : 'admin user already exists');
  }
  const scheduler = new Scheduler({
    store,
    publisher,
    metrics,
    clock,
    logger: logger.child({ component: 'timers' }),
    tickMs: config.TIMER_TICK_MS,
    offerSeconds: config.OFFER_TIMEOUT_S,
    ladder: [
      { step: 1, to: 'all-operators', afterSeconds: config.ESCALATE_ALL_OPERATORS_S },
      { step: 2, to: 'supervisor', afterSeconds: config.ESCALATE_SUPERVISOR_S },
      { step: 3, to: 'overflow', afterSeconds: config.ESCALATE_OVERFLOW_S },
    ],
    operatorGone: {
      goneSeconds: config.HELPLINE_OPERATOR_GONE_S,
      requeueSeconds: config.HELPLINE_OPERATOR_GONE_REQUEUE_S,
    },
    handovers: new PartnerHandovers({
      store,
      publisher,
      metrics,
      clock,
      logger: logger.child({ component: 'overflow' }),
      url: config.OVERFLOW_WEBHOOK_URL,
      secret: config.HELPLINE_PARTNER_SECRET,
    }),
  });
  const held = new HeldAlerts();
  const streams = new LiveStreams({
    held,
    feed,
    store,
    consoles,
    scheduler,
    metrics,
    clock,
    logger: logger.child({ component: 'stream' }),
    pingMs: Math.max(250, Math.round((config.PRESENCE_TIMEOUT_S * 1000) / 3)),
    maxPerPrincipal: config.STREAMS_PER_PRINCIPAL,
  });
  // The read and write budgets, counted in PostgreSQL for every instance together.
  const budgets: BudgetStore = {
    pool,
    schema,
    logger: logger.child({ component: 'budgets' }),
    fallbacks: metrics.budgetFallbacks,
  };
  await registerRoutes(app, {
    store,
    people,
    auth: new Authenticator(
      people,
      config.TELECARE_ADMIN_TOKEN,
      new StreamTickets(pool, schema, config.STREAM_TICKET_TTL_S),
    ),
    consoles,
    streams,
    publisher,
    scheduler,
    registry: new RegistryClient(
      config.REGISTRY_URL,
      config.HELPLINE_REGISTRY_TOKEN,
      logger.child({ component: 'registry' }),
      () => clock.now(),
      config.HELPLINE_REGISTRY_TIMEOUT_MS,
      config.HELPLINE_REGISTRY_CONNECTIONS,
    ),
    timeline: new TimelineReader({
      js,
      jsm,
      names: n,
      partitions: config.TELECARE_PARTITIONS,
      logger: logger.child({ component: 'timeline' }),
      ...(config.TRIAGE_URL && config.HELPLINE_TRIAGE_TOKEN
        ? { triage: { url: config.TRIAGE_URL, token: config.HELPLINE_TRIAGE_TOKEN } }
        : {}),
      scanLimit: config.HELPLINE_TIMELINE_SCAN,
    }),
    unmapped: new UnmappedCodesReader(js, n, logger.child({ component: 'unmapped' }), {
      reads: metrics.unmappedReads,
      messages: metrics.unmappedMessages,
    }),
    metrics,
    clock,
    logger: logger.child({ component: 'api' }),
    offerSeconds: config.OFFER_TIMEOUT_S,
    holdMaxSeconds: config.HELPLINE_HOLD_MAX_S,
    timelineReadsAtOnce: config.TIMELINE_READS_AT_ONCE,
    caseViewNotes: config.CASE_VIEW_NOTES,
    presenceOnLogin: config.PRESENCE_ON_LOGIN,
    publicOrigin: config.HELPLINE_PUBLIC_ORIGIN,
    reportsUrl: config.TELECARE_REPORTS_URL,
    cookieSecure: config.HELPLINE_COOKIE_SECURE,
    security,
    loginLimits: {
      user: new PersonLimit(
        pool,
        schema,
        'login-user',
        config.LOGIN_FAILURES_PER_USER,
        config.LOGIN_LOCKOUT_WINDOW_S * 1000,
        () => clock.now(),
      ),
      address: new PersonLimit(
        pool,
        schema,
        'login-address',
        config.LOGIN_FAILURES_PER_ADDRESS,
        config.LOGIN_LOCKOUT_WINDOW_S * 1000,
        () => clock.now(),
      ),
    },
    telephony: createTelephony(config, logger.child({ component: 'telephony' })),
    emergencyNumber: config.HELPLINE_EMERGENCY_NUMBER,
    // Past the PBX's time to answer, within PostgreSQL's statement timeout (15 s).
    callClaimWaitMs: Math.min(config.HELPLINE_PBX_TIMEOUT_MS + 2000, 12_000),
    revealLimit: new PersonLimit(
      pool,
      schema,
      'reveals',
      config.HELPLINE_REVEAL_LIMIT,
      config.HELPLINE_REVEAL_WINDOW_S * 1000,
      () => clock.now(),
    ),
    contextReadLimit: new PersonLimit(
      pool,
      schema,
      'context-reads',
      config.CONTEXT_READS_PER_HOUR,
      3_600_000,
      () => clock.now(),
    ),
    queueNamesLimit: new PersonLimit(pool, schema, 'queue-names', config.QUEUE_NAMES_PER_MINUTE, 60_000, () =>
      clock.now(),
    ),
    staffListLimit: new PersonLimit(pool, schema, 'staff-list', config.STAFF_LIST_PER_MINUTE, 60_000, () =>
      clock.now(),
    ),
    overviewLimit: new PersonLimit(pool, schema, 'overview', config.OVERVIEW_PER_MINUTE, 60_000, () =>
      clock.now(),
    ),
    notesLimit: new PersonLimit(pool, schema, 'notes', config.NOTES_PER_MINUTE, 60_000, () => clock.now()),
    requestBudget: new SharedBudget('reads', config.REQUESTS_PER_MINUTE, 60_000, () => clock.now(), budgets),
    caseInHandBudget: new SharedBudget(
      'in-hand',
      config.CASE_IN_HAND_READS_PER_MINUTE,
      60_000,
      () => clock.now(),
      budgets,
    ),
    caseWriteBudget: new SharedBudget(
      'writes',
      config.CASE_WRITES_PER_MINUTE,
      60_000,
      () => clock.now(),
      budgets,
    ),
    factsLimit: new PersonLimit(pool, schema, 'facts', config.FACTS_PER_MINUTE, 60_000, () => clock.now()),
    supervisorControlsLimit: new PersonLimit(
      pool,
      schema,
      'supervisor-controls',
      config.SUPERVISOR_CONTROLS_PER_HOUR,
      3_600_000,
      () => clock.now(),
    ),
  });
  lifecycle.add('stream', async () => {
    // The consoles this instance held are gone with it: their people are not there any more.
    await streams.close();
    await feed.close();
  });
  // The consoles' streams end before the server waits for requests in flight: they never end by themselves.
  app.addHook('preClose', () => streams.close());
  streams.start();

  // Events an earlier run committed but could not publish go out now, then on a timer.
  publisher.flushInBackground();
  const retry = setInterval(() => publisher.flushInBackground(), OUTBOX_RETRY_MS);
  retry.unref();
  lifecycle.add('outbox', async () => {
    clearInterval(retry);
    await publisher.flush().catch(() => undefined);
  });

  const ingest = await startIngest(
    {
      js,
      jsm,
      names: n,
      store,
      publisher,
      metrics,
      clock,
      logger: logger.child({ component: 'ingest' }),
      onCommitted: () => scheduler.poke(),
      held,
    },
    { concurrency: config.INGEST_CONCURRENCY },
  );
  lifecycle.add('ingest', () => ingest.stop());
  // The gateways' security events, into the list a supervisor reads.
  const securityIngest = await startSecurityIngest({
    js,
    jsm,
    names: n,
    security,
    perHour: config.HELPLINE_SECURITY_EVENTS_PER_HOUR,
    read: metrics.securityEventsRead,
    clock,
    logger: logger.child({ component: 'security-ingest' }),
    metrics: metrics.registry,
  });
  lifecycle.add('security-ingest', () => securityIngest.stop());
  // Timers start after ingest so a restart first resumes what PostgreSQL says is due.
  scheduler.start();
  lifecycle.add('timers', () => scheduler.stop());

  logger.info({ schema, joinWindowS: config.CASE_JOIN_WINDOW_S }, 'helpline started');
  logger.info(
    config.HELPLINE_ADMIN_EMAIL
      ? 'console: sign in with HELPLINE_ADMIN_EMAIL and HELPLINE_ADMIN_PASSWORD, then add operators under People'
      : config.TELECARE_ADMIN_TOKEN
        ? 'console: open <console>#token=<TELECARE_ADMIN_TOKEN> to sign in as admin, then add operators under People'
        : 'console: no way to sign in yet; set HELPLINE_ADMIN_EMAIL and HELPLINE_ADMIN_PASSWORD, or TELECARE_ADMIN_TOKEN',
  );
  return { tick: () => scheduler.tickNow() };
}

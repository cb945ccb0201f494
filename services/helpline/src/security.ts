import {
  type Names,
  SECURITY_EVENT_KINDS,
  type SecurityEventKind,
  SecurityEvent as SecurityEventMessage,
  type SecurityEventView,
} from '@telecare/contracts';
import {
  ACK_WAIT_S,
  type Clock,
  type ConsumerLoopOptions,
  type Counter,
  ensureDurableConsumer,
  type JetStreamClient,
  type JetStreamManager,
  type Logger,
  type NatsConnection,
  type Pool,
  SECOND_NS,
  startConsumerLoop,
} from '@telecare/platform';
import { z } from 'zod';

export { SECURITY_EVENT_KINDS, type SecurityEventKind };

const SERVICE = 'helpline';

/**
 * The services that publish security events on SECURITY, by the names they sign them with. The
 * `service` of an event is whatever its publisher wrote: anything else is counted as `other`, so a
 * misconfigured or hostile publisher cannot grow the metrics' label values without bound.
 */
const KNOWN_SERVICES: ReadonlySet<string> = new Set([
  'gateway-dc09',
  'gateway-mqtt',
  'triage',
  'registry',
  'reports',
  SERVICE,
]);

/** The `service` label of `helpline_security_events_read_total`: a known service, else `other`. */
export const serviceLabel = (service: string): string => (KNOWN_SERVICES.has(service) ? service : 'other');

/** What became of another service's security event read from SECURITY. */
export type StoredOutcome = 'stored' | 'duplicate' | 'capped';

/** A security event as `GET /api/security-events` lists it. */
export type SecurityEvent = SecurityEventView;

const Row = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  at: z.date(),
  service: z.string(),
  kind: z.enum(SECURITY_EVENT_KINDS),
  user_id: z.string().nullable(),
  case_id: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});

/** Where raised events are published (core NATS) so other services can follow them. */
export interface SecurityFeed {
  readonly nc: NatsConnection;
  readonly subject: string;
}

/**
 * Misuse a supervisor must see (`GET /api/security-events`): kept in PostgreSQL so every instance
 * and a restart see the same list, logged at warn with ids only for whoever watches the logs, and
 * published on `<namespace>.security.events` for other services and supervisors' tools.
 */
export class SecurityEvents {
  readonly #table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly logger: Logger,
    private readonly feed?: SecurityFeed,
  ) {
    this.#table = `"${schema}".security_events`;
  }

  async raise(
    kind: SecurityEventKind,
    who: { userId: string | null; caseId: string | null },
    detail: Record<string, unknown>,
    now: Date,
  ): Promise<void> {
    this.logger.warn(
      { securityEvent: kind, userId: who.userId, caseId: who.caseId, ...detail },
      `security: ${kind}`,
    );
    let id: string | null = null;
    try {
      const { rows } = await this.pool.query(
        `insert into ${this.#table} (at, kind, user_id, case_id, detail) values ($1, $2, $3, $4, $5) returning id`,
        [now, kind, who.userId, who.caseId, JSON.stringify(detail)],
      );
      id = rows[0] ? String((rows[0] as { id: string | number }).id) : null;
    } catch (err) {
      // The refusal stands whether or not it could be stored; the log line above still carries it.
      this.logger.error({ err, securityEvent: kind }, 'security event not stored');
    }
    this.#publish({
      id,
      at: now.toISOString(),
      service: SERVICE,
      kind,
      userId: who.userId,
      caseId: who.caseId,
      detail,
    });
  }

  /** At most once: the stored record is what counts; a closed connection loses only the notice. */
  #publish(event: SecurityEventMessage): void {
    if (!this.feed) return;
    try {
      this.feed.nc.publish(this.feed.subject, JSON.stringify(SecurityEventMessage.parse(event)));
    } catch (err) {
      this.logger.error({ err, securityEvent: event.kind }, 'security event not published');
    }
  }

  /**
   * Stores another service's event (a gateway's, read from SECURITY) once under its `ref`, within
   * `perHour` of that service's events stored in the last hour: one statement, so two instances
   * storing at once agree on the duplicate (the unique ref) and pass the cap by at most one each.
   * The hour is the database's (`received_at`), not the event's `at`, which is whatever its
   * publisher wrote: dated an hour apart, or years ahead or behind, events are capped all the same
   * (`at` is kept as given, for the list). Every name not of a known service shares one cap, as it
   * shares the `other` label: a publisher naming itself anew in each event gets no cap of its own.
   */
  async store(event: SecurityEventMessage, ref: string, perHour: number): Promise<StoredOutcome> {
    // A known service's own rows (on the (service, received_at) index), or every unknown name's
    // together (on the (received_at) index).
    const bucket = KNOWN_SERVICES.has(event.service) ? 'service = $1' : 'not (service = any($9::text[]))';
    const { rows } = await this.pool.query(
      `with capped as (
         select count(*) >= $8 as over from (
           select 1 from ${this.#table}
            where ${bucket}
              and received_at > now() - interval '1 hour'
            limit $8
         ) recent
       ), taken as (
         insert into ${this.#table} (service, ref, at, received_at, kind, user_id, case_id, detail)
         select $1, $3, $2::timestamptz, now(), $4, $5, $6, $7::jsonb from capped where not over
         on conflict (ref) do nothing
         returning id
       )
       select (select over from capped) as over, exists (select 1 from taken) as stored`,
      [
        event.service,
        new Date(event.at),
        ref,
        event.kind,
        event.userId,
        event.caseId,
        JSON.stringify(event.detail),
        perHour,
        ...(KNOWN_SERVICES.has(event.service) ? [] : [[...KNOWN_SERVICES]]),
      ],
    );
    const row = rows[0] as { over: boolean; stored: boolean } | undefined;
    if (row?.stored) return 'stored';
    if (!row?.over) return 'duplicate';
    // Over the cap, it may also have been stored before: a duplicate either way, counted as capped.
    return 'capped';
  }

  /**
   * The newest stored first (by id, the order of storing): an event dated far ahead by its publisher
   * cannot hold the top of the list, nor one dated far behind hide below it; each shows its own `at`.
   */
  async list(limit: number): Promise<SecurityEvent[]> {
    const { rows } = await this.pool.query(
      `select id, at, service, kind, user_id, case_id, detail from ${this.#table} order by id desc limit $1`,
      [limit],
    );
    return rows.map((row) => {
      const r = Row.parse(row);
      return {
        id: r.id,
        at: r.at.toISOString(),
        service: r.service,
        kind: r.kind,
        userId: r.user_id,
        caseId: r.case_id,
        detail: r.detail,
      };
    });
  }
}

/** The helpline's durable consumer on SECURITY: every instance pulls from it, each message goes to one. */
export const SECURITY_CONSUMER = 'helpline-security';

const securityConsumer: ConsumerLoopOptions<SecurityEventMessage>['recreate'] = {
  deliver_policy: 'all',
  ack_wait: ACK_WAIT_S * SECOND_NS,
  max_deliver: -1,
  max_ack_pending: 100,
};

export interface SecurityIngestDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly security: SecurityEvents;
  readonly perHour: number;
  readonly read: Counter<'service' | 'outcome'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: ConsumerLoopOptions<SecurityEventMessage>['metrics'];
}

/**
 * Stores the other services' security events (the gateways' forged DC-09 frames, alarms from the
 * wrong kind of device) from the SECURITY stream into the list a supervisor reads. The stream keeps
 * what came while no helpline ran; the `ref` keeps one row per event with several instances or a
 * redelivery. The helpline's own are stored as raised (and published after), so skipped here.
 */
export async function startSecurityIngest(deps: SecurityIngestDeps): Promise<{ stop(): Promise<void> }> {
  const stream = deps.names.streams.security;
  await ensureDurableConsumer(
    deps.jsm,
    stream,
    SECURITY_CONSUMER,
    { ack_wait: ACK_WAIT_S * SECOND_NS },
    securityConsumer,
  );
  const loop = startConsumerLoop({
    js: deps.js,
    names: deps.names,
    stream,
    consumer: SECURITY_CONSUMER,
    service: SERVICE,
    schema: SecurityEventMessage,
    root: '(securityEvent)',
    handle: async (event, message) => {
      if (event.service === SERVICE) return;
      // A message published without an id of its own (a core publish) is keyed by its place.
      const ref = message.headers.get('Nats-Msg-Id') ?? `${stream}:${message.seq}`;
      const outcome = await deps.security.store(event, ref, deps.perHour);
      deps.read.inc({ service: serviceLabel(event.service), outcome });
      if (outcome === 'capped')
        deps.logger.warn(
          { securityEvent: event.kind, service: event.service, ref },
          'security event past HELPLINE_SECURITY_EVENTS_PER_HOUR: counted, not listed',
        );
    },
    logger: deps.logger,
    clock: deps.clock,
    recreate: securityConsumer,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
  return { stop: () => loop.stop() };
}

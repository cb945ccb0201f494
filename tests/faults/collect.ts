import { type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import pg from 'pg';
import { z } from 'zod';
import type { SentPress } from './load.ts';
import {
  type ServerRecord,
  type StoredAlert,
  type StoredCaseEvent,
  type StoredEvent,
  storedIds,
} from './reconcile.ts';

/** What the proofs read of each stream's messages; anything else in them is ignored. */
const EventFields = z.object({
  id: z.string(),
  type: z.string(),
  source: z.string().optional(),
  subject: z.string().optional(),
  seq: z.number().optional(),
});
const AlertFields = z.object({
  id: z.string(),
  type: z.string(),
  rule: z.object({ id: z.string() }),
  evidence: z.array(z.string()),
  testMode: z.boolean(),
  closes: z.unknown().optional(),
  repeats: z.unknown().optional(),
});
const CaseEventFields = z.object({
  id: z.string(),
  caseId: z.string(),
  kind: z.string(),
  data: z.object({ alertId: z.string().optional() }).loose(),
});

/** Every message of a stream, in order, with the time the stream stored it (ms). */
async function readStream<T>(
  nc: NatsConnection,
  stream: string,
  schema: z.ZodType<T>,
): Promise<Array<{ value: T; storedAt: number }>> {
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  const total = info.state.messages;
  const out: Array<{ value: T; storedAt: number }> = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume();
  const add = (msg: JsMsg) => {
    const parsed = schema.safeParse(msg.json());
    if (parsed.success) out.push({ value: parsed.data, storedAt: msg.time.getTime() });
  };
  for await (const msg of messages) {
    add(msg);
    if (msg.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

export interface Collected {
  readonly servers: ServerRecord;
  /** Ms from the first send of a press to the first CASES message for its alert; undefined: never. */
  readonly pressToCase: ReadonlyArray<{ press: SentPress; ms: number | undefined }>;
}

/** Reads the run's streams and the helpline's tables for the reconciler, and times every press. */
export async function collect(
  nc: NatsConnection,
  databaseUrl: string,
  namespace: string,
  presses: readonly SentPress[],
): Promise<Collected> {
  const n = names(namespace);
  const events = await readStream(nc, n.streams.events, EventFields);
  const alerts = await readStream(nc, n.streams.alerts, AlertFields);
  const cases = await readStream(nc, n.streams.cases, CaseEventFields);
  const caseEvents: StoredCaseEvent[] = cases.map(({ value }) => ({
    id: value.id,
    caseId: value.caseId,
    kind: value.kind,
    ...(value.data.alertId === undefined ? {} : { alertId: value.data.alertId }),
  }));
  const db = await readHelplineTables(databaseUrl, n.schema('helpline'));
  const servers: ServerRecord = {
    events: events.map(({ value }) => value as StoredEvent),
    alerts: alerts.map(({ value }) => value as StoredAlert),
    caseEvents,
    db,
  };
  return { servers, pressToCase: timePresses(presses, servers, cases) };
}

async function readHelplineTables(databaseUrl: string, schema: string): Promise<ServerRecord['db']> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const q = <R extends pg.QueryResultRow>(sql: string) => client.query<R>(sql).then((r) => r.rows);
    const caseIds = await q<{ id: string }>(`select id from "${schema}".cases`);
    const caseAlerts = await q<{ alert_id: string; case_id: string }>(
      `select alert_id, case_id from "${schema}".case_alerts`,
    );
    const caseEventIds = await q<{ id: string }>(`select id from "${schema}".case_events`);
    const outbox = await q<{ event_id: string }>(`select event_id from "${schema}".case_outbox`);
    return {
      caseIds: caseIds.map((r) => r.id),
      caseAlerts: caseAlerts.map((r) => ({ alertId: r.alert_id, caseId: r.case_id })),
      caseEventIds: caseEventIds.map((r) => r.id),
      outboxIds: outbox.map((r) => r.event_id),
    };
  } finally {
    await client.end();
  }
}

/**
 * Press → case: from the first send (a panel's press: the press, which may wait behind a message
 * being resent) to the first CASES message that opened or joined an alert of it.
 */
function timePresses(
  presses: readonly SentPress[],
  { events, alerts }: ServerRecord,
  cases: ReadonlyArray<{ value: z.infer<typeof CaseEventFields>; storedAt: number }>,
): Array<{ press: SentPress; ms: number | undefined }> {
  const firstCaseAt = new Map<string, number>();
  for (const { value, storedAt } of cases) {
    const alertId = value.data.alertId;
    if (alertId !== undefined && !firstCaseAt.has(alertId)) firstCaseAt.set(alertId, storedAt);
  }
  const caseAtOfEvent = new Map<string, number>();
  for (const alert of alerts) {
    const at = firstCaseAt.get(alert.id);
    if (at === undefined || alert.closes !== undefined) continue;
    for (const eventId of alert.evidence) {
      caseAtOfEvent.set(eventId, Math.min(at, caseAtOfEvent.get(eventId) ?? at));
    }
  }
  const idsOf = storedIds(events);
  return presses.map((press) => {
    const times = idsOf({ ...press, type: 'pendant.pressed' }).flatMap((id) => caseAtOfEvent.get(id) ?? []);
    const at = times.length === 0 ? undefined : Math.min(...times);
    return { press, ms: at === undefined ? undefined : Math.max(0, at - press.sentAt) };
  });
}

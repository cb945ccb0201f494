import type { Because, HelplineCase } from '@telecare/contracts';
import {
  type Alert,
  Alert as AlertSchema,
  type CaseEvent,
  type CaseFact,
  type CaseState,
  type EventType,
  EventTypeSchema,
  newId,
  type Outcome,
  type Priority,
} from '@telecare/contracts';
import { prepared, withTransaction } from '@telecare/platform';
import { z } from 'zod';
import { ALERT_WINDOW } from '../alert-window.ts';
import { type AlertContext, decide, decideAlert } from '../core/index.ts';
import type {
  Actor,
  CasePatch,
  CaseSnapshot,
  ClosedAlerts,
  Command,
  Decision,
  RecordedKind,
} from '../core/model.ts';
import { clearsWithoutOperator, FAULT_REPEATS, OPEN_STATES, pressKeyOf } from '../core/transitions.ts';
import { CaseInputRefusedError, CaseNotFoundError, TransitionRefusedError } from '../errors.ts';
import { encodeNoteCursor, type ListKey, type NoteKey } from '../list-cursor.ts';
import {
  append,
  type Db,
  eventByKey,
  type KeyedRequest,
  keptStep,
  presenceFollows,
  type StoreContext,
  stamp,
} from './context.ts';
import {
  becauseOf,
  CaseRow,
  SNAPSHOT_COLUMNS,
  type StoredCase,
  toCase,
  toEvent,
  toSnapshot,
} from './rows.ts';

// Cases: the shell around the case core. Each change loads and locks the case, asks the core
// (`decide`), and writes the patch and the events with their outbox rows in one transaction.

export type IngestResult =
  | { readonly outcome: 'duplicate'; readonly caseId: string }
  | {
      /**
       * `closing`: an alert that closes an earlier one joined that alert's case (and may have
       * resolved it); `record`: a record-only (P5) alert with nothing to close, kept in a closed case;
       * `repeat`: a repeat press counted on the open case of the alert it repeats.
       */
      readonly outcome: 'opened' | 'joined' | 'repeat' | 'test' | 'closing' | 'record';
      readonly caseId: string;
      readonly events: CaseEvent[];
      /** Set when a closing alert resolved its case on its own. */
      readonly autoResolved?: 'false-alarm' | 'technical-resolved';
    };

export type TransitionInput =
  | { action: 'accept' }
  | {
      action: 'hold';
      until: Date;
      reason: string;
      returnPriority?: Priority | undefined;
      seenAlerts?: number | undefined;
    }
  | {
      action: 'resolve';
      outcome: Outcome;
      reason: string;
      facts?: readonly CaseFact[] | undefined;
      seenAlerts?: number | undefined;
    };

const PATCH_COLUMNS: Record<keyof CasePatch, string> = {
  state: 'state',
  priority: 'priority',
  type: 'type',
  lastAlertAt: 'last_alert_at',
  acceptedAt: 'accepted_at',
  resolvedAt: 'resolved_at',
  outcome: 'outcome',
  outcomeReason: 'outcome_reason',
  holdUntil: 'hold_until',
  holdReason: 'hold_reason',
  holdReturnPriority: 'hold_return_priority',
  offeredTo: 'offered_to',
  offerExpiresAt: 'offer_expires_at',
  lastOfferedTo: 'last_offered_to',
  assignedTo: 'assigned_to',
  escalationStep: 'escalation_step',
  requeuedAt: 'requeued_at',
  priorityRaisedAt: 'priority_raised_at',
  answerTargetMissed: 'answer_target_missed',
  holderGoneSince: 'holder_gone_since',
  operatorGoneAt: 'operator_gone_at',
  faultRepeats: 'fault_repeats',
};

/** Writes what the core decided about a case's columns (and when it changed). */
export async function writePatch(ctx: StoreContext, db: Db, caseId: string, patch: CasePatch, now: Date) {
  const sets = ['updated_at = $2'];
  const values: unknown[] = [caseId, now];
  for (const [key, column] of Object.entries(PATCH_COLUMNS) as [keyof CasePatch, string][]) {
    const value = patch[key];
    if (value === undefined) continue;
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  }
  await db.query(`update ${ctx.t.cases} set ${sets.join(', ')} where id = $1`, values);
}

/**
 * SQL that is true when the operator a case (alias `c`) is offered to has accepted another case
 * since it was offered (taken or given to them after the offer's event). One they already held when
 * the offer was made does not count: an offer goes to a busy operator only when a supervisor gives
 * it to them, and it used to be taken back at the next tick, as if they had taken another case,
 * and offered to whoever was free. Both latest events are read by the index of a case's events.
 */
export const busySql = (ctx: StoreContext, c: string) =>
  `exists (select 1 from ${ctx.t.cases} b where b.state = 'accepted' and b.assigned_to = ${c}.offered_to and b.id <> ${c}.id
     and (select max(e.seq) from ${ctx.t.events} e where e.case_id = b.id and e.kind in ('accepted', 'reassigned'))
       > coalesce((select max(e.seq) from ${ctx.t.events} e where e.case_id = ${c}.id and e.kind in ('offered', 'reassigned')), 0))`;

// A case as the core sees it reads none of its alerts, only what they come to (the row's tally).
// Its columns are named: it runs as a prepared statement (timers scan with it every tick).
const snapshotSql = (ctx: StoreContext, where: string) =>
  `select ${SNAPSHOT_COLUMNS.map((k) => `c.${k}`).join(', ')},
     coalesce(${ctx.consoles.thereSql('c.offered_to', '$1')}, false) as offered_to_present,
     coalesce(${ctx.consoles.awaySql('c.offered_to')}, false) as offered_to_away,
     ${busySql(ctx, 'c')} as offered_to_busy,
     case when exists (select 1 from ${ctx.t.users} u where u.id = c.assigned_to)
       then ${ctx.consoles.connectedSql('c.assigned_to', '$1')} end as holder_present,
     case when exists (select 1 from ${ctx.t.users} u where u.id = c.assigned_to)
       then ${ctx.consoles.awaySql('c.assigned_to')} end as holder_away,
     case when exists (select 1 from ${ctx.t.users} u where u.id = c.assigned_to)
       then ${ctx.consoles.signedInSql('c.assigned_to', '$1')} end as holder_signed_in
   from ${ctx.t.cases} c where ${where}`;

/**
 * Cases matching `where` (parameters from $2; $1 is now), locked, as the core sees them;
 * `skipLocked` passes over rows another transaction holds (a timer on another instance).
 */
export async function lockSnapshots(
  ctx: StoreContext,
  db: Db,
  now: Date,
  where: string,
  params: unknown[],
  skipLocked = false,
): Promise<CaseSnapshot[]> {
  const { rows } = await db.query(
    prepared(`${snapshotSql(ctx, where)} for update of c${skipLocked ? ' skip locked' : ''}`, [
      now,
      ...params,
    ]),
  );
  return rows.map(toSnapshot);
}

/** Cases matching `where`, as the core sees them, without locking them (a timer's candidates). */
export async function readSnapshots(
  ctx: StoreContext,
  db: Db,
  now: Date,
  where: string,
  params: unknown[],
): Promise<CaseSnapshot[]> {
  const { rows } = await db.query(prepared(snapshotSql(ctx, where), [now, ...params]));
  return rows.map(toSnapshot);
}

/** The case, locked for the rest of the transaction, as the core sees it. */
export async function lockCase(ctx: StoreContext, db: Db, id: string, now: Date): Promise<CaseSnapshot> {
  const [c] = await lockSnapshots(ctx, db, now, 'c.id = $2', [id]);
  if (!c) throw new CaseNotFoundError(id);
  return c;
}

/** The case holding an alert, when it is this resident's. */
const lockHolding = async (ctx: StoreContext, db: Db, now: Date, alertId: string, residentId: string) =>
  (
    await lockSnapshots(
      ctx,
      db,
      now,
      `c.id = (select case_id from ${ctx.t.alerts} where alert_id = $2) and c.resident_id = $3`,
      [alertId, residentId],
    )
  )[0];

/** The resident's newest open case. */
const lockOpen = async (ctx: StoreContext, db: Db, now: Date, residentId: string) =>
  (
    await lockSnapshots(
      ctx,
      db,
      now,
      'c.resident_id = $2 and not c.test_mode and c.state = any($3) order by c.last_alert_at desc limit 1',
      [residentId, OPEN_STATES],
    )
  )[0];

/**
 * What a closing alert closes in a case: the type of the alert it names, and the raisers it closes
 * (that alert, and the repeats of it no alert closed itself) by type and how each stood. Read by
 * index (migration 015): the case row keeps how all its raisers stand, so a case of thousands of
 * alerts costs a cancel or a restore no more than a case of one.
 */
async function closedIn(
  ctx: StoreContext,
  db: Db,
  caseId: string,
  closing: Alert,
  now: Date,
): Promise<ClosedAlerts> {
  const target = closing.closes?.alertId ?? null;
  const named = await db.query<{ type: string; serial: string | null }>(
    `select alert ->> 'type' as type, alert ->> 'deviceSerial' as serial
       from ${ctx.t.alerts} where alert_id = $1 and case_id = $2`,
    [target, caseId],
  );
  const { rows } = await db.query(
    `select alert ->> 'type' as type, coalesce(closed_as, 'open') as was, count(*)::integer as count
       from ${ctx.t.alerts}
      where case_id = $1 and closes_id is null and (alert_id = $2 or (repeats_id = $2 and not closed_directly))
      group by 1, 2`,
    [caseId, target],
  );
  const type = named.rows[0] ? EventTypeSchema.parse(named.rows[0].type) : undefined;
  const serial = named.rows[0]?.serial;
  const restored = closing.closes?.outcome === 'restored' && type && clearsWithoutOperator(type);
  return {
    type,
    raisers: ClosedRaisers.parse(rows),
    ...(restored && serial
      ? { recent: await faultTimes(ctx, db, closing.residentId, type, serial, now) }
      : {}),
  };
}

/** The latest raisers of one device's fault read to count its spells: a bound on the read, whatever its history. */
const FAULT_ALERTS_READ = 1000;

/**
 * How many times a device raised a fault for the resident in the last `FAULT_REPEATS.days` days (by
 * when the helpline received each), counted as the cases its raisers are in: each case one spell of
 * the fault, so a home unit flapping in a brownout (mains lost, restored, lost, … in one case)
 * counts once, and a sensor noisy on three afternoons, a case each, three times. Restores, repeats
 * and test calls are not counted. Read on the index the service builds for it
 * (`case_alerts_device_faults`, migration 023), newest first and no further than
 * `FAULT_ALERTS_READ` raisers, so a restore costs the same whatever the device's history.
 */
async function faultTimes(
  ctx: StoreContext,
  db: Db,
  residentId: string,
  type: EventType,
  deviceSerial: string,
  now: Date,
): Promise<{ deviceSerial: string; times: number; days: number }> {
  const days = FAULT_REPEATS.days;
  const { rows } = await db.query<{ times: number }>(
    `select count(distinct case_id)::integer as times from (
       select case_id from ${ctx.t.alerts}
        where alert ? 'deviceSerial' and closes_id is null and repeats_id is null
          and alert ->> 'deviceSerial' = $1 and alert ->> 'type' = $2
          and received_at > $3::timestamptz - make_interval(days => $4)
          and alert ->> 'residentId' = $5 and coalesce(alert ->> 'testMode', 'false') <> 'true'
        order by received_at desc
        limit $6
     ) r`,
    [deviceSerial, type, now, days, residentId, FAULT_ALERTS_READ],
  );
  return { deviceSerial, times: rows[0]?.times ?? 0, days };
}

const ClosedRaisers = z.array(
  z.object({
    type: EventTypeSchema,
    was: z.enum(['open', 'false-alarm', 'restored']),
    count: z.number().int(),
  }),
);

/** Whether the press an alert reports already reached the case (a press can reach it twice). */
async function pressCounted(ctx: StoreContext, db: Db, caseId: string, alert: Alert): Promise<boolean> {
  const key = pressKeyOf(alert);
  if (key === undefined) return false;
  const { rows } = await db.query(
    `select 1 from ${ctx.t.alerts} where case_id = $1 and press_key = $2 limit 1`,
    [caseId, key],
  );
  return rows.length > 0;
}

// The row's tally (alert_count, presses, last press, device serials) and each alert's place are
// kept by the table's trigger as the alert is inserted (migration 013), whichever instance inserts it.
const insertAlert = (ctx: StoreContext, db: Db, caseId: string, alert: Alert, now: Date) =>
  db.query(`insert into ${ctx.t.alerts} (alert_id, case_id, alert, received_at) values ($1, $2, $3, $4)`, [
    alert.id,
    caseId,
    JSON.stringify(alert),
    now,
  ]);

/**
 * Records an alert in one transaction: a known alert id changes nothing; otherwise the core decides
 * which case it goes to (`decideAlert`), and the change, its case events and outbox rows are written.
 */
export async function ingest(ctx: StoreContext, alert: Alert, now: Date): Promise<IngestResult> {
  return withTransaction(ctx.pool, async (db) => {
    // One resident's alerts are decided one at a time, even across helpline instances, so two
    // alerts arriving together cannot open two cases.
    await db.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `${ctx.schema}:${alert.residentId}`,
    ]);
    const known = await db.query<{ case_id: string }>(
      `select case_id from ${ctx.t.alerts} where alert_id = $1`,
      [alert.id],
    );
    if (known.rows[0]) return { outcome: 'duplicate', caseId: known.rows[0].case_id };

    const closesCase =
      alert.closes && (await lockHolding(ctx, db, now, alert.closes.alertId, alert.residentId));
    const repeatsCase =
      alert.repeats && (await lockHolding(ctx, db, now, alert.repeats.alertId, alert.residentId));
    const cases: AlertContext = {
      closesCase,
      closed: closesCase && alert.closes ? await closedIn(ctx, db, closesCase.id, alert, now) : undefined,
      repeatsCase,
      repeatCounted: repeatsCase ? await pressCounted(ctx, db, repeatsCase.id, alert) : undefined,
      openCase:
        alert.testMode || alert.priority === 5 ? undefined : await lockOpen(ctx, db, now, alert.residentId),
    };
    const decided = decideAlert(cases, alert, now, ctx.joinWindowSeconds);
    let caseId: string;
    if (decided.into === 'existing') {
      caseId = decided.caseId;
      await writePatch(ctx, db, caseId, decided.patch, now);
    } else {
      caseId = newId('case', now.getTime());
      const c = decided.newCase;
      await db.query(
        `insert into ${ctx.t.cases} (id, resident_id, priority, type, state, raised_at, last_alert_at,
           test_mode, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $6, $7, $8, $8)`,
        [caseId, alert.residentId, c.priority, c.type, c.state, c.raisedAt, c.testMode, now],
      );
    }
    await insertAlert(ctx, db, caseId, alert, now);
    const events = stamp(caseId, decided.events, now);
    await append(ctx, db, events);
    let autoResolved = decided.into === 'existing' ? decided.autoResolved : undefined;
    const closedLate = alert.closes ? undefined : await closeLate(ctx, db, alert, caseId, now);
    if (closedLate) {
      events.push(...closedLate.events);
      autoResolved = closedLate.autoResolved ?? autoResolved;
    }
    return { outcome: decided.outcome, caseId, events, ...(autoResolved ? { autoResolved } : {}) };
  });
}

/**
 * Each priority has its own consumer, so the cancel or restore that closes an alert (a P5 record)
 * can be committed before the alert itself when the alert's delivery was late. It was kept as a
 * record with nothing to close (its own closed case, which keeps it); when the alert comes, the
 * closing alert closes the alert's case as if the two had come in order. A later closing alert on
 * the same case does not see it among the case's alerts, so it can only note, never resolve: the
 * operator still calls. Of several that came first, the resident's cancel is taken: a press's
 * restore (its button let go, which comes first) changes nothing of its case, and taken instead it
 * would leave the case of a press its resident cancelled in the queue.
 */
async function closeLate(
  ctx: StoreContext,
  db: Db,
  alert: Alert,
  caseId: string,
  now: Date,
): Promise<{ events: CaseEvent[]; autoResolved?: 'false-alarm' | 'technical-resolved' } | undefined> {
  const { rows } = await db.query<{ alert: Alert }>(
    `select alert from ${ctx.t.alerts}
      where alert ? 'closes' and alert -> 'closes' ->> 'alertId' = $1 and alert ->> 'residentId' = $2
      order by alert -> 'closes' ->> 'outcome' = 'false-alarm' desc, received_at limit 1`,
    [alert.id, alert.residentId],
  );
  const closing = rows[0]?.alert;
  if (!closing || closing.testMode !== alert.testMode) return undefined;
  const c = await lockCase(ctx, db, caseId, now);
  const d = decide(
    c,
    { kind: 'closing', alert: closing, closed: await closedIn(ctx, db, caseId, closing, now) },
    now,
  );
  if (!d.ok) return undefined;
  await writePatch(ctx, db, caseId, d.patch, now);
  const events = stamp(caseId, d.events, now);
  await append(ctx, db, events);
  return { events, ...(d.autoResolved ? { autoResolved: d.autoResolved } : {}) };
}

/** The error the API answers for a refusal of the core: 409 for the case's state, 400 for the input. */
export const refusalError = (caseId: string, state: CaseState, d: Decision & { ok: false }): Error =>
  d.refused === 'invalid'
    ? new CaseInputRefusedError(caseId, d.action, d.reason)
    : new TransitionRefusedError(caseId, d.action, state, d.reason, d.holder);

/** The step each command writes last, the one its request key goes on. */
const LAST_STEP: Readonly<Record<Exclude<Command['kind'], 'record'>, CaseEvent['kind']>> = {
  accept: 'accepted',
  hold: 'held',
  resolve: 'resolved',
  'record-fact': 'fact-recorded',
  reassign: 'reassigned',
};

const keyedRequestOf = (cmd: Command): KeyedRequest => ({
  actor: cmd.actor.id,
  kinds: [cmd.kind === 'record' ? cmd.event : LAST_STEP[cmd.kind]],
});

/**
 * Applies a command to a case under its row lock, or throws the refusal. A retry carrying the
 * request key of a command already done (the same person's same action) writes nothing and answers
 * `undefined`; a key another request wrote is refused (`keptStep`).
 */
async function command(
  ctx: StoreContext,
  db: Db,
  id: string,
  cmd: Command,
  now: Date,
  requestKey: string | undefined,
): Promise<CaseEvent[] | undefined> {
  const c = await lockCase(ctx, db, id, now);
  if (requestKey && (await keptStep(ctx, db, id, requestKey, keyedRequestOf(cmd)))) return undefined;
  const d = decide(c, cmd, now);
  if (!d.ok) throw refusalError(id, c.state, d);
  await writePatch(ctx, db, id, d.patch, now);
  await presenceFollows(ctx, db, c, d.patch, now, cmd.kind === 'accept' ? cmd.actor.id : undefined);
  const events = stamp(id, d.events, now);
  await append(ctx, db, events, requestKey);
  return events;
}

const commandOf = (input: TransitionInput, actor: Actor): Command =>
  input.action === 'accept'
    ? { kind: 'accept', actor }
    : input.action === 'hold'
      ? {
          kind: 'hold',
          actor,
          until: input.until,
          reason: input.reason,
          returnPriority: input.returnPriority,
          seenAlerts: input.seenAlerts,
        }
      : {
          kind: 'resolve',
          actor,
          outcome: input.outcome,
          reason: input.reason,
          facts: input.facts,
          seenAlerts: input.seenAlerts,
        };

/**
 * An operator action on a case: accept, hold, resolve (with the facts not recorded yet). Only a
 * case in an allowed state (and, once someone has it, only their own case unless the actor may
 * override) changes, so a double click or two operators racing produce exactly one case event.
 * `event` is the state change (after any facts).
 */
export async function transition(
  ctx: StoreContext,
  id: string,
  input: TransitionInput,
  actor: Actor,
  now: Date,
  requestKey?: string,
): Promise<{ case: HelplineCase; event: CaseEvent | undefined }> {
  return withTransaction(ctx.pool, async (db) => {
    const events = await command(ctx, db, id, commandOf(input, actor), now, requestKey);
    return { case: await mustGet(ctx, id, db), event: events?.at(-1) };
  });
}

/**
 * A supervisor gives a case to someone else: a waiting case is offered to them, one being worked
 * moves to them, when they are there to see it (the core's `reassign`: a live console, and not away).
 */
export async function reassign(
  ctx: StoreContext,
  id: string,
  to: string,
  reason: string,
  actor: Actor,
  now: Date,
  offerSeconds: number,
  requestKey?: string,
): Promise<{ case: HelplineCase; event: CaseEvent | undefined }> {
  return withTransaction(ctx.pool, async (db) => {
    // Whether they are away is read, and the case moved, while their user row is held: a break
    // taken at this moment (every presence change locks that row, `PeopleStore.setPresence`) either
    // came first, and an accepted case is refused them, or waits for this to commit, and going away
    // then finds the case and hands it back. Read unlocked, both could pass each other: the reassign
    // saw them there, the break saw no case of theirs, and the case stayed with someone away.
    // Locked and read in two statements: a statement that waits for a row lock reads the rest of
    // its query as it was before the wait. Whether a console of theirs is there is read in the same
    // statement, by the same rule that offers cases (`ConsoleStore.connectedSql`); a console that
    // goes silent after this is the operator-gone watch's to find, as for any holder.
    await db.query(`select 1 from ${ctx.t.users} where id = $1 for share`, [to]);
    const { rows } = await db.query<{ away: boolean; connected: boolean }>(
      `select ${ctx.consoles.awaySql('$1')} as away, ${ctx.consoles.connectedSql('$1', '$2')} as connected`,
      [to, now],
    );
    const events = await command(
      ctx,
      db,
      id,
      {
        kind: 'reassign',
        actor,
        to,
        reason,
        offerSeconds,
        toConsole: rows[0]?.connected === true,
        toAway: rows[0]?.away === true,
      },
      now,
      requestKey,
    );
    return { case: await mustGet(ctx, id, db), event: events?.at(-1) };
  });
}

/**
 * Facts for the reports (responder arrived, found on the floor, the ambulance's stages, admitted):
 * one `fact-recorded` step each, by whoever holds the case or a supervisor. A retry with the same
 * request key writes nothing and answers the step written first.
 */
export async function recordFacts(
  ctx: StoreContext,
  id: string,
  facts: readonly CaseFact[],
  actor: Actor,
  now: Date,
  requestKey?: string,
): Promise<{ events: CaseEvent[]; duplicate: boolean }> {
  return withTransaction(ctx.pool, async (db) => {
    const events = await command(ctx, db, id, { kind: 'record-fact', actor, facts }, now, requestKey);
    if (events) return { events, duplicate: false };
    const done = requestKey ? await eventByKey(ctx, db, id, requestKey) : undefined;
    return { events: done ? [done] : [], duplicate: true };
  });
}

async function mustGet(ctx: StoreContext, id: string, db: Db): Promise<HelplineCase> {
  const stored = await get(ctx, id, db);
  if (!stored) throw new CaseNotFoundError(id);
  return stored.case;
}

/**
 * The case's window of alerts (see `alert-window.ts`), read by place whatever the case holds: the
 * first, the latest, and the most urgent of those between (by priority, then the latest first).
 */
const windowSql = (ctx: StoreContext) => `(select json_agg(w.alert order by w.position) from (
      select a.alert, a.position from ${ctx.t.alerts} a
       where a.case_id = c.id and (a.position = 0 or a.position >= c.alert_count - ${ALERT_WINDOW.latest})
      union all
      (select a.alert, a.position from ${ctx.t.alerts} a
        where a.case_id = c.id and a.position between 1 and c.alert_count - ${ALERT_WINDOW.latest + 1}
        order by a.priority, a.position desc limit ${ALERT_WINDOW.urgent})
    ) w)`;

const selectCases = (ctx: StoreContext, more = '') =>
  `select c.*, ${windowSql(ctx)} as alerts${more} from ${ctx.t.cases} c`;

/** A listed case's sort key: `sort_at` is its raised_at in UTC to the microsecond. */
const SortKeyRow = z.object({ id: z.string(), priority: z.number().int(), sort_at: z.string() });

/** What `GET /api/cases` asks for: one page of the queue (`open`) or of every case (`all`). */
export interface ListQuery {
  readonly state: 'open' | 'all';
  readonly limit: number;
  /** The last case of the previous page: this page starts after it. */
  readonly after?: ListKey | undefined;
  /** raisedAt at or after `from`, before `to` (ISO times). */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

/**
 * One page of cases, each with its alerts as a window: the list is polled by every console,
 * supervisor screen and wallboard, and one storm's case would otherwise send its every alert on
 * each read (every alert of a case: `alertPage`). The queue (`open`) by priority then wait; every
 * case (`all`) newest first, read by the index of migration 016. `next` is the key of the page's
 * last case when more follow.
 */
export async function listPage(
  ctx: StoreContext,
  q: ListQuery,
): Promise<{ cases: HelplineCase[]; next: ListKey | undefined }> {
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = ['not c.test_mode'];
  if (q.state === 'open') where.push(`c.state = any(${param(OPEN_STATES)})`);
  if (q.from) where.push(`c.raised_at >= ${param(q.from)}::timestamptz`);
  if (q.to) where.push(`c.raised_at < ${param(q.to)}::timestamptz`);
  const after = q.after;
  if (after?.state === 'open')
    where.push(
      `(c.priority, c.raised_at, c.id) > (${param(after.priority)}::smallint, ${param(after.raisedAt)}::timestamptz, ${param(after.id)})`,
    );
  if (after?.state === 'all')
    where.push(`(c.raised_at, c.id) < (${param(after.raisedAt)}::timestamptz, ${param(after.id)})`);
  const order = q.state === 'open' ? 'c.priority, c.raised_at, c.id' : 'c.raised_at desc, c.id desc';
  // One more than the page, to know whether another follows.
  const { rows } = await ctx.pool.query(
    `${selectCases(ctx, `, to_char(c.raised_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as sort_at`)}
      where ${where.join(' and ')} order by ${order} limit ${param(q.limit + 1)}`,
    params,
  );
  const page = rows.slice(0, q.limit);
  const last = rows.length > q.limit ? SortKeyRow.parse(page.at(-1)) : undefined;
  const next: ListKey | undefined =
    last &&
    (q.state === 'open'
      ? { state: 'open', priority: last.priority, raisedAt: last.sort_at, id: last.id }
      : { state: 'all', raisedAt: last.sort_at, id: last.id });
  return { cases: page.map((row) => toCase(CaseRow.parse(row))), next };
}

/** The first `limit` cases of the queue (`open`) or of every case (`all`, newest first). */
export async function list(ctx: StoreContext, state: 'open' | 'all', limit: number): Promise<HelplineCase[]> {
  return (await listPage(ctx, { state, limit })).cases;
}

export async function get(ctx: StoreContext, id: string, db: Db = ctx.pool): Promise<StoredCase | undefined> {
  const { rows } = await db.query(`${selectCases(ctx)} where c.id = $1`, [id]);
  if (!rows[0]) return undefined;
  const row = CaseRow.parse(rows[0]);
  return { case: toCase(row), testMode: row.test_mode, traceparent: row.alerts[0]?.traceparent };
}

/**
 * One page of a case's alerts, newest first: those before place `before` (all of them when absent),
 * at most `limit`; `next` is the `before` of the older page, null when there is none. Alerts only
 * ever join a case, so a place names the same alert from page to page. Undefined: no such case.
 */
export async function alertPage(
  ctx: StoreContext,
  caseId: string,
  before: number | undefined,
  limit: number,
): Promise<{ total: number; alerts: Because[]; next: number | null } | undefined> {
  const { rows } = await ctx.pool.query<{ total: number; alerts: unknown[] | null }>(
    `select c.alert_count as total,
       (select json_agg(a.alert order by a.position desc) from (
          select alert, position from ${ctx.t.alerts}
           where case_id = c.id and position < least(coalesce($2, c.alert_count), c.alert_count)
           order by position desc limit $3) a) as alerts
       from ${ctx.t.cases} c where c.id = $1`,
    [caseId, before ?? null, limit],
  );
  const row = rows[0];
  if (!row) return undefined;
  const end = Math.min(before ?? row.total, row.total);
  const start = Math.max(0, end - limit);
  return {
    total: row.total,
    alerts: (row.alerts ?? []).map((a) => becauseOf(AlertSchema.parse(a))),
    next: start > 0 ? start : null,
  };
}

/** A device a case's alerts came from, with the kind the latest of its alerts naming one gave. */
export interface CaseDevice {
  readonly serial: string;
  readonly kind: string | null;
}

const CaseDeviceRows = z.array(z.object({ serial: z.string(), kind: z.string().nullable() }));

/**
 * The devices a case's alerts came from, in the order they first appeared, each with its kind as
 * its alerts gave it (null when none did): what the case view lists when the registry cannot.
 * Read from every alert of the case, not its window, so a device whose alerts a storm pushed out
 * of the window keeps its kind.
 */
export async function devicesOf(ctx: StoreContext, caseId: string): Promise<CaseDevice[]> {
  const { rows } = await ctx.pool.query(
    `select s.serial, k.kind
       from ${ctx.t.cases} c
       cross join lateral unnest(c.device_serials) with ordinality s (serial, n)
       left join lateral (
         select a.alert ->> 'deviceKind' as kind from ${ctx.t.alerts} a
          where a.case_id = c.id and a.alert ->> 'deviceSerial' = s.serial and a.alert ? 'deviceKind'
          order by a.position desc limit 1) k on true
      where c.id = $1
      order by s.n`,
    [caseId],
  );
  return CaseDeviceRows.parse(rows);
}

/**
 * The case's steps for its view, oldest first: every step but the older `alert-joined` ones (the
 * latest `joins` of them are kept) and the older notes (the latest `notes` kept), how many of each
 * were left out, and the cursor of the notes left out (`notePage` reads them), null when none were.
 */
export async function events(
  ctx: StoreContext,
  caseId: string,
  joins: number,
  notes: number,
): Promise<{ events: CaseEvent[]; joinsLeftOut: number; notesLeftOut: number; olderNotes: string | null }> {
  // `place` is the step's seq as text (a bigint); ordered by seq itself, not its text.
  const { rows } = await ctx.pool.query<{ place: string } & Record<string, unknown>>(
    `select seq::text as place, id, case_id, at, actor, kind, data from (
       select seq, id, case_id, at, actor, kind, data from ${ctx.t.events}
        where case_id = $1 and kind not in ('alert-joined', 'note')
       union all
       (select seq, id, case_id, at, actor, kind, data from ${ctx.t.events}
         where case_id = $1 and kind = 'alert-joined' order by seq desc limit $2)
       union all
       (select seq, id, case_id, at, actor, kind, data from ${ctx.t.events}
         where case_id = $1 and kind = 'note' order by seq desc limit $3)
     ) e order by seq`,
    [caseId, joins, notes],
  );
  const events = rows.map(toEvent);
  const shown = (kind: string) => events.filter((e) => e.kind === kind).length;
  const notesLeftOut = Math.max(0, (await stepCount(ctx, ctx.pool, caseId, 'note')) - shown('note'));
  const oldestNote = rows.find((r) => r.kind === 'note');
  return {
    events,
    joinsLeftOut: Math.max(
      0,
      (await stepCount(ctx, ctx.pool, caseId, 'alert-joined')) - shown('alert-joined'),
    ),
    notesLeftOut,
    olderNotes: notesLeftOut > 0 && oldestNote ? encodeNoteCursor({ caseId, seq: oldestNote.place }) : null,
  };
}

/**
 * One page of a case's notes, newest first: those before the cursor `before` (the newest when
 * absent), at most `limit`; `next` is the cursor of the page's oldest note when there are older
 * ones, else null. Undefined: no such case. Read by the notes' own index (`case_events_notes`,
 * migration 025): a page reads its notes and nothing else, however many steps the case has.
 */
export async function notePage(
  ctx: StoreContext,
  caseId: string,
  before: NoteKey | undefined,
  limit: number,
): Promise<{ total: number; events: CaseEvent[]; next: string | null } | undefined> {
  const found = await ctx.pool.query(`select 1 from ${ctx.t.cases} where id = $1`, [caseId]);
  if (found.rows.length === 0) return undefined;
  const { rows } = await ctx.pool.query<{ place: string } & Record<string, unknown>>(
    `select seq::text as place, id, case_id, at, actor, kind, data from ${ctx.t.events}
      where case_id = $1 and kind = 'note' and ($2::bigint is null or seq < $2::bigint)
      order by seq desc limit $3`,
    [caseId, before?.seq ?? null, limit + 1],
  );
  const page = rows.slice(0, limit);
  const oldest = page.at(-1);
  return {
    total: await stepCount(ctx, ctx.pool, caseId, 'note'),
    events: page.map(toEvent),
    next: rows.length > limit && oldest ? encodeNoteCursor({ caseId, seq: oldest.place }) : null,
  };
}

/** How many steps of `kind` (`alert-joined`, `note`) the case has. */
const stepCount = async (
  ctx: StoreContext,
  db: Db,
  caseId: string,
  kind: CaseEvent['kind'],
): Promise<number> =>
  (
    await db.query<{ n: number }>(
      `select count(*)::integer as n from ${ctx.t.events} where case_id = $1 and kind = $2`,
      [caseId, kind],
    )
  ).rows[0]?.n ?? 0;

/**
 * One page of a case's `alert-joined` steps, newest first: those before the step `before` (the
 * latest when absent), at most `limit`; `next` is the id of the page's oldest step when there are
 * older ones, else null. Undefined: no such case.
 */
export async function joinPage(
  ctx: StoreContext,
  caseId: string,
  before: string | undefined,
  limit: number,
): Promise<{ total: number; events: CaseEvent[]; next: string | null } | undefined> {
  const found = await ctx.pool.query(`select 1 from ${ctx.t.cases} where id = $1`, [caseId]);
  if (found.rows.length === 0) return undefined;
  const { rows } = await ctx.pool.query(
    `select id, case_id, at, actor, kind, data from ${ctx.t.events}
      where case_id = $1 and kind = 'alert-joined'
        and ($2::text is null or seq < (select seq from ${ctx.t.events} where id = $2 and case_id = $1))
      order by seq desc limit $3`,
    [caseId, before ?? null, limit + 1],
  );
  const events = rows.slice(0, limit).map(toEvent);
  return {
    total: await stepCount(ctx, ctx.pool, caseId, 'alert-joined'),
    events,
    next: rows.length > limit ? (events.at(-1)?.id ?? null) : null,
  };
}

/**
 * A case event that records work on a case without changing its state: a note, a responder
 * call, a call to emergency services, a reveal (the core's `record`). The request key makes a
 * retry or a double click write one event.
 */
export async function record(
  ctx: StoreContext,
  id: string,
  kind: RecordedKind,
  data: Record<string, unknown>,
  actor: Actor,
  now: Date,
  requestKey?: string,
): Promise<{ event: CaseEvent; duplicate: boolean }> {
  return withTransaction(ctx.pool, async (db) => {
    const events = await command(ctx, db, id, { kind: 'record', actor, event: kind, data }, now, requestKey);
    const event = events?.[0] ?? (requestKey ? await eventByKey(ctx, db, id, requestKey) : undefined);
    if (!event) throw new CaseNotFoundError(id);
    return { event, duplicate: !events };
  });
}

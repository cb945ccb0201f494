import type { CaseEvent } from '@telecare/contracts';
import { prepared, withTransaction } from '@telecare/platform';
import { decide } from '../core/decide.ts';
import {
  ALARM_PRIORITIES,
  ANSWER_TARGETS,
  type CaseSnapshot,
  type Input,
  type OperatorGoneBounds,
  type Rung,
  SYSTEM_ACTOR,
} from '../core/model.ts';
import { busySql, lockSnapshots, readSnapshots, writePatch } from './cases.ts';
import { append, type Db, newEvent, presenceFollows, type StoreContext, stamp } from './context.ts';
import { addHandovers } from './handovers.ts';

// The queue's timers: offers, their expiry, call-backs, the escalation ladder and the answer targets.

/**
 * Offers queued cases to available operators who have no offer or case in hand, most urgent
 * case first, longest-available operator first. One dispatcher at a time across instances.
 */
export async function dispatch(ctx: StoreContext, now: Date, offerSeconds: number): Promise<CaseEvent[]> {
  return withTransaction(ctx.pool, async (db) => {
    const locked = await db.query<{ ok: boolean }>(
      prepared('select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as ok', [`${ctx.schema}:dispatch`]),
    );
    if (!locked.rows[0]?.ok) return [];
    // Only people who are there: available by choice and with a console heard from just now.
    const { rows: free } = await db.query<{ user_id: string }>(
      prepared(
        `select p.user_id from "${ctx.schema}".presence p join "${ctx.schema}".users u on u.id = p.user_id
         where p.status = 'available' and u.role = 'operator'
           and ${ctx.consoles.connectedSql('p.user_id', '$1')}
           and not exists (select 1 from ${ctx.t.cases} c
             where (c.state = 'offered' and c.offered_to = p.user_id)
                or (c.state = 'accepted' and c.assigned_to = p.user_id))
         order by p.since, p.user_id`,
        [now],
      ),
    );
    const events: CaseEvent[] = [];
    // Case by case in queue order, each to the longest-available free operator, but not straight
    // back to the operator who just let it lapse or declined it while someone else is free. Taken
    // operator by operator, the first operator took the next case whoever had let it go, so a press
    // whose offer lapsed at a desk left with its console open went back to that desk, again and
    // again, while a colleague sat free beside it (`test/offer-lapse.int.test.ts`).
    const left = free.map((f) => f.user_id);
    while (left.length > 0) {
      const { rows } = await db.query<{ id: string; last_offered_to: string | null }>(
        prepared(
          `select id, last_offered_to from ${ctx.t.cases}
           where state = 'queued' and not test_mode
           order by priority, raised_at, id
           limit 1 for update skip locked`,
          [],
        ),
      );
      const next = rows[0];
      if (!next) break;
      const other = left.findIndex((id) => id !== next.last_offered_to);
      // Back to the one who let it go only when nobody else is free.
      const [userId] = left.splice(Math.max(other, 0), 1) as [string];
      await db.query(
        `update ${ctx.t.cases} set state = 'offered', offered_to = $2, last_offered_to = $2,
           offer_expires_at = $3, updated_at = $4 where id = $1`,
        [next.id, userId, new Date(now.getTime() + offerSeconds * 1000), now],
      );
      events.push(
        newEvent(next.id, 'offered', { to: userId, expiresInSeconds: offerSeconds }, SYSTEM_ACTOR, now),
      );
    }
    // Nobody free, and an alarm call waits: it takes the offer of a less urgent case (the least
    // urgent, the one offered last), which goes back to the queue. Until now a press waited for a
    // mains-fail offer to lapse (OFFER_TIMEOUT_S) or be accepted. Each swap lowers what is on
    // offer, so this ends.
    for (;;) {
      const { rows: waiting } = await db.query<{ id: string; priority: number }>(
        prepared(
          `select id, priority from ${ctx.t.cases}
           where state = 'queued' and not test_mode and priority = any($1)
           order by priority, raised_at, id limit 1 for update skip locked`,
          [ALARM_PRIORITIES],
        ),
      );
      const urgent = waiting[0];
      if (!urgent) break;
      const { rows: displaced } = await db.query<{ id: string; offered_to: string }>(
        `select c.id, c.offered_to from ${ctx.t.cases} c
         where c.state = 'offered' and not c.test_mode and c.priority > $2
           and ${ctx.consoles.thereSql('c.offered_to', '$1')}
         order by c.priority desc, c.offer_expires_at desc, c.id limit 1 for update of c skip locked`,
        [now, urgent.priority],
      );
      const lower = displaced[0];
      if (!lower) break;
      const userId = lower.offered_to;
      await db.query(
        `update ${ctx.t.cases} set state = 'queued', offered_to = null, offer_expires_at = null,
           updated_at = $2 where id = $1`,
        [lower.id, now],
      );
      await db.query(
        `update ${ctx.t.cases} set state = 'offered', offered_to = $2, last_offered_to = $2,
           offer_expires_at = $3, updated_at = $4 where id = $1`,
        [urgent.id, userId, new Date(now.getTime() + offerSeconds * 1000), now],
      );
      events.push(
        newEvent(
          lower.id,
          'offer-expired',
          { from: userId, reason: 'a more urgent case', for: urgent.id },
          SYSTEM_ACTOR,
          now,
        ),
        newEvent(urgent.id, 'offered', { to: userId, expiresInSeconds: offerSeconds }, SYSTEM_ACTOR, now),
      );
    }
    await append(ctx, db, events);
    return events;
  });
}

/**
 * Offers go back to the queue when not accepted in time, and at once when the person they were
 * offered to is no longer there (set away, or no console connected) or has accepted another case
 * since; an operator may also decline one (`onlyCase`). The core decides (`offer-due`, `decline`); this finds the candidates.
 */
export async function expireOffers(
  ctx: StoreContext,
  now: Date,
  onlyCase?: { id: string; by: string },
): Promise<CaseEvent[]> {
  return onlyCase
    ? decideEach(
        ctx,
        now,
        'c.id = $2',
        [onlyCase.id],
        { kind: 'decline', actor: { id: onlyCase.by, override: false } },
        false,
      )
    : decideEach(
        ctx,
        now,
        `c.state = 'offered' and (c.offer_expires_at <= $1 or not ${ctx.consoles.thereSql('c.offered_to', '$1')}
           or ${busySql(ctx, 'c')})`,
        [],
        { kind: 'offer-due' },
      );
}

/**
 * The cases matching `where`, each decided by the core with `input` and written with its events
 * in a transaction of its own; refusals change nothing. A timer (`skipLocked`) reads the
 * candidates without locking them, asks the core about each, and locks only a case it would
 * change, for that change alone, passing over a case another transaction holds (another
 * instance's tick, a person acting, an alert being committed): the next tick sees it. So a tick
 * over a long queue (a storm's unaccepted P1 cases, each due a rung or an answer target) never
 * keeps an alert for one of them waiting for the whole tick. A person's action on one case
 * (`skipLocked` false) waits for that case.
 */
async function decideEach(
  ctx: StoreContext,
  now: Date,
  where: string,
  params: unknown[],
  input: Input,
  skipLocked = true,
  alsoWrite?: (db: Db, events: CaseEvent[]) => Promise<void>,
): Promise<CaseEvent[]> {
  const candidates = skipLocked
    ? (await readSnapshots(ctx, ctx.pool, now, where, params)).filter((c) => decide(c, input, now).ok)
    : // $1 is now, typed even when `where` does not read it (PostgreSQL cannot type an unused parameter).
      (
        await ctx.pool.query<{ id: string }>(
          `select c.id from ${ctx.t.cases} c where $1::timestamptz is not null and (${where})`,
          [now, ...params],
        )
      ).rows;
  const events: CaseEvent[] = [];
  for (const { id } of candidates) {
    const decided = await withTransaction(ctx.pool, async (db) => {
      // The case as it is now, if it still matches: it may have changed since it was read.
      const [c] = await lockSnapshots(
        ctx,
        db,
        now,
        `c.id = $${params.length + 2} and (${where})`,
        [...params, id],
        skipLocked,
      );
      if (!c) return [];
      const stamped = await decideLocked(ctx, db, c, input, now);
      if (stamped) await alsoWrite?.(db, stamped);
      return stamped ?? [];
    });
    events.push(...decided);
  }
  return events;
}

/** Decides a case this transaction holds and writes the decision: its steps, or nothing if refused. */
async function decideLocked(
  ctx: StoreContext,
  db: Db,
  c: CaseSnapshot,
  input: Input,
  now: Date,
): Promise<CaseEvent[] | undefined> {
  const d = decide(c, input, now);
  if (!d.ok) return undefined;
  await writePatch(ctx, db, c.id, d.patch, now);
  await presenceFollows(ctx, db, c, d.patch, now);
  const stamped = stamp(c.id, d.events, now);
  await append(ctx, db, stamped);
  return stamped;
}

/** Call-backs that are due: the case returns to the queue at its return priority. */
export function returnHolds(ctx: StoreContext, now: Date): Promise<CaseEvent[]> {
  return decideEach(ctx, now, "c.state = 'on_hold' and c.hold_until <= $1", [], { kind: 'call-back-due' });
}

/**
 * Moves unaccepted P1 cases up the escalation ladder (`escalation-due`): step n is reached
 * `afterSeconds` of rung n after the case was raised, became P1 (`priority_raised_at`) or came
 * back to the queue unanswered (`requeued_at`), the latest, each recorded once per time in the queue.
 */
export function escalate(ctx: StoreContext, now: Date, ladder: readonly Rung[]): Promise<CaseEvent[]> {
  if (ladder.length === 0) return Promise.resolve([]);
  // Only the cases a rung is due for (not every unaccepted P1 each tick: a storm queues hundreds).
  const due = ladder.map(
    (r, i) =>
      `(c.escalation_step < ${r.step} and greatest(c.raised_at, c.requeued_at, c.priority_raised_at) <= $${i + 2})`,
  );
  return decideEach(
    ctx,
    now,
    `c.priority = 1 and c.state in ('queued', 'offered') and not c.test_mode and (${due.join(' or ')})`,
    ladder.map((r) => new Date(now.getTime() - r.afterSeconds * 1000)),
    { kind: 'escalation-due', ladder },
    true,
    // The partner's rung is a handover to deliver, recorded with the rung: never lost between the two.
    (db, events) => addHandovers(ctx, db, events, now),
  );
}

/**
 * Alarm calls (P1, P2) still unanswered at 60 s and at 180 s (`answer-targets-due`): each target
 * missed is recorded once as `answer-target-missed`, so the console, the stream and CASES see the
 * moment it is lost (not only the escalation ladder of a P1).
 */
export function missTargets(ctx: StoreContext, now: Date): Promise<CaseEvent[]> {
  // Only the calls a target is due for, as the core decides them.
  const due = ANSWER_TARGETS.map(
    (t, i) => `(coalesce(c.answer_target_missed, 0) < ${t.seconds} and c.raised_at <= $${i + 3})`,
  );
  return decideEach(
    ctx,
    now,
    `c.priority = any($2) and c.state in ('queued', 'offered') and not c.test_mode
       and c.accepted_at is null and (${due.join(' or ')})`,
    [ALARM_PRIORITIES, ...ANSWER_TARGETS.map((t) => new Date(now.getTime() - t.seconds * 1000))],
    { kind: 'answer-targets-due' },
  );
}

/**
 * The accepted and held cases of someone who has just signed out on purpose, with no console left
 * there (`holder-signed-out`): an accepted alarm call back in the queue at once, the rest flagged.
 * Waits for a case another transaction holds (a tick deciding it): a sign-out is not retried.
 */
export function holderSignedOut(ctx: StoreContext, now: Date, userId: string): Promise<CaseEvent[]> {
  return decideEach(
    ctx,
    now,
    `c.state in ('accepted', 'on_hold') and not c.test_mode and c.assigned_to = $2`,
    [userId],
    { kind: 'holder-signed-out' },
    false,
  );
}

/**
 * Someone going away (a break, or a supervisor set them away, `by`), and their accepted cases back in
 * the queue at once (`holder-away`), in one transaction: nobody ever sees them away with a case
 * still theirs. Set away first and the cases handed back after, a tick between the two found the
 * holder away and handed a case back itself, without saying who set them away, and the answer said
 * nothing went back. Their cases are locked before the presence is set (a case, then the person: the
 * order a tick's decision takes them in), waiting for one another transaction holds; the cases are
 * then read again, so one accepted or given to them while the presence waited is handed back too.
 */
export function goAway(
  ctx: StoreContext,
  now: Date,
  userId: string,
  by: string,
  setAway: (db: Db) => Promise<void>,
): Promise<CaseEvent[]> {
  const where = `c.state = 'accepted' and not c.test_mode and c.assigned_to = $2`;
  return withTransaction(ctx.pool, async (db) => {
    await lockSnapshots(ctx, db, now, where, [userId]);
    await setAway(db);
    const events: CaseEvent[] = [];
    for (const c of await lockSnapshots(ctx, db, now, where, [userId]))
      events.push(...((await decideLocked(ctx, db, c, { kind: 'holder-away', by }, now)) ?? []));
    return events;
  });
}

/**
 * Accepted and held cases whose holder has no console there, or was gone and is back, and accepted
 * cases whose holder is away (`holder-due`): an accepted case of someone away or signed out goes
 * back to the queue at once, one of someone gone after the bounds; the absence is noted and flagged
 * `operator-gone` first; a holder back in time clears it (`operator-back`). Each case is locked and
 * decided again in its own transaction (`decideEach`), so two instances ticking at once hand a case
 * back once: the second finds it no longer accepted, or passes over it while the first holds it.
 */
export function watchHolders(ctx: StoreContext, now: Date, bounds: OperatorGoneBounds): Promise<CaseEvent[]> {
  return decideEach(
    ctx,
    now,
    `c.state in ('accepted', 'on_hold') and not c.test_mode
       and exists (select 1 from ${ctx.t.users} u where u.id = c.assigned_to)
       and (c.holder_gone_since is not null or c.operator_gone_at is not null
         or not ${ctx.consoles.connectedSql('c.assigned_to', '$1')}
         or (c.state = 'accepted' and ${ctx.consoles.awaySql('c.assigned_to')}))`,
    [],
    { kind: 'holder-due', bounds },
  );
}

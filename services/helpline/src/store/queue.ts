import type { CaseEvent } from '@telecare/contracts';
import { withTransaction } from '@telecare/platform';
import { decide } from '../core/decide.ts';
import { SYSTEM_ACTOR } from '../core/model.ts';
import { lockSnapshots, writePatch } from './cases.ts';
import { append, newEvent, type StoreContext, stamp } from './context.ts';
import { ALARM_PRIORITIES, ANSWER_TARGETS } from './figures.ts';

// The queue's timers: offers, their expiry, call-backs, the escalation ladder and the answer targets.

/**
 * Offers queued cases to available operators who have no offer or case in hand, most urgent
 * case first, longest-available operator first. One dispatcher at a time across instances.
 */
export async function dispatch(ctx: StoreContext, now: Date, offerSeconds: number): Promise<CaseEvent[]> {
  return withTransaction(ctx.pool, async (db) => {
    const locked = await db.query<{ ok: boolean }>(
      'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as ok',
      [`${ctx.schema}:dispatch`],
    );
    if (!locked.rows[0]?.ok) return [];
    // Only people who are there: available by choice and with a console heard from just now.
    const { rows: free } = await db.query<{ user_id: string }>(
      `select p.user_id from "${ctx.schema}".presence p join "${ctx.schema}".users u on u.id = p.user_id
       where p.status = 'available' and u.role = 'operator'
         and ${ctx.consoles.connectedSql('p.user_id', '$1')}
         and not exists (select 1 from ${ctx.t.cases} c
           where (c.state = 'offered' and c.offered_to = p.user_id)
              or (c.state = 'accepted' and c.assigned_to = p.user_id))
       order by p.since, p.user_id`,
      [now],
    );
    const events: CaseEvent[] = [];
    for (const { user_id: userId } of free) {
      // Not straight back to the operator who just let it go, unless nobody else can take it.
      const { rows } = await db.query<{ id: string }>(
        `select id from ${ctx.t.cases}
         where state = 'queued' and not test_mode
         order by (last_offered_to is not distinct from $1 and $2), priority, raised_at, id
         limit 1 for update skip locked`,
        [userId, free.length > 1],
      );
      const next = rows[0];
      if (!next) break;
      await db.query(
        `update ${ctx.t.cases} set state = 'offered', offered_to = $2, last_offered_to = $2,
           offer_expires_at = $3, updated_at = $4 where id = $1`,
        [next.id, userId, new Date(now.getTime() + offerSeconds * 1000), now],
      );
      events.push(
        newEvent(next.id, 'offered', { to: userId, expiresInSeconds: offerSeconds }, SYSTEM_ACTOR, now),
      );
    }
    await append(ctx, db, events);
    return events;
  });
}

/**
 * Offers go back to the queue when not accepted in time, and at once when the person they were
 * offered to is no longer there (set away, or no console connected); an operator may also decline one.
 */
export async function expireOffers(
  ctx: StoreContext,
  now: Date,
  onlyCase?: { id: string; by: string },
): Promise<CaseEvent[]> {
  const c = ctx.consoles;
  return withTransaction(ctx.pool, async (db) => {
    const { rows } = onlyCase
      ? await db.query<{ id: string; offered_to: string; reason: string }>(
          `update ${ctx.t.cases} set state = 'queued', offered_to = null, offer_expires_at = null, updated_at = $1
           where id = $2 and state = 'offered' and offered_to = $3
           returning id, $3::text as offered_to, 'declined' as reason`,
          [now, onlyCase.id, onlyCase.by],
        )
      : await db.query<{ id: string; offered_to: string; reason: string }>(
          `with due as (select id, offered_to,
               case when offer_expires_at <= $1 then 'not accepted in time'
                    when ${c.awaySql('offered_to')} then 'operator away'
                    else 'operator not connected' end as reason
             from ${ctx.t.cases}
             where state = 'offered' and (offer_expires_at <= $1 or not ${c.thereSql('offered_to', '$1')})
             for update skip locked)
           update ${ctx.t.cases} c set state = 'queued', offered_to = null, offer_expires_at = null, updated_at = $1
           from due where c.id = due.id returning c.id, due.offered_to, due.reason`,
          [now],
        );
    const events = rows.map((r) =>
      newEvent(
        r.id,
        'offer-expired',
        { from: r.offered_to, reason: r.reason },
        onlyCase?.by ?? SYSTEM_ACTOR,
        now,
      ),
    );
    await append(ctx, db, events);
    return events;
  });
}

/** Call-backs that are due: the case returns to the queue at its return priority. */
export async function returnHolds(ctx: StoreContext, now: Date): Promise<CaseEvent[]> {
  return withTransaction(ctx.pool, async (db) => {
    const due = await lockSnapshots(ctx, db, now, "c.state = 'on_hold' and c.hold_until <= $1", [], true);
    const events: CaseEvent[] = [];
    for (const c of due) {
      const d = decide(c, { kind: 'call-back-due' }, now);
      if (!d.ok) continue;
      await writePatch(ctx, db, c.id, d.patch, now);
      events.push(...stamp(c.id, d.events, now));
    }
    await append(ctx, db, events);
    return events;
  });
}

/**
 * Moves unaccepted P1 cases up the escalation ladder: step n is reached `afterSeconds[n-1]`
 * after the case was raised. Each step is claimed once (conditional update) and recorded.
 */
export async function escalate(
  ctx: StoreContext,
  now: Date,
  ladder: readonly { step: number; to: string; afterSeconds: number }[],
): Promise<CaseEvent[]> {
  return withTransaction(ctx.pool, async (db) => {
    const events: CaseEvent[] = [];
    for (const rung of ladder) {
      const { rows } = await db.query<{ id: string; waited: number }>(
        `update ${ctx.t.cases} set escalation_step = $1, updated_at = $2
         where priority = 1 and state in ('queued', 'offered') and not test_mode
           and escalation_step < $1 and raised_at <= $3
         returning id, extract(epoch from ($2 - raised_at)) as waited`,
        [rung.step, now, new Date(now.getTime() - rung.afterSeconds * 1000)],
      );
      for (const r of rows)
        events.push(
          newEvent(
            r.id,
            'escalated',
            {
              step: rung.step,
              to: rung.to,
              afterSeconds: rung.afterSeconds,
              waitedSeconds: Math.round(Number(r.waited)),
            },
            SYSTEM_ACTOR,
            now,
          ),
        );
    }
    await append(ctx, db, events);
    return events;
  });
}

/**
 * Alarm calls (P1, P2) still unanswered at 60 s and at 180 s: each step is claimed once by a
 * conditional update and recorded as `answer-target-missed`, so the console, the stream and
 * CASES see the moment a target is lost (not only the escalation ladder of a P1).
 */
export async function missTargets(ctx: StoreContext, now: Date): Promise<CaseEvent[]> {
  return withTransaction(ctx.pool, async (db) => {
    const events: CaseEvent[] = [];
    for (const target of ANSWER_TARGETS) {
      const { rows } = await db.query<{ id: string; priority: number; waited: number }>(
        `update ${ctx.t.cases} set answer_target_missed = $1, updated_at = $2
         where priority = any($4) and state in ('queued', 'offered') and not test_mode
           and accepted_at is null and coalesce(answer_target_missed, 0) < $1 and raised_at <= $3
         returning id, priority, extract(epoch from ($2 - raised_at)) as waited`,
        [target.seconds, now, new Date(now.getTime() - target.seconds * 1000), ALARM_PRIORITIES],
      );
      for (const r of rows)
        events.push(
          newEvent(
            r.id,
            'answer-target-missed',
            {
              targetSeconds: target.seconds,
              step: target.seconds === 60 ? 1 : 2,
              priority: r.priority,
              waitedSeconds: Math.floor(Number(r.waited)),
            },
            SYSTEM_ACTOR,
            now,
          ),
        );
    }
    await append(ctx, db, events);
    return events;
  });
}

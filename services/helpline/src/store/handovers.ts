import type { CaseEvent } from '@telecare/contracts';
import { prepared, withTransaction } from '@telecare/platform';
import type { Db, StoreContext } from './context.ts';

// Handovers to the partner centre: the overflow rung's `escalated` events still to be delivered.

export interface Handover {
  /** The `escalated` event: the handover's id and the partner's Idempotency-Key. */
  readonly eventId: string;
  readonly caseId: string;
  /** This attempt's number (1 for the first). */
  readonly attempt: number;
  /** The rung as the event recorded it. */
  readonly escalation: Record<string, unknown>;
  readonly escalatedAt: Date;
}

export type HandoverOutcome = 'delivered' | 'refused' | 'withdrawn' | 'not-configured';

/** A handover for each overflow rung among `events`, in the transaction that records the rung. */
export async function addHandovers(ctx: StoreContext, db: Db, events: readonly CaseEvent[], now: Date) {
  for (const e of events)
    if (e.kind === 'escalated' && e.data.to === 'overflow')
      await db.query(
        `insert into ${ctx.t.handovers} (event_id, case_id, due_at) values ($1, $2, $3) on conflict do nothing`,
        [e.id, e.caseId, now],
      );
}

/**
 * Takes up to `limit` handovers that are due, each for `leaseSeconds`: another instance passes over
 * them meanwhile, and one whose attempt never ended (a crash mid-call) is due again after it.
 */
export async function claimHandovers(
  ctx: StoreContext,
  now: Date,
  leaseSeconds: number,
  limit: number,
): Promise<Handover[]> {
  return withTransaction(ctx.pool, async (db) => {
    const { rows } = await db.query<{
      event_id: string;
      case_id: string;
      attempts: number;
      data: Record<string, unknown>;
      at: Date;
    }>(
      prepared(
        `with due as (
           select event_id from ${ctx.t.handovers}
            where done_at is null and due_at <= $1
            order by due_at, event_id limit $3 for update skip locked)
         update ${ctx.t.handovers} h set due_at = $2, attempts = h.attempts + 1
           from due, ${ctx.t.events} e
          where h.event_id = due.event_id and e.id = h.event_id
         returning h.event_id, h.case_id, h.attempts, e.data, e.at`,
        [now, new Date(now.getTime() + leaseSeconds * 1000), limit],
      ),
    );
    return rows.map((r) => ({
      eventId: r.event_id,
      caseId: r.case_id,
      attempt: r.attempts,
      escalation: r.data,
      escalatedAt: new Date(r.at),
    }));
  });
}

/** The handover is over: the partner took or refused it, or the case no longer waits. */
export async function settleHandover(
  ctx: StoreContext,
  eventId: string,
  outcome: HandoverOutcome,
  now: Date,
) {
  await ctx.pool.query(`update ${ctx.t.handovers} set outcome = $2, done_at = $3 where event_id = $1`, [
    eventId,
    outcome,
    now,
  ]);
}

/** The attempt failed: the next one is due at `dueAt`. */
export async function retryHandover(ctx: StoreContext, eventId: string, dueAt: Date) {
  await ctx.pool.query(`update ${ctx.t.handovers} set due_at = $2 where event_id = $1 and done_at is null`, [
    eventId,
    dueAt,
  ]);
}

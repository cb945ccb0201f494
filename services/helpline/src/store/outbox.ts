import type { CaseEvent } from '@telecare/contracts';
import type { StoreContext } from './context.ts';
import { toEvent } from './rows.ts';

// The transactional outbox: case events committed with their change, until CASES has them.

/** Case events committed but not yet confirmed in CASES, oldest first. */
export async function unpublished(ctx: StoreContext, limit: number): Promise<CaseEvent[]> {
  const { rows } = await ctx.pool.query(
    `select e.id, e.case_id, e.at, e.actor, e.kind, e.data
     from ${ctx.t.outbox} o join ${ctx.t.events} e on e.id = o.event_id
     order by e.seq limit $1`,
    [limit],
  );
  return rows.map(toEvent);
}

export async function markPublished(ctx: StoreContext, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await ctx.pool.query(`delete from ${ctx.t.outbox} where event_id = any($1)`, [eventIds]);
}

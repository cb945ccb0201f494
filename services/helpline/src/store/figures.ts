import { ALARM_PRIORITIES, ANSWER_TARGETS } from '../core/model.ts';
import { OPEN_STATES } from '../core/transitions.ts';
import type { StoreContext } from './context.ts';

// What the supervisor's panel and the answer statistics read: figures over the cases, never a change.

export interface TargetFigure {
  count: number;
  /** Calls the target is decided for: answered, or still waiting past it. */
  of: number;
  percent: number | null;
  target: number;
  met: boolean;
}

/** Answer figures for one group of alarm calls (all, one priority, one operator). */
export interface AnswerFigures {
  /** Calls decided for the 60 s target: answered, or waiting over 60 s. */
  total: number;
  answered: number;
  /** Alarm calls waiting now, unanswered (those under 60 s are neither met nor missed yet). */
  waiting: number;
  waitingOver60: number;
  waitingOver180: number;
  within60s: TargetFigure;
  within180s: TargetFigure;
  medianAnswerSeconds: number | null;
  maxAnswerSeconds: number | null;
}

export interface AnswerStats extends AnswerFigures {
  from: string;
  to: string;
  /** The priorities counted: alarm calls only. */
  priorities: number[];
  byPriority: Record<string, AnswerFigures>;
  /** Calls answered by each person (the first acceptance), most answered first. */
  byOperator: (AnswerFigures & { userId: string; name: string })[];
}

// Alarm calls count against the answer targets (DESIGN §6, TSA); the case core owns both.
export { ALARM_PRIORITIES, ANSWER_TARGETS };

export interface QueueFigures {
  /** Queued or offered (not being worked). */
  waiting: number;
  /** Of those, never answered: their answer clock runs from the raise. */
  unanswered: number;
  longestWaitSeconds: number | null;
  oldestCaseId: string | null;
  offered: number;
  accepted: number;
  onHold: number;
  /** Accepted or on hold, flagged `operator-gone`: the operator holding it has no console there. */
  operatorGone: number;
}

export interface QueueOverview {
  waitingNow: number;
  longestWaitSeconds: number | null;
  /** Alarm calls (P1, P2) waiting, and the longest of their waits. */
  alarmsWaiting: number;
  alarmLongestWaitSeconds: number | null;
  byPriority: Record<string, QueueFigures>;
}

export interface Breach {
  caseId: string;
  residentId: string;
  priority: number;
  type: string;
  state: string;
  raisedAt: string;
  waitedSeconds: number;
  /** The answer target it has missed so far: 60, then 180. */
  targetSeconds: number;
}

const emptyFigures = (): AnswerFigures => figuresOf({});
const pct = (count: number, of: number, target: number) => ({
  percent: of === 0 ? null : Math.round((count / of) * 10000) / 100,
  met: of === 0 || count / of >= target / 100,
});

function figuresOf(r: Record<string, unknown>): AnswerFigures {
  const n = (key: string) => Number(r[key] ?? 0);
  const seconds = (key: string) =>
    r[key] === null || r[key] === undefined ? null : Math.round(Number(r[key]) * 10) / 10;
  const figure = (count: number, of: number, target: number): TargetFigure => ({
    count,
    of,
    percent: of === 0 ? null : Math.round((count / of) * 10000) / 100,
    target,
    // Nothing decided yet is not a failure: a shift that has just begun is not at 0 %.
    met: of === 0 || count / of >= target / 100,
  });
  const [t60, t180] = ANSWER_TARGETS;
  return {
    total: n('decided60'),
    answered: n('answered'),
    waiting: n('waiting'),
    waitingOver60: n('waiting_over60'),
    waitingOver180: n('waiting_over180'),
    within60s: figure(n('within60'), n('decided60'), t60.percent),
    within180s: figure(n('within180'), n('decided180'), t180.percent),
    medianAnswerSeconds: seconds('p50'),
    maxAnswerSeconds: seconds('max_wait'),
  };
}

/**
 * Answer times of alarm calls (P1, P2) raised in [from, to) against the TSA targets. A call still
 * waiting counts against a target only once it has waited past it: one waiting 40 s is neither
 * met nor missed. Technical and maintenance cases (P3, P4) are not alarm calls and do not count.
 * Grouped overall, by priority, and by who first accepted each call.
 */
export async function answerStats(ctx: StoreContext, from: Date, to: Date, now: Date): Promise<AnswerStats> {
  const t = ctx.t;
  const { rows } = await ctx.pool.query<Record<string, unknown>>(
    `with s as (
       select c.priority, extract(epoch from (coalesce(c.accepted_at, $3) - c.raised_at)) as wait,
         c.accepted_at is not null as answered,
         (select e.actor from ${t.events} e where e.case_id = c.id and e.kind = 'accepted'
           order by e.seq limit 1) as by_user
       from ${t.cases} c where not c.test_mode and c.priority = any($4) and c.raised_at >= $1 and c.raised_at < $2
         and (c.accepted_at is not null or c.state in ('queued', 'offered')))
     select grouping(s.priority) = 0 as per_priority, grouping(s.by_user) = 0 as per_user,
       s.priority, s.by_user, max(u.display_name) as name,
       count(*) filter (where answered or wait > 60) as decided60,
       count(*) filter (where answered or wait > 180) as decided180,
       count(*) filter (where answered) as answered,
       count(*) filter (where answered and wait <= 60) as within60,
       count(*) filter (where answered and wait <= 180) as within180,
       count(*) filter (where not answered) as waiting,
       count(*) filter (where not answered and wait > 60) as waiting_over60,
       count(*) filter (where not answered and wait > 180) as waiting_over180,
       percentile_cont(0.5) within group (order by wait) filter (where answered) as p50,
       max(wait) filter (where answered) as max_wait
     from s left join "${ctx.schema}".users u on u.id = s.by_user
     group by grouping sets ((), (s.priority), (s.by_user))`,
    [from, to, now, ALARM_PRIORITIES],
  );
  let all = emptyFigures();
  const byPriority: Record<string, AnswerFigures> = {};
  const byOperator: AnswerStats['byOperator'] = [];
  for (const r of rows) {
    if (r.per_priority) byPriority[String(r.priority)] = figuresOf(r);
    else if (r.per_user) {
      // Unanswered calls belong to nobody: only answered ones are anyone's figures.
      if (typeof r.by_user === 'string') {
        const f = figuresOf(r);
        byOperator.push({
          userId: r.by_user,
          name: typeof r.name === 'string' ? r.name : r.by_user,
          ...f,
          total: f.answered,
          waiting: 0,
          waitingOver60: 0,
          waitingOver180: 0,
          within60s: { ...f.within60s, of: f.answered, ...pct(f.within60s.count, f.answered, 97.5) },
          within180s: { ...f.within180s, of: f.answered, ...pct(f.within180s.count, f.answered, 99) },
        });
      }
    } else all = figuresOf(r);
  }
  byOperator.sort((a, b) => b.answered - a.answered || a.userId.localeCompare(b.userId));
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    priorities: [...ALARM_PRIORITIES],
    ...all,
    byPriority,
    byOperator,
  };
}

/** The open queue by priority: what is waiting, for how long, and what is being worked. */
export async function queueOverview(ctx: StoreContext, now: Date): Promise<QueueOverview> {
  const { rows } = await ctx.pool.query<Record<string, unknown>>(
    `select priority,
       count(*) filter (where state in ('queued', 'offered')) as waiting,
       count(*) filter (where state in ('queued', 'offered') and accepted_at is null) as unanswered,
       max(extract(epoch from ($1 - raised_at))) filter (where state in ('queued', 'offered') and accepted_at is null) as longest,
       (array_agg(id order by raised_at, id) filter (where state in ('queued', 'offered') and accepted_at is null))[1] as oldest,
       count(*) filter (where state = 'offered') as offered,
       count(*) filter (where state = 'accepted') as accepted,
       count(*) filter (where state = 'on_hold') as on_hold,
       count(*) filter (where state in ('accepted', 'on_hold') and operator_gone_at is not null) as operator_gone
     from ${ctx.t.cases} where not test_mode and state = any($2) group by priority`,
    [now, OPEN_STATES],
  );
  const byPriority: Record<string, QueueFigures> = {};
  for (const p of [1, 2, 3, 4, 5])
    byPriority[String(p)] = {
      waiting: 0,
      unanswered: 0,
      longestWaitSeconds: null,
      oldestCaseId: null,
      offered: 0,
      accepted: 0,
      onHold: 0,
      operatorGone: 0,
    };
  for (const r of rows)
    byPriority[String(r.priority)] = {
      waiting: Number(r.waiting),
      unanswered: Number(r.unanswered),
      longestWaitSeconds: r.longest === null ? null : Math.max(0, Math.floor(Number(r.longest))),
      oldestCaseId: typeof r.oldest === 'string' ? r.oldest : null,
      offered: Number(r.offered),
      accepted: Number(r.accepted),
      onHold: Number(r.on_hold),
      operatorGone: Number(r.operator_gone),
    };
  const figures = Object.entries(byPriority);
  const longest = (list: [string, QueueFigures][]) =>
    list.reduce<number | null>(
      (m, [, f]) => (f.longestWaitSeconds === null ? m : Math.max(m ?? 0, f.longestWaitSeconds)),
      null,
    );
  const alarms = figures.filter(([p]) => (ALARM_PRIORITIES as readonly number[]).includes(Number(p)));
  return {
    waitingNow: figures.reduce((n, [, f]) => n + f.waiting, 0),
    longestWaitSeconds: longest(figures),
    alarmsWaiting: alarms.reduce((n, [, f]) => n + f.waiting, 0),
    alarmLongestWaitSeconds: longest(alarms),
    byPriority,
  };
}

/** Alarm calls waiting unanswered past an answer target, longest first. */
export async function breaches(ctx: StoreContext, now: Date): Promise<Breach[]> {
  const { rows } = await ctx.pool.query<{
    id: string;
    resident_id: string;
    priority: number;
    type: string;
    state: string;
    raised_at: Date;
    waited: number;
    answer_target_missed: number;
  }>(
    `select id, resident_id, priority, type, state, raised_at, answer_target_missed,
       extract(epoch from ($1 - raised_at)) as waited
     from ${ctx.t.cases} where not test_mode and state in ('queued', 'offered') and accepted_at is null
       and answer_target_missed is not null order by raised_at, id limit 200`,
    [now],
  );
  return rows.map((r) => ({
    caseId: r.id,
    residentId: r.resident_id,
    priority: r.priority,
    type: r.type,
    state: r.state,
    raisedAt: r.raised_at.toISOString(),
    waitedSeconds: Math.floor(Number(r.waited)),
    targetSeconds: r.answer_target_missed,
  }));
}

/** A case flagged `operator-gone`: accepted or held by someone with no console there. */
export interface GoneCase {
  readonly caseId: string;
  readonly residentId: string;
  readonly priority: number;
  readonly type: string;
  readonly state: string;
  readonly operatorId: string;
  readonly since: string;
}

/** The cases whose operator has gone, most urgent first, then gone longest. */
export async function operatorGone(ctx: StoreContext): Promise<GoneCase[]> {
  const { rows } = await ctx.pool.query<{
    id: string;
    resident_id: string;
    priority: number;
    type: string;
    state: string;
    assigned_to: string;
    since: Date;
  }>(
    `select id, resident_id, priority, type, state, assigned_to,
       coalesce(holder_gone_since, operator_gone_at) as since from ${ctx.t.cases}
     where not test_mode and state in ('accepted', 'on_hold') and operator_gone_at is not null
     order by priority, since, id`,
  );
  return rows.map((r) => ({
    caseId: r.id,
    residentId: r.resident_id,
    priority: r.priority,
    type: r.type,
    state: r.state,
    operatorId: r.assigned_to,
    since: r.since.toISOString(),
  }));
}

/** Who has which case: offers in hand, and cases accepted or on hold, per person. */
export async function holders(
  ctx: StoreContext,
): Promise<Map<string, { offered: string[]; working: string[] }>> {
  const { rows } = await ctx.pool.query<{ who: string; id: string; offered: boolean }>(
    `select coalesce(offered_to, assigned_to) as who, id, state = 'offered' as offered from ${ctx.t.cases}
     where not test_mode and ((state = 'offered' and offered_to is not null)
       or (state in ('accepted', 'on_hold') and assigned_to is not null))
     order by raised_at, id`,
  );
  const out = new Map<string, { offered: string[]; working: string[] }>();
  for (const r of rows) {
    const entry = out.get(r.who) ?? { offered: [], working: [] };
    (r.offered ? entry.offered : entry.working).push(r.id);
    out.set(r.who, entry);
  }
  return out;
}

/** Every open case with its timers, for the restart test and the supervisor view. */
export async function openCount(ctx: StoreContext): Promise<number> {
  const { rows } = await ctx.pool.query<{ n: string }>(
    `select count(*) as n from ${ctx.t.cases} where not test_mode and state = any($1)`,
    [OPEN_STATES],
  );
  return Number(rows[0]?.n ?? 0);
}

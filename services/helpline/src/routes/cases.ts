import {
  CASE_VIEW_JOINS,
  type HELPLINE_CASE_ROUTES,
  type HelplineCase,
  nextPageLink,
} from '@telecare/contracts';
import {
  type FastifyReply,
  type FastifyRequest,
  InvalidRequestError,
  RateLimitedError,
  type RouteHandlers,
} from '@telecare/platform';
import { AtOnce } from '../at-once.ts';
import { caseSummary } from '../case-summary.ts';
import { traceCaseStep } from '../case-trace.ts';
import { CaseNotFoundError, TransitionRefusedError } from '../errors.ts';
import { decodeCursor, decodeNoteCursor, encodeCursor } from '../list-cursor.ts';
import { protocolFor } from '../protocols.ts';
import type { TransitionInput } from '../store/index.ts';
import { actorOf, type RouteContext, withinLimit } from './context.ts';
import { revealHandler } from './reveal.ts';

type Routes = typeof HELPLINE_CASE_ROUTES;
/** A request about one case, whatever its body. */
type CaseRequest = FastifyRequest<{ Params: { id: string } }>;
type Transition = 'accept' | 'hold' | 'resolve';
type Recorded = 'note' | 'responder-called' | 'emergency-called';

/** A limit in words: `24 h`, `90 min`, `45 s`. */
const spanOf = (seconds: number): string =>
  seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;

/** The routes whose refusals the `transitions_refused` counter counts, by action. */
export const TRANSITION_ROUTES: Readonly<Record<string, Transition>> = {
  accept: 'accept',
  hold: 'hold',
  resolve: 'resolve',
};

/** The `reason` label of a refused transition. */
export const refusedReason = (err: unknown): string =>
  err instanceof InvalidRequestError
    ? 'invalid'
    : err instanceof TransitionRefusedError
      ? 'state'
      : err instanceof CaseNotFoundError
        ? 'not-found'
        : err instanceof RateLimitedError
          ? 'rate-limited'
          : 'error';

/**
 * The queue and a case's life: the list and one case with what the registry and the event
 * stream say of its resident; accept, hold, resolve (each once per Idempotency-Key), decline,
 * reassign; notes, responders' answers, 999 calls and the facts the reports count.
 */
export function caseHandlers(ctx: RouteContext): RouteHandlers<Routes> {
  const { deps, now, who, requestKeyOf } = ctx;
  /** Device events reads running on this instance, per person. */
  const timelineReads = new AtOnce(deps.timelineReadsAtOnce);
  const caseOf = async (id: string) => {
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    return stored.case;
  };

  /**
   * The queue's names, at most QUEUE_NAMES_PER_MINUTE calls per person (every instance counts in
   * one place): 429 past it, counted, a security event at the first refusal of a burst.
   */
  const mayReadQueueNames = (req: FastifyRequest) =>
    withinLimit(
      deps,
      who(req),
      {
        action: "read the queue's names",
        what: "the queue's names were asked",
        limit: deps.queueNamesLimit,
        refused: deps.metrics.queueNamesRefused,
        event: 'queue-names-rate-limited',
      },
      now(),
    );

  /** The answer clock of a case accepted for the first time (a re-accept after a hold is not an answer). */
  const observeAnswer = (c: HelplineCase, at: Date) => {
    if (c.acceptedAt === null || Date.parse(c.acceptedAt) !== at.getTime()) return;
    deps.metrics.answerSeconds.observe(
      { priority: String(c.priority) },
      Math.max(0, (at.getTime() - Date.parse(c.raisedAt)) / 1000),
    );
  };

  const transition = async (action: Transition, req: CaseRequest, input: TransitionInput, at: Date) => {
    const { id } = req.params;
    const principal = who(req);
    const started = Date.now();
    const result = await deps.store.transition(id, input, actorOf(principal), at, requestKeyOf(req));
    if (result.event && action === 'accept') {
      observeAnswer(result.case, at);
      await traceCaseStep(deps.store, id, 'accept', started, Date.now());
    }
    if (result.event) {
      deps.metrics.transitions.inc({ action });
      deps.publisher.flushInBackground();
      // An operator on a call is busy (set with the accept, in its transaction); one who has let the
      // case go is free for the next, unless another accepted case is still in hand (set `available`
      // whatever they held, an operator on a call showed free).
      if (principal.role === 'operator' && action !== 'accept')
        await deps.store.freeWhenNothingInHand(principal.id, at);
      deps.scheduler.poke();
    }
    return caseSummary(result.case);
  };

  /**
   * A note or a call's result on the case: 201, or 200 with the same event for a repeated key. Each
   * is typed by a person, so at most NOTES_PER_MINUTE per person (every instance counts in one
   * place): a stolen session writing notes of 4,000 characters in a loop made every console's view
   * of the case megabytes long. A retry under a key already counted on the case is not counted
   * again (the key only replays on its own case: on another it writes, and counts).
   */
  const record = async (
    kind: Recorded,
    req: CaseRequest,
    reply: FastifyReply,
    body: Record<string, unknown>,
  ) => {
    const { id } = req.params;
    const { callId, ...data } = body;
    const at = now();
    const requestKey = requestKeyOf(req);
    await withinLimit(
      deps,
      who(req),
      {
        action: 'write notes and call records',
        what: 'notes and call records were written',
        limit: deps.notesLimit,
        refused: deps.metrics.notesRefused,
        event: 'notes-rate-limited',
      },
      at,
      { caseId: id, key: requestKey && `${id}:${requestKey}` },
    );
    // A result that names the call it came from ends that call too: one transaction, one duration.
    const result =
      typeof callId === 'string' && kind !== 'note'
        ? await deps.store.endCall(
            id,
            callId,
            {
              outcome: kind === 'responder-called' && data.result === 'no-answer' ? 'no-answer' : 'answered',
            },
            actorOf(who(req)),
            at,
            requestKeyOf(req),
            { kind, data },
          )
        : await deps.store.record(id, kind, data, actorOf(who(req)), at, requestKeyOf(req));
    if (!result.duplicate) deps.publisher.flushInBackground();
    reply.code(result.duplicate ? 200 : 201);
    return result.event;
  };

  return {
    // A page of the list; the next page, when there is one, in the Link header, with the same query.
    listCases: async (req, reply) => {
      const { state, limit, cursor, from, to } = req.query;
      const page = await deps.store.listPage({
        state,
        limit,
        after: cursor === undefined ? undefined : decodeCursor(cursor, state),
        from,
        to,
      });
      if (page.next) {
        const query = new URLSearchParams({ state, limit: String(limit) });
        if (from) query.set('from', from);
        if (to) query.set('to', to);
        query.set('cursor', encodeCursor(page.next));
        reply.header('link', nextPageLink(`/api/cases?${query}`));
      }
      // Every case, whoever works it: summaries (a hold's reason is the case view's).
      return page.cases.map(caseSummary);
    },

    // Names are personal: only for the queue a person works, only residents with an open case, from
    // the registry's short cache; they go to the browser and nowhere else (no event, no log line).
    // Bounded per person: the console asks only when a resident it has no name for appears.
    queueNames: async (req) => {
      await mayReadQueueNames(req);
      const open = await deps.store.list('open', 500);
      const residents = [...new Set(open.map((c) => c.residentId))];
      const { names, districts } = await deps.registry.queueResidents(residents);
      ctx.personalRead(req, 'queue-names', Object.keys(names));
      return { names, districts, complete: residents.every((id) => id in names) };
    },

    // The case view is read again on every change of the case on screen: its alerts as a window,
    // its steps without the older joins (a storm's case has thousands). Its steps name the
    // responders called and carry the operators' notes: outside the reader's own work it counts as
    // a read of the resident, as the context does (the same resident again is free), and every
    // read is logged, the reader's own work too (a line says on what ground).
    getCase: async (req) => {
      const { id } = req.params;
      const found = ctx.caseRead(req).case;
      await ctx.mayReadResident(req, found);
      ctx.personalRead(req, 'case-view', [found.residentId], found);
      return {
        ...found,
        ...(await deps.store.events(id, CASE_VIEW_JOINS, deps.caseViewNotes)),
        protocol: protocolFor(found.type, found.because),
      };
    },

    caseJoins: async (req) => {
      const page = await deps.store.joinPage(req.params.id, req.query.before, req.query.limit);
      if (!page) throw new CaseNotFoundError(req.params.id);
      return page;
    },

    // The notes the case view leaves out, a page at a time: a read of the resident, as the view is.
    caseNotes: async (req) => {
      const { id } = req.params;
      const found = ctx.caseRead(req).case;
      const before = req.query.before === undefined ? undefined : decodeNoteCursor(req.query.before, id);
      await ctx.mayReadResident(req, found);
      ctx.personalRead(req, 'case-notes', [found.residentId], found);
      const page = await deps.store.notePage(id, before, req.query.limit);
      if (!page) throw new CaseNotFoundError(id);
      return page;
    },

    caseAlerts: async (req) => {
      const page = await deps.store.alertPage(req.params.id, req.query.before, req.query.limit);
      if (!page) throw new CaseNotFoundError(req.params.id);
      return page;
    },

    // Without the registry (down, or silent past HELPLINE_REGISTRY_TIMEOUT_MS) the view still
    // names the devices the case's alerts came from, by the kinds those alerts gave; read only then.
    caseContext: async (req) => {
      const found = ctx.caseRead(req).case;
      await ctx.mayReadResident(req, found);
      const context = await deps.registry.context(found.residentId, () => deps.store.devicesOf(found.id));
      if (context.resident || context.responders.length > 0)
        ctx.personalRead(req, 'case-context', [found.residentId], found);
      return context;
    },

    // The resident's days at home (in bed, up, out, the door at night, a dose taken or missed):
    // outside the reader's own work a read of the resident, as the case view and context are.
    // A scan reads up to HELPLINE_TIMELINE_SCAN EVENTS messages: one person has at most TIMELINE_READS_AT_ONCE
    // running here, so a session asking in a loop or all at once cannot hold the instance.
    caseTimeline: async (req) => {
      const found = ctx.caseRead(req).case;
      await ctx.mayReadResident(req, found);
      const refuse = (running: number) =>
        new RateLimitedError(
          'read device events',
          2,
          'too-many-requests',
          `${running} device events reads of yours are still running (TIMELINE_READS_AT_ONCE); try again when one has answered`,
        );
      return timelineReads.run(who(req).id, refuse, async () => {
        ctx.personalRead(req, 'device-events', [found.residentId], found);
        return deps.timeline.read(found.residentId, now(), req.query.hours);
      });
    },

    accept: (req) => transition('accept', req, { action: 'accept' }, now()),

    hold: (req) => {
      const at = now();
      const until = new Date(req.body.until);
      if (until.getTime() <= at.getTime())
        throw new InvalidRequestError([
          { path: 'until', message: 'the call-back time must be in the future' },
        ]);
      if (until.getTime() - at.getTime() > deps.holdMaxSeconds * 1000)
        throw new InvalidRequestError([
          {
            path: 'until',
            message: `the call-back time must be within ${spanOf(deps.holdMaxSeconds)} of now (HELPLINE_HOLD_MAX_S)`,
          },
        ]);
      return transition(
        'hold',
        req,
        {
          action: 'hold',
          until,
          reason: req.body.reason,
          returnPriority: req.body.returnPriority,
          seenAlerts: req.body.seenAlerts,
        },
        at,
      );
    },

    resolve: (req) =>
      transition(
        'resolve',
        req,
        {
          action: 'resolve',
          outcome: req.body.outcome,
          reason: req.body.reason,
          facts: req.body.facts,
          seenAlerts: req.body.seenAlerts,
        },
        now(),
      ),

    decline: async (req) => {
      const { id } = req.params;
      const events = await deps.store.expireOffers(now(), { id, by: who(req).id });
      if (events.length === 0) {
        const found = await caseOf(id);
        throw new TransitionRefusedError(id, 'decline', found.state, 'the case is not offered to you');
      }
      deps.publisher.flushInBackground();
      deps.scheduler.poke();
      return caseSummary(await caseOf(id));
    },

    reassign: async (req) => {
      const { id } = req.params;
      const body = req.body;
      const target = await deps.people.getUser(body.to);
      if (!target || !['operator', 'supervisor'].includes(target.role))
        throw new InvalidRequestError([
          { path: 'to', message: `${body.to} is not an operator or supervisor` },
        ]);
      const result = await deps.store.reassign(
        id,
        body.to,
        body.reason,
        actorOf(who(req)),
        now(),
        deps.offerSeconds,
        requestKeyOf(req),
      );
      deps.publisher.flushInBackground();
      return caseSummary(result.case);
    },

    addNote: (req, reply) => record('note', req, reply, req.body),
    recordResponderCall: (req, reply) => record('responder-called', req, reply, req.body),
    recordEmergencyCall: (req, reply) => record('emergency-called', req, reply, req.body),

    reveal: revealHandler(ctx),

    // The facts the reports count, recorded as `fact-recorded` steps (the body is one contracts
    // `CaseFact`, and so is the step's data): by the operator holding the case, or a supervisor or
    // admin, while it is worked or after it is resolved. A time in the future or before the case was
    // raised is refused (400); a case nobody has accepted, or someone else's, is 409. Each is a step
    // sent to every console and counted by the reports: at most FACTS_PER_MINUTE per person, a
    // retry under a key already counted on the case not counted again (as notes).
    recordFact: async (req, reply) => {
      const { id } = req.params;
      const fact = req.body;
      const p = who(req);
      const at = now();
      const requestKey = requestKeyOf(req);
      await withinLimit(
        deps,
        p,
        {
          action: 'record facts',
          what: 'facts were recorded',
          limit: deps.factsLimit,
          refused: deps.metrics.factsRefused,
          event: 'facts-rate-limited',
        },
        at,
        { caseId: id, key: requestKey && `${id}:${requestKey}` },
      );
      const result = await deps.store.recordFacts(id, [fact], actorOf(p), at, requestKey);
      if (!result.duplicate) {
        deps.publisher.flushInBackground();
        deps.logger.info({ caseId: id, fact: fact.fact, by: p.id }, 'fact recorded');
      }
      reply.code(result.duplicate ? 200 : 201);
      return result.events[0];
    },
  };
}

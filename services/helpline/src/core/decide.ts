import { type Alert, CaseState, type EventType, type Priority } from '@telecare/contracts';
import { callingRefusal } from './calls.ts';
import { factData, factTimeProblem } from './facts.ts';
import type {
  Actor,
  AlertInput,
  CasePatch,
  CaseSnapshot,
  ClosedAlerts,
  Command,
  Decision,
  EventDraft,
  Input,
} from './model.ts';
import {
  ALARM_PRIORITIES,
  ANSWER_TARGETS,
  type OperatorGoneBounds,
  type Rung,
  SYSTEM_ACTOR,
} from './model.ts';
import { sourceOf } from './source.ts';
import {
  type Action,
  allowed,
  closingEffect,
  faultRepeating,
  faultRepeatsNote,
  isOpen,
  moreUrgent,
  raisersClosedBy,
  refusal,
  tallyWith,
} from './transitions.ts';

/**
 * The helpline's case core: what an input does to a case, as data. No I/O, no clock (`now` is
 * given), no ids: the shell loads and locks the case, calls `decide`, and writes the patch and the
 * events (with ids and `now`) in one transaction, or answers the refusal.
 */
export function decide(c: CaseSnapshot, input: Input, now: Date): Decision {
  switch (input.kind) {
    case 'accept':
    case 'hold':
    case 'resolve':
      return transition(c, input, now);
    case 'record-fact':
      return recordFacts(c, input, now);
    case 'reassign':
      return reassign(c, input, now);
    case 'record':
      return recordWork(c, input);
    case 'call-back-due':
      return callBackDue(c, now);
    case 'offer-due':
      return offerDue(c, now);
    case 'decline':
      return decline(c, input.actor);
    case 'escalation-due':
      return escalationDue(c, input.ladder, now);
    case 'answer-targets-due':
      return answerTargetsDue(c, now);
    case 'holder-due':
      return holderDue(c, input.bounds, now);
    case 'holder-signed-out':
      return holderSignedOut(c, now);
    case 'holder-away':
      return holderAway(c, input.by, now);
    case 'join':
    case 'repeat':
    case 'closing':
      return alertInto(c, input, now);
  }
}

const refuse = (
  refused: 'state' | 'invalid',
  action: string,
  reason: string,
  holder?: string | null,
): Decision => ({ ok: false, refused, action, reason, ...(holder !== undefined ? { holder } : {}) });

/**
 * Whose the case is: one offered to, or worked by, someone else is theirs unless the actor
 * overrides. An offer to someone who is no longer there holds nobody back.
 */
function whoseRefusal(c: CaseSnapshot, action: string, actor: Actor): Decision | undefined {
  if (actor.override) return undefined;
  if (c.state === 'offered' && c.offeredTo !== actor.id && c.offeredToPresent)
    return refuse('state', action, 'the case is offered to another operator', c.offeredTo);
  if ((c.state === 'accepted' || c.state === 'on_hold') && c.assignedTo && c.assignedTo !== actor.id)
    return refuse('state', action, 'another operator has this case', c.assignedTo);
  return undefined;
}

/**
 * A hold or resolution decided on a case as it was before an alert joined it (the resident pressed
 * again while the operator typed the outcome) would put away a press nobody read: refused, so the
 * operator looks again. Only when the request says what the operator saw (`seenAlerts`).
 */
function unseenRefusal(
  c: CaseSnapshot,
  action: 'hold' | 'resolve',
  seen: number | undefined,
): Decision | undefined {
  if (seen === undefined || c.alerts.count <= seen) return undefined;
  const since = c.alerts.count - seen;
  const pressed = c.alerts.lastPressIndex !== null && c.alerts.lastPressIndex >= seen;
  const what = pressed
    ? 'the resident pressed again'
    : `${since} new alert${since > 1 ? 's' : ''} joined the case`;
  return refuse(
    'state',
    action,
    `${what} since you opened the case: read it before you ${action === 'hold' ? 'put it on hold' : 'resolve it'}`,
    c.assignedTo ?? undefined,
  );
}

const CLEAR_HOLD: CasePatch = { holdUntil: null, holdReason: null, holdReturnPriority: null };
/** Whoever holds the case next starts with no absence counted against them. */
const CLEAR_GONE: CasePatch = { holderGoneSince: null, operatorGoneAt: null };
/**
 * A case someone had (accepted or on hold) is back in the queue unanswered: the escalation ladder
 * starts again from now, at its first rung. Counted from the raise, a P1 requeued minutes after it
 * was raised reached every rung in its first tick back, the partner centre included, for a call a
 * colleague had answered; a P1 that had climbed before it was answered never climbed again. The
 * answer clock is not touched: the call was answered (`acceptedAt`).
 */
const backInQueue = (now: Date): CasePatch => ({ requeuedAt: now, escalationStep: 0 });

/**
 * The case takes a more urgent priority: a P2 that becomes P1 climbs the ladder from now, at its
 * first rung. Counted from the raise, a fall waiting five minutes as a P2 reached every rung, the
 * partner centre included, in the tick after a pendant press made it a P1. The answer clock and
 * targets of an alarm call stay with the raise: the resident has been waiting since then.
 */
const priorityRaised = (priority: Priority, now: Date): CasePatch => ({
  priority,
  priorityRaisedAt: now,
  escalationStep: 0,
});

/** When an unaccepted P1's ladder runs from: the latest of its raise, its becoming P1 and its return to the queue. */
export const ladderStart = (c: CaseSnapshot): Date =>
  [c.requeuedAt, c.priorityRaisedAt].reduce<Date>((a, b) => (b && b > a ? b : a), c.raisedAt);

function transition(c: CaseSnapshot, cmd: Command & { kind: Action }, now: Date): Decision {
  if (!allowed(cmd.kind, c.state))
    return refuse('state', cmd.kind, refusal(cmd.kind, c.state), c.assignedTo ?? undefined);
  const whose = whoseRefusal(c, cmd.kind, cmd.actor);
  if (whose) return whose;
  const unseen = cmd.kind === 'accept' ? undefined : unseenRefusal(c, cmd.kind, cmd.seenAlerts);
  if (unseen) return unseen;
  const by = (kind: EventDraft['kind'], data: Record<string, unknown>): EventDraft => ({
    kind,
    actor: cmd.actor.id,
    data,
  });
  switch (cmd.kind) {
    case 'accept': {
      const acceptedAt = c.acceptedAt ?? now;
      return {
        ok: true,
        patch: {
          state: 'accepted',
          acceptedAt,
          assignedTo: cmd.actor.id,
          offeredTo: null,
          offerExpiresAt: null,
          ...CLEAR_HOLD,
          ...CLEAR_GONE,
        },
        events: [by('accepted', { answerSeconds: (acceptedAt.getTime() - c.raisedAt.getTime()) / 1000 })],
      };
    }
    case 'hold':
      return {
        ok: true,
        patch: {
          state: 'on_hold',
          holdUntil: cmd.until,
          holdReason: cmd.reason,
          holdReturnPriority: cmd.returnPriority ?? null,
        },
        events: [
          by('held', {
            until: cmd.until.toISOString(),
            reason: cmd.reason,
            ...(cmd.returnPriority ? { returnPriority: cmd.returnPriority } : {}),
          }),
        ],
      };
    case 'resolve': {
      const facts = factEvents(c, cmd.facts ?? [], cmd.actor, now, 'resolve');
      if (!Array.isArray(facts)) return facts;
      return {
        ok: true,
        patch: {
          state: 'resolved',
          resolvedAt: now,
          outcome: cmd.outcome,
          outcomeReason: cmd.reason,
          ...CLEAR_HOLD,
          ...CLEAR_GONE,
        },
        // The facts first: the resolution is the last word on the case.
        events: [...facts, by('resolved', { outcome: cmd.outcome, reason: cmd.reason })],
      };
    }
  }
}

/** One `fact-recorded` step per fact, or the refusal of a time that cannot be right. */
function factEvents(
  c: CaseSnapshot,
  facts: readonly Parameters<typeof factData>[0][],
  actor: Actor,
  now: Date,
  action: string,
): EventDraft[] | Decision {
  const problems = facts.flatMap((f) => factTimeProblem(f, c.raisedAt, now) ?? []);
  if (problems.length > 0) return refuse('invalid', action, problems.join('; '));
  return facts.map((f) => ({ kind: 'fact-recorded', actor: actor.id, data: factData(f) }));
}

/**
 * Facts are recorded by whoever holds the case (accepted or on hold), or a supervisor; after the
 * resolution too, since an admission or a conveyance is often known only later.
 */
function recordFacts(c: CaseSnapshot, cmd: Command & { kind: 'record-fact' }, now: Date): Decision {
  const action = 'record-fact';
  if (c.state === 'closed') return refuse('state', action, 'the case is closed');
  if (c.state === 'queued' || c.state === 'offered')
    return refuse('state', action, 'accept the case before recording what happened');
  if (!cmd.actor.override && c.assignedTo !== cmd.actor.id)
    return refuse('state', action, 'another operator has this case', c.assignedTo);
  const events = factEvents(c, cmd.facts, cmd.actor, now, action);
  if (!Array.isArray(events)) return events;
  return { ok: true, patch: {}, events };
}

/**
 * Work recorded on a case: a note on any case but a closed one; a responder or 999 call only on a
 * case accepted by the actor (or a supervisor); a reveal only while the case is worked, by whoever
 * holds it (or a supervisor).
 */
function recordWork(c: CaseSnapshot, cmd: Command & { kind: 'record' }): Decision {
  const { actor, event } = cmd;
  const action = event === 'note' ? 'note' : event === 'revealed' ? 'reveal' : 'call';
  const calling = event === 'responder-called' || event === 'emergency-called';
  const why = calling ? callingRefusal(c, actor) : undefined;
  if (why) return refuse('state', action, why.reason);
  if (c.state === 'closed') return refuse('state', action, 'the case is closed');
  if (event === 'revealed' && c.state === 'resolved') return refuse('state', action, 'the case is resolved');
  if (
    event === 'revealed' &&
    !actor.override &&
    !((c.state === 'accepted' || c.state === 'on_hold') && c.assignedTo === actor.id)
  )
    return refuse('state', action, 'only the operator holding the case reads these fields');
  return { ok: true, patch: {}, events: [{ kind: event, actor: actor.id, data: cmd.data }] };
}

/**
 * A call-back that is due: the case returns to the queue at its return priority, for whoever is
 * free (not only the operator who held it, who may have gone home).
 */
function callBackDue(c: CaseSnapshot, now: Date): Decision {
  if (c.state !== 'on_hold' || !c.hold || c.hold.until > now)
    return refuse('state', 'call-back', 'no call-back is due on this case');
  const priority = c.hold.returnPriority ?? c.priority;
  return {
    ok: true,
    patch: {
      state: 'queued',
      priority,
      ...(moreUrgent(priority, c.priority) ? priorityRaised(priority, now) : {}),
      ...CLEAR_HOLD,
      ...CLEAR_GONE,
      ...backInQueue(now),
      assignedTo: null,
      lastOfferedTo: null,
    },
    events: [
      {
        kind: 'requeued',
        actor: SYSTEM_ACTOR,
        data: { reason: 'call-back due', holdReason: c.hold.reason, priority, heldBy: c.assignedTo },
      },
    ],
  };
}

const BACK_TO_QUEUE: CasePatch = { state: 'queued', offeredTo: null, offerExpiresAt: null };

/**
 * An offer goes back to the queue when it was not accepted in time, and at once when the person
 * it was offered to is no longer there (set away, or no console connected) or has accepted another
 * case meanwhile: a P1 offered to an operator who then took a mains fault from the list waited out
 * the offer timeout at their desk while a colleague who came free was offered the noise.
 */
function offerDue(c: CaseSnapshot, now: Date): Decision {
  if (c.state !== 'offered') return refuse('state', 'offer-due', 'the case is not on offer');
  const lapsed = c.offerExpiresAt !== null && c.offerExpiresAt <= now;
  if (!lapsed && c.offeredToPresent && !c.offeredToBusy)
    return refuse('state', 'offer-due', 'the offer still stands');
  const reason = lapsed
    ? 'not accepted in time'
    : !c.offeredToPresent && c.offeredToAway
      ? 'operator away'
      : !c.offeredToPresent
        ? 'operator not connected'
        : 'operator took another case';
  return {
    ok: true,
    patch: BACK_TO_QUEUE,
    events: [{ kind: 'offer-expired', actor: SYSTEM_ACTOR, data: { from: c.offeredTo, reason } }],
  };
}

/** The operator a case is offered to lets it go: back to the queue, offered to someone else first. */
function decline(c: CaseSnapshot, actor: Actor): Decision {
  if (c.state !== 'offered' || c.offeredTo !== actor.id)
    return refuse('state', 'decline', 'the case is not offered to you', c.offeredTo);
  return {
    ok: true,
    patch: BACK_TO_QUEUE,
    events: [{ kind: 'offer-expired', actor: actor.id, data: { from: actor.id, reason: 'declined' } }],
  };
}

const waitedSeconds = (c: CaseSnapshot, now: Date) => (now.getTime() - c.raisedAt.getTime()) / 1000;

/** Whether an alarm call still waits for someone to answer it (queued or on offer, never accepted). */
const unanswered = (c: CaseSnapshot) =>
  (c.state === 'queued' || c.state === 'offered') && !c.testMode && c.acceptedAt === null;

/**
 * An unanswered P1 climbs the escalation ladder: each rung is reached `afterSeconds` after it was
 * raised, recorded once, in order (a tick that finds two rungs passed records both). A P1 back in
 * the queue unanswered after someone had it (`requeuedAt`) climbs again from its first rung,
 * counted from when it came back: once per time in the queue. A case that became P1 later than it
 * was raised (`priorityRaisedAt`) climbs from then. The event names the time it counted from when
 * that is not the raise.
 */
function escalationDue(c: CaseSnapshot, ladder: readonly Rung[], now: Date): Decision {
  if (c.priority !== 1 || c.testMode || (c.state !== 'queued' && c.state !== 'offered'))
    return refuse('state', 'escalate', 'only a P1 waiting in the queue escalates');
  const from = ladderStart(c);
  const waited = (now.getTime() - from.getTime()) / 1000;
  const reached = [...ladder]
    .sort((a, b) => a.step - b.step)
    .filter((rung) => rung.step > c.escalationStep && waited >= rung.afterSeconds);
  const last = reached.at(-1);
  if (!last) return refuse('state', 'escalate', 'no rung is due');
  return {
    ok: true,
    patch: { escalationStep: last.step },
    events: reached.map((rung) => ({
      kind: 'escalated' as const,
      actor: SYSTEM_ACTOR,
      data: {
        step: rung.step,
        to: rung.to,
        afterSeconds: rung.afterSeconds,
        waitedSeconds: Math.round(waited),
        ...(c.requeuedAt && c.requeuedAt >= from ? { requeuedAt: c.requeuedAt.toISOString() } : {}),
        ...(c.priorityRaisedAt && c.priorityRaisedAt >= from
          ? { priorityRaisedAt: c.priorityRaisedAt.toISOString() }
          : {}),
      },
    })),
  };
}

/**
 * An alarm call (P1, P2) still unanswered at 60 s and at 180 s: each target missed is recorded
 * once, so the consoles, the stream and CASES see the moment it is lost.
 */
function answerTargetsDue(c: CaseSnapshot, now: Date): Decision {
  if (!(ALARM_PRIORITIES as readonly number[]).includes(c.priority) || !unanswered(c))
    return refuse('state', 'answer-target', 'only an unanswered alarm call misses an answer target');
  const waited = waitedSeconds(c, now);
  const missed = ANSWER_TARGETS.filter(
    (target) => target.seconds > (c.answerTargetMissed ?? 0) && waited >= target.seconds,
  );
  const last = missed.at(-1);
  if (!last) return refuse('state', 'answer-target', 'no answer target is due');
  return {
    ok: true,
    patch: { answerTargetMissed: last.seconds },
    events: missed.map((target) => ({
      kind: 'answer-target-missed' as const,
      actor: SYSTEM_ACTOR,
      data: {
        targetSeconds: target.seconds,
        step: ANSWER_TARGETS.indexOf(target) + 1,
        priority: c.priority,
        waitedSeconds: Math.floor(waited),
      },
    })),
  };
}

/**
 * The person holding an accepted or held case, seen by the timers. Away (a break, set by them or a
 * supervisor) or signed out, with a case accepted: that case goes back to the queue at once, whatever
 * its priority (`requeued`, `reason: "operator away"` or `"signed out"`, `timer: true`): the request
 * that set it hands its cases back itself, and this finds what it could not (an instance stopped
 * between the two, a case accepted or moved to them as they left). Gone (no console there): the
 * absence is noted at once (no event: a reload or a Wi-Fi roam is back in seconds); past
 * `goneSeconds` the case is flagged `operator-gone`, once; past `requeueSeconds` more, an accepted
 * case goes back to the queue, with its notes, facts, history and first acceptance, for someone who
 * is there. A held case keeps its call-back, which already returns it to the queue for whoever is
 * free. Back in time: the absence is forgotten, and a flag clears with `operator-back`.
 */
function holderDue(c: CaseSnapshot, bounds: OperatorGoneBounds, now: Date): Decision {
  const action = 'operator-gone';
  if ((c.state !== 'accepted' && c.state !== 'on_hold') || c.testMode || c.holderPresent === null)
    return refuse('state', action, 'nobody with a console holds this case');
  const operatorId = c.assignedTo;
  if (c.state === 'accepted' && c.holderAway === true)
    return c.holderPresent === false && c.holderSignedIn === false
      ? requeueFrom(c, now, { reason: 'signed out', ...goneData(c, now), timer: true })
      : requeueFrom(c, now, { reason: 'operator away', operatorId, priority: c.priority, timer: true });
  if (c.holderPresent) {
    if (c.holderGoneSince === null && c.operatorGoneAt === null)
      return refuse('state', action, 'the operator is there');
    const since = c.holderGoneSince ?? c.operatorGoneAt ?? now;
    return {
      ok: true,
      patch: CLEAR_GONE,
      events: c.operatorGoneAt
        ? [
            {
              kind: 'operator-back',
              actor: SYSTEM_ACTOR,
              data: {
                operatorId,
                since: since.toISOString(),
                goneSeconds: Math.floor((now.getTime() - since.getTime()) / 1000),
              },
            },
          ]
        : [],
    };
  }
  if (c.holderGoneSince === null) return { ok: true, patch: { holderGoneSince: now }, events: [] };
  const gone = (now.getTime() - c.holderGoneSince.getTime()) / 1000;
  const data = goneData(c, now);
  const events: EventDraft[] = [];
  const patch: CasePatch = {};
  if (c.operatorGoneAt === null && gone >= bounds.goneSeconds) {
    patch.operatorGoneAt = now;
    events.push({ kind: 'operator-gone', actor: SYSTEM_ACTOR, data: { ...data, state: c.state } });
  }
  if (c.state === 'accepted' && gone >= bounds.goneSeconds + bounds.requeueSeconds) {
    // Back at the front of its priority: the queue orders by the raise, which has not moved.
    const back = handBack(c, now, { reason: 'operator gone', ...data });
    Object.assign(patch, back.patch);
    events.push(...back.events);
  }
  if (events.length === 0) return refuse('state', action, 'nothing is due');
  return { ok: true, patch, events };
}

/**
 * The holder signed out on purpose with no console left: nobody is on the case, and nobody needs to
 * wait to find out. An accepted case goes back to the queue at once, whatever its priority, as when
 * they go away (`requeued`, `reason: "signed out"`): left with them, a technical case sat flagged and
 * unworked until a supervisor noticed. A held case is flagged `operator-gone` at once (`signedOut:
 * true`) and keeps its call-back, which returns it to the queue for whoever is free.
 */
function holderSignedOut(c: CaseSnapshot, now: Date): Decision {
  const action = 'signed-out';
  if ((c.state !== 'accepted' && c.state !== 'on_hold') || c.testMode || c.holderPresent !== false)
    return refuse('state', action, 'nobody who signed out holds this case');
  const data = goneData(c, now);
  if (c.state === 'accepted') return requeueFrom(c, now, { reason: 'signed out', ...data });
  if (c.operatorGoneAt !== null) return refuse('state', action, 'already flagged');
  return {
    ok: true,
    patch: { holderGoneSince: c.holderGoneSince ?? now, operatorGoneAt: now },
    events: [
      { kind: 'operator-gone', actor: SYSTEM_ACTOR, data: { ...data, state: c.state, signedOut: true } },
    ],
  };
}

/** Who left and since when, as a requeue or a flag for someone no longer there records it. */
const goneData = (c: CaseSnapshot, now: Date) => {
  const since = c.holderGoneSince ?? c.operatorGoneAt ?? now;
  return {
    operatorId: c.assignedTo,
    since: since.toISOString(),
    goneSeconds: Math.floor((now.getTime() - since.getTime()) / 1000),
    priority: c.priority,
  };
};

/**
 * An accepted case back in the queue from someone no longer there: at the front of its priority (its
 * raise kept), its first acceptance, notes and history kept, its ladder climbing again from now, and
 * not offered back to them first.
 */
const handBack = (
  c: CaseSnapshot,
  now: Date,
  data: Record<string, unknown>,
): { patch: CasePatch; events: EventDraft[] } => ({
  patch: {
    ...BACK_TO_QUEUE,
    ...CLEAR_GONE,
    ...backInQueue(now),
    assignedTo: null,
    lastOfferedTo: c.assignedTo,
  },
  events: [{ kind: 'requeued', actor: SYSTEM_ACTOR, data }],
});

const requeueFrom = (c: CaseSnapshot, now: Date, data: Record<string, unknown>): Decision => ({
  ok: true,
  ...handBack(c, now, data),
});

/**
 * The holder of an accepted case went away (a break; or a supervisor set them away, `by`): an
 * accepted case never sits with someone who is not there, so it goes back to the queue at once,
 * whatever its priority, offered to the next operator as any waiting case, with its raise, first
 * acceptance and history kept and its ladder climbing again from now (`requeued`, `reason:
 * "operator away"`). Left with them, it waited unworked for the whole break while its card said
 * "with" them, and nobody was told. A held case keeps its call-back, which returns it to the queue
 * for whoever is free.
 */
function holderAway(c: CaseSnapshot, by: string, now: Date): Decision {
  if (c.state !== 'accepted' || c.testMode || c.holderAway !== true)
    return refuse('state', 'away', 'nobody who went away is working this case');
  const operatorId = c.assignedTo;
  return {
    ok: true,
    patch: {
      ...BACK_TO_QUEUE,
      ...CLEAR_GONE,
      ...backInQueue(now),
      assignedTo: null,
      lastOfferedTo: operatorId,
    },
    events: [
      {
        kind: 'requeued',
        actor: SYSTEM_ACTOR,
        data: { reason: 'operator away', operatorId, by, priority: c.priority },
      },
    ],
  };
}

/**
 * Why a case may not go to this person, in words a supervisor acts on; nothing when it may. Nobody
 * is given a case they would not see: an accepted case or an offer only to someone *there* (a live
 * console, and not away), a held case only to someone with a console (away is allowed: its call-back
 * returns it to the queue for whoever is free). Given to someone with no console, an accepted alarm
 * sat with nobody watching until the operator-gone bounds handed it back, minutes later, and an
 * offer to them wasted the whole offer time of a P1.
 */
function notThereReason(state: CaseState, cmd: Command & { kind: 'reassign' }): string | undefined {
  if (state === 'on_hold')
    return cmd.toConsole
      ? undefined
      : 'they have no console open: a held case goes only to someone at a console';
  const rule =
    state === 'accepted'
      ? 'an accepted case goes only to someone who is there'
      : 'a waiting case is offered only to someone who is there';
  if (cmd.toAway) return `they are away: ${rule}`;
  if (!cmd.toConsole) return `they have no console open: ${rule}`;
  return undefined;
}

/**
 * A supervisor gives a case to someone else: a waiting case is offered to them, one being worked
 * moves to them; refused (nothing changes) when they are not there to see it (`notThereReason`).
 */
function reassign(c: CaseSnapshot, cmd: Command & { kind: 'reassign' }, now: Date): Decision {
  if (!isOpen(c.state)) return refuse('state', 'reassign', `the case is already ${c.state}`);
  const notThere = notThereReason(c.state, cmd);
  if (notThere) return refuse('state', 'reassign', notThere);
  const patch: CasePatch =
    c.state === 'queued' || c.state === 'offered'
      ? {
          state: 'offered',
          offeredTo: cmd.to,
          lastOfferedTo: cmd.to,
          offerExpiresAt: new Date(now.getTime() + cmd.offerSeconds * 1000),
        }
      : { assignedTo: cmd.to, ...CLEAR_GONE };
  return {
    ok: true,
    patch,
    events: [
      {
        kind: 'reassigned',
        actor: cmd.actor.id,
        data: { from: c.assignedTo ?? c.offeredTo, to: cmd.to, reason: cmd.reason },
      },
    ],
  };
}

/**
 * An alert joins this case: it takes the alert's priority and type when that is more urgent, never
 * less, and a case on hold goes back to the queue (a new alarm cannot wait for the call-back).
 */
function joinPatch(
  c: CaseSnapshot,
  alert: Alert,
  now: Date,
): { patch: CasePatch; data: Record<string, unknown> } {
  const raise = moreUrgent(alert.priority, c.priority);
  const requeue = c.state === 'on_hold';
  const raisedAt = new Date(alert.raisedAt);
  return {
    patch: {
      ...(raise ? { ...priorityRaised(alert.priority, now), type: alert.type } : {}),
      lastAlertAt: raisedAt > c.lastAlertAt ? raisedAt : c.lastAlertAt,
      // Nobody's until someone takes it, as after a call-back: its holder may be away or signed out.
      ...(requeue
        ? { state: 'queued', ...CLEAR_HOLD, ...CLEAR_GONE, ...backInQueue(now), assignedTo: null }
        : {}),
    },
    data: {
      ...(raise ? { priorityRaisedFrom: c.priority } : {}),
      ...(requeue ? { requeuedFromHold: true, heldBy: c.assignedTo } : {}),
    },
  };
}

const joined = (data: Record<string, unknown>): EventDraft => ({
  kind: 'alert-joined',
  actor: SYSTEM_ACTOR,
  data,
});

function alertInto(c: CaseSnapshot, input: AlertInput, now: Date): Decision {
  const { alert } = input;
  if (input.kind === 'closing') return closeWith(c, input.closed, alert, now);
  if (input.kind === 'join') {
    if (!isOpen(c.state) || c.testMode) return refuse('state', 'join', `the case is ${c.state}`);
    const { patch, data } = joinPatch(c, alert, now);
    return {
      ok: true,
      patch,
      events: [
        joined({
          alertId: alert.id,
          priority: alert.priority,
          type: alert.type,
          ...sourceOf(alert),
          ...data,
        }),
      ],
    };
  }
  // A repeat press is counted on the open case of the alert it repeats; a resolved or closed case
  // is refused, and the press is a new alarm (triage cannot know an operator resolved it).
  if (c.testMode !== alert.testMode || (!c.testMode && !isOpen(c.state)))
    return refuse('state', 'repeat', `the case is ${CaseState.parse(c.state)}`);
  const shown = {
    alertId: alert.id,
    priority: alert.priority,
    type: alert.type,
    ...sourceOf(alert),
    repeats: alert.repeats?.alertId,
    evidence: alert.evidence,
    reason: alert.reason,
  };
  // A panel's report that the alarm is still present repeats the alert it follows only to be shown
  // on its case: no press, and the case stays as it stands (not requeued from hold, its join window
  // not moved). It stands as that alert does: a cancel of the alert closes it too.
  if (alert.type === 'alarm.still-present') return { ok: true, patch: {}, events: [joined(shown)] };
  const { presses, lastPressAt } = tallyWith(c.alerts, alert, input.counted ?? false);
  const common = { ...shown, repeat: true, presses, lastPressAt };
  if (c.testMode) return { ok: true, patch: {}, events: [joined(common)] };
  const { patch, data } = joinPatch(c, alert, now);
  return { ok: true, patch, events: [joined({ ...common, ...data })] };
}

/**
 * A closing alert joins the case that holds the alert it closes and may resolve it (see
 * `closingEffect`); it never raises the priority, slides the join window or requeues.
 */
function closeWith(c: CaseSnapshot, closed: ClosedAlerts, alert: Alert, now: Date): Decision {
  const closes = alert.closes;
  if (!closes) return refuse('invalid', 'close', 'the alert closes nothing');
  const raisers = raisersClosedBy(c.alerts.raisers, closed, closes.outcome);
  const closedType: EventType | undefined = closed.type;
  const recent = closed.recent && closedType ? { type: closedType, ...closed.recent } : undefined;
  // A repeating fault restored while other alerts were open still keeps the case once they close.
  const mine = faultRepeating(recent) ? recent : undefined;
  const repeats = mine ?? c.faultRepeats ?? recent;
  const decided = closingEffect(c.state, c.testMode, raisers, repeats);
  const event = joined({
    alertId: alert.id,
    priority: alert.priority,
    type: alert.type,
    closes,
    closedType,
    // Who acted: the resident (a cancel) or the device (a restore), reported through triage.
    by: closes.outcome === 'false-alarm' ? 'resident' : 'device',
    ...sourceOf(alert),
    evidence: alert.evidence,
    reason: alert.reason,
    effect: decided.effect === 'resolve' ? 'resolved' : 'noted',
    ...(decided.effect === 'note' ? { why: decided.why } : {}),
    ...(decided.effect === 'note' && decided.why === 'fault-repeats' && repeats
      ? { repeated: repeats, note: faultRepeatsNote(repeats) }
      : decided.effect === 'note' && decided.why === 'other-alerts-open' && mine
        ? { repeated: mine }
        : {}),
  });
  if (decided.effect === 'note') {
    const held = decided.why === 'other-alerts-open' && mine && !c.faultRepeats;
    return { ok: true, patch: held ? { faultRepeats: mine } : {}, events: [event] };
  }
  return {
    ok: true,
    patch: {
      state: 'resolved',
      resolvedAt: now,
      outcome: decided.outcome,
      outcomeReason: alert.reason,
      offeredTo: null,
      offerExpiresAt: null,
    },
    events: [
      event,
      {
        kind: 'resolved',
        actor: SYSTEM_ACTOR,
        data: { outcome: decided.outcome, reason: alert.reason, automatic: true, byAlertId: alert.id },
      },
    ],
    autoResolved: decided.outcome,
  };
}

import type {
  Alert,
  CaseEvent,
  CaseFact,
  CaseState,
  EventType,
  Outcome,
  Priority,
} from '@telecare/contracts';
import type { FaultRepeats } from './transitions.ts';

/**
 * A case as the core sees it: what its decisions depend on, loaded (and locked) by the shell.
 * Times are `Date`s; nothing here is read from a clock or a database.
 */
export interface CaseSnapshot {
  readonly id: string;
  readonly residentId: string;
  readonly state: CaseState;
  readonly priority: Priority;
  readonly type: EventType;
  readonly raisedAt: Date;
  readonly lastAlertAt: Date;
  readonly acceptedAt: Date | null;
  readonly testMode: boolean;
  readonly offeredTo: string | null;
  /** When the offer in hand lapses if not accepted. */
  readonly offerExpiresAt: Date | null;
  /** Whether the person the case is offered to is still there (a console heard from, not away). */
  readonly offeredToPresent: boolean;
  /** Whether that person chose away (else, when not there, no console of theirs is connected). */
  readonly offeredToAway: boolean;
  /**
   * Whether that person has since accepted another case (taken from the list while the offer
   * stood): they are on that call, not this one.
   */
  readonly offeredToBusy: boolean;
  /** The last rung of the escalation ladder reached in the case's present time in the queue (0: none). */
  readonly escalationStep: number;
  /**
   * When the case last came back to the queue unanswered after someone had it (accepted or on
   * hold): its operator gone, its call-back due, a press bringing it back from hold. Null while it
   * never has. The escalation ladder climbs from it, else from the raise.
   */
  readonly requeuedAt: Date | null;
  /**
   * When the case last took a more urgent priority than it had (a more urgent alert joined it, or
   * its call-back returned it more urgent); null while it keeps the priority it was raised with.
   * For a P1, when it became P1: its ladder climbs from the latest of this, `requeuedAt` and the raise.
   */
  readonly priorityRaisedAt: Date | null;
  /** The last answer target (seconds) this alarm call missed, or null. */
  readonly answerTargetMissed: number | null;
  readonly assignedTo: string | null;
  /**
   * Whether the person holding the case (`assignedTo`) has a console there: null when nobody holds
   * it or the holder is not a person with consoles (the admin token).
   */
  readonly holderPresent: boolean | null;
  /**
   * Whether the person holding the case chose away (a break, or a supervisor set them away): null
   * when nobody holds it or the holder is not a person with a presence (the admin token).
   */
  readonly holderAway: boolean | null;
  /**
   * Whether the person holding the case is still signed in: a session not ended or expired, or a
   * console there. False once they signed out (or were signed out, or disabled) and their session
   * expired; null when nobody holds it or the holder is not a person (the admin token).
   */
  readonly holderSignedIn: boolean | null;
  /** When the helpline found the holder with no console there (null while they are there). */
  readonly holderGoneSince: Date | null;
  /** When the case was flagged `operator-gone` (null while not flagged). */
  readonly operatorGoneAt: Date | null;
  /** The call-back of a case on hold: when, why, and the priority it returns with. */
  readonly hold: {
    readonly until: Date;
    readonly reason: string;
    readonly returnPriority: Priority | null;
  } | null;
  /**
   * What the alerts that opened or joined the case come to, whatever their number: a join, a
   * repeat or a command reads this, never the alerts themselves (a case of thousands of alerts
   * would make every change to it cost thousands).
   */
  readonly alerts: AlertTally;
  /**
   * A fault of the case that came back too often to clear by itself (`FAULT_REPEATS`), noted when
   * its restore came while other alerts of the case were still open: the restore that closes the
   * last of them leaves the case for an operator too. Null while there is none.
   */
  readonly faultRepeats: FaultRepeats | null;
}

/** A case's alerts counted: kept on the case row by the shell, one alert at a time. */
export interface AlertTally {
  /** How many alerts opened or joined the case. */
  readonly count: number;
  /** How many times the resident pressed for the case, one per press (see `pressesOf`). */
  readonly presses: number;
  /** When the latest of those presses was raised (ISO); null when none. */
  readonly lastPressAt: string | null;
  /** Where the newest press stands among the case's alerts (0 the first, in the order they came); null when none. */
  readonly lastPressIndex: number | null;
  /** The alerts that raised the case (every alert that closes nothing), by type and how each stands. */
  readonly raisers: RaiserTally;
}

/** How a raiser stands: open, or closed by the resident's cancel or by the device's restore. */
export type RaiserStanding = 'open' | 'false-alarm' | 'restored';

/** How many raisers of one type stand each way. */
export type RaiserCounts = Readonly<Record<RaiserStanding, number>>;

/**
 * A case's raisers counted by type and standing (kept on the case row, migration 015): what decides
 * whether a cancel or a restore resolves the case, whatever the number of its alerts. A raiser is
 * closed by the latest closing alert of the case that closes it, or else by the latest that closes
 * the press it repeats.
 */
export type RaiserTally = Readonly<Partial<Record<EventType, RaiserCounts>>>;

/** The raisers of a case a closing alert closes: the alert it names, and the repeats of it no alert closed. */
export interface ClosedAlerts {
  /** The type of the alert it closes (undefined when the case does not hold it). */
  readonly type?: EventType | undefined;
  /** Those raisers by type and how each stood before, with how many. */
  readonly raisers: readonly {
    readonly type: EventType;
    readonly was: RaiserStanding;
    readonly count: number;
  }[];
  /**
   * For a restore of a fault that clears without an operator: how many times (cases: a spell of
   * the fault each) the device of the alert it closes raised that alert's type for the resident in
   * the last `days` days, this case included (read by the shell; absent when the alert names no
   * device or is no such fault).
   */
  readonly recent?:
    | { readonly deviceSerial: string; readonly times: number; readonly days: number }
    | undefined;
}

/** Who acts, for the audit trail; `override` lets a supervisor or admin act on anyone's case. */
export interface Actor {
  readonly id: string;
  readonly override: boolean;
}

/** The actor of everything the helpline does itself (ingest, timers, closing alerts). */
export const SYSTEM_ACTOR = 'helpline';

/** What a person asks of a case. */
export type Command =
  | { readonly kind: 'accept'; readonly actor: Actor }
  | {
      readonly kind: 'hold';
      readonly actor: Actor;
      readonly until: Date;
      readonly reason: string;
      readonly returnPriority?: Priority | undefined;
      /** Alerts the case had on the operator's screen: more since, and the hold is refused. */
      readonly seenAlerts?: number | undefined;
    }
  | {
      readonly kind: 'resolve';
      readonly actor: Actor;
      readonly outcome: Outcome;
      readonly reason: string;
      /** Facts not recorded yet (time on the floor, conveyed, admitted): recorded with the resolution. */
      readonly facts?: readonly CaseFact[] | undefined;
      /** Alerts the case had on the operator's screen: more since, and the resolution is refused. */
      readonly seenAlerts?: number | undefined;
    }
  | { readonly kind: 'record-fact'; readonly actor: Actor; readonly facts: readonly CaseFact[] }
  /** Work on the case that does not change its state: a note, a responder or 999 call, a reveal. */
  | {
      readonly kind: 'record';
      readonly actor: Actor;
      readonly event: RecordedKind;
      readonly data: Record<string, unknown>;
    }
  | {
      readonly kind: 'reassign';
      readonly actor: Actor;
      readonly to: string;
      readonly reason: string;
      readonly offerSeconds: number;
      /**
       * Whether the person it goes to has a console there (a live console, heard from within the
       * presence timeout): no case goes to someone with none, who would not see it.
       */
      readonly toConsole: boolean;
      /**
       * Whether the person it goes to chose away: neither an accepted case nor an offer goes to
       * someone away (a held case may: its call-back returns it to the queue for whoever is free).
       */
      readonly toAway: boolean;
    };

/** The case events that record work without changing the case. */
export type RecordedKind = 'note' | 'responder-called' | 'emergency-called' | 'revealed';

/** What an alert brings to a case that already exists. */
export type AlertInput =
  /** A further alert for the resident, within the join window of this open case. */
  | { readonly kind: 'join'; readonly alert: Alert }
  /**
   * A repeat press of an alert this case holds; `counted` when the press it reports already
   * reached the case (a repeat, then its own alert when a late cancel split its group).
   */
  | { readonly kind: 'repeat'; readonly alert: Alert; readonly counted?: boolean | undefined }
  /**
   * An alert that closes one this case holds (a resident's cancel, a device's restore), with the
   * case's alerts (oldest first): whether it closes the case depends on every alert that raised it.
   */
  | { readonly kind: 'closing'; readonly alert: Alert; readonly closed: ClosedAlerts };

/**
 * One rung of the escalation ladder: reached `afterSeconds` after an unanswered P1 was raised,
 * became P1 (`priorityRaisedAt`) or came back to the queue unanswered (`requeuedAt`), the latest.
 */
export interface Rung {
  readonly step: number;
  readonly to: 'all-operators' | 'supervisor' | 'overflow';
  readonly afterSeconds: number;
}

/** Alarm calls: the priorities that count against the answer targets (DESIGN §6, TSA). */
export const ALARM_PRIORITIES = [1, 2] as const;
/** The two answer targets of an alarm call, in seconds, with the share of calls each asks for. */
export const ANSWER_TARGETS = [
  { seconds: 60, percent: 97.5 },
  { seconds: 180, percent: 99 },
] as const;

/** What the helpline's own timers bring to a case. */
export type TimerInput =
  | { readonly kind: 'call-back-due' }
  /** The offer in hand: lapsed, or its operator is no longer there. */
  | { readonly kind: 'offer-due' }
  | { readonly kind: 'escalation-due'; readonly ladder: readonly Rung[] }
  | { readonly kind: 'answer-targets-due' }
  /**
   * The holder of an accepted or held case: away or signed out (an accepted case back in the queue
   * now), gone (flag, then an accepted case back in the queue), or back.
   */
  | { readonly kind: 'holder-due'; readonly bounds: OperatorGoneBounds }
  /** The holder signed out on purpose and has no console left there: no waiting out the bounds. */
  | { readonly kind: 'holder-signed-out' }
  /** The holder went away (a break) by their own choice or a supervisor's (`by`): not there. */
  | { readonly kind: 'holder-away'; readonly by: string };

/**
 * How long the holder of a case may have no console there before the case is flagged
 * (`goneSeconds`), and how much longer before an accepted alarm call goes back to the queue.
 */
export interface OperatorGoneBounds {
  readonly goneSeconds: number;
  readonly requeueSeconds: number;
}

/** The operator an offer was made to lets it go. */
export interface Decline {
  readonly kind: 'decline';
  readonly actor: Actor;
}

export type Input = Command | Decline | AlertInput | TimerInput;

/** The columns of a case a decision changes; absent keys stay as they are. */
export interface CasePatch {
  state?: CaseState;
  priority?: Priority;
  type?: EventType;
  lastAlertAt?: Date;
  acceptedAt?: Date;
  resolvedAt?: Date;
  outcome?: Outcome;
  outcomeReason?: string;
  holdUntil?: Date | null;
  holdReason?: string | null;
  holdReturnPriority?: Priority | null;
  offeredTo?: string | null;
  offerExpiresAt?: Date | null;
  lastOfferedTo?: string | null;
  assignedTo?: string | null;
  escalationStep?: number;
  requeuedAt?: Date;
  priorityRaisedAt?: Date;
  answerTargetMissed?: number;
  holderGoneSince?: Date | null;
  operatorGoneAt?: Date | null;
  faultRepeats?: FaultRepeats;
}

/** A case event before the shell gives it an id and a time (`now`). */
export interface EventDraft {
  readonly kind: CaseEvent['kind'];
  readonly actor: string;
  readonly data: Record<string, unknown>;
}

/** Why nothing changed: `state` (409: the case's state or holder does not allow it) or `invalid` (400). */
export interface Refusal {
  readonly refused: 'state' | 'invalid';
  readonly action: string;
  readonly reason: string;
  /** The user who has the case, when that is why it was refused. */
  readonly holder?: string | null | undefined;
}

/** What happens to a case: its new columns and the events that say so, or a refusal. */
export type Decision =
  | {
      readonly ok: true;
      readonly patch: CasePatch;
      readonly events: readonly EventDraft[];
      /** Set when a closing alert resolved the case on its own. */
      readonly autoResolved?: 'false-alarm' | 'technical-resolved';
    }
  | ({ readonly ok: false } & Refusal);

import { defaultPriority, type EventType, eventIdFor } from '@telecare/contracts';

/**
 * The reconciler: from what a run's devices sent and had acked, and from what the servers hold at
 * the end (EVENTS, ALERTS and CASES of the run's namespace, the helpline's tables), it proves the
 * promises of DESIGN §3.1 — or lists, event by event, where they were broken. It is pure: the
 * reading is in `collect.ts`.
 */

/** One event a device sent, and whether the platform acked it as stored. */
export interface SentEvent {
  readonly serial: string;
  readonly deviceEventId: string;
  /** The device's time as sent: with the id and type it names the event (`eventIdFor`). */
  readonly at: string;
  readonly type: EventType;
  readonly acked: boolean;
  /**
   * Set for an event a DC-09 panel sent: the sequence number of its message. A panel names its
   * message, not its events: the gateway names those, from the message and which sending of it
   * this was as far as the gateway knows (`StoredEvent.seq`).
   */
  readonly dc09Seq?: number;
  /** A DC-09 message ACKed: the timestamp of the sending the gateway ACKed. */
  readonly dc09AckedAt?: string;
}

/** What names a sent event: enough to find it in EVENTS (`storedIds`). */
export type SentKey = Pick<SentEvent, 'serial' | 'deviceEventId' | 'at' | 'type' | 'dc09Seq'>;

/** The parts of the stored records the proofs need. */
export interface StoredEvent {
  readonly id: string;
  readonly type: EventType;
  /** The DC-09 gateway's events: `source` `/gateway-dc09`, the account's serial, the message's sequence. */
  readonly source?: string;
  readonly subject?: string;
  readonly seq?: number;
}
export interface StoredAlert {
  readonly id: string;
  readonly type: EventType;
  readonly rule: { readonly id: string };
  readonly evidence: readonly string[];
  readonly testMode: boolean;
  readonly closes?: unknown;
  /** Set on a repeat press counted on the case of an earlier alert. */
  readonly repeats?: unknown;
}
/** A CASES message: the case event with the alert it opened or joined, when it did. */
export interface StoredCaseEvent {
  readonly id: string;
  readonly caseId: string;
  readonly kind: string;
  readonly alertId?: string;
}

export interface RunRecord {
  readonly sent: readonly SentEvent[];
}

export interface ServerRecord {
  readonly events: readonly StoredEvent[];
  readonly alerts: readonly StoredAlert[];
  readonly caseEvents: readonly StoredCaseEvent[];
  readonly db: {
    readonly caseIds: readonly string[];
    /** case_alerts: which case holds each alert. */
    readonly caseAlerts: ReadonlyArray<{ readonly alertId: string; readonly caseId: string }>;
    readonly caseEventIds: readonly string[];
    /** Case events committed and not yet confirmed in CASES (the helpline's outbox). */
    readonly outboxIds: readonly string[];
  };
}

export type ViolationKind =
  | 'life-critical-lost'
  | 'acked-event-lost'
  | 'dc09-same-second-copy'
  | 'in-two-cases'
  | 'duplicate-alert'
  | 'stream-db-mismatch';

export interface Violation {
  readonly kind: ViolationKind;
  /** Ids only: the event, alert or case that breaks the promise. */
  readonly id: string;
  readonly detail: string;
}

export interface Reconciliation {
  readonly counts: {
    readonly sent: number;
    readonly acked: number;
    readonly lifeCriticalSent: number;
    readonly lifeCriticalAcked: number;
    readonly lostLifeCritical: number;
    readonly lostOther: number;
    readonly eventsStored: number;
    readonly alerts: number;
    readonly cases: number;
    readonly duplicateCases: number;
    /**
     * Acked life-critical DC-09 events stored under two ids or more: a panel's resend the gateway took
     * for a new sending (it came after a restart of the gateway, which forgot the sendings it had
     * seen). Its alerts must still be in one case; counted, not a violation (the gateway's README).
     */
    readonly storedTwice: number;
    /**
     * ACKed DC-09 messages not stored because their panel had a message of the same content ACKed
     * and stored with a timestamp of the same second: the gateway knows an encrypted frame by its
     * account, content and timestamp, not its sequence number (its README, "A frame again with the
     * same timestamp"), so it answered the second as a copy of the first. Not in the losses above;
     * each is a `dc09-same-second-copy` violation.
     */
    readonly dc09SameSecondCopies: number;
    readonly duplicateAlerts: number;
    readonly streamDbMismatches: number;
    /** Committed case events still waiting in the outbox: published when the helpline next runs. */
    readonly outboxPending: number;
  };
  readonly violations: readonly Violation[];
}

/** Life-critical: the taxonomy's priority 1 (pendant, pull-cord, fall, smoke, heat, CO, gas, seizure). */
export const isLifeCritical = (type: EventType): boolean => defaultPriority(type) === 1;

export const DC09_SOURCE = '/gateway-dc09';

/**
 * Where each sent event is in EVENTS: the ids it is stored under (none: not stored). An MQTT device
 * names its event (`eventIdFor` of serial, its event id, its time and type); a DC-09 event is found
 * by its account's serial, its message's sequence number and its type, and may be stored under
 * more than one id (`SentEvent.dc09Seq`). A run's panel does not number two messages alike.
 */
export function storedIds(events: readonly StoredEvent[]): (sent: SentKey) => string[] {
  const stored = new Set(events.map((e) => e.id));
  const dc09Key = (serial: string, seq: number, type: string) => `${serial}\u0000${seq}\u0000${type}`;
  const byMessage = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.source !== DC09_SOURCE || e.subject === undefined || e.seq === undefined) continue;
    const key = dc09Key(e.subject, e.seq, e.type);
    byMessage.set(key, (byMessage.get(key) ?? new Set()).add(e.id));
  }
  return (sent) => {
    if (sent.dc09Seq !== undefined)
      return [...(byMessage.get(dc09Key(sent.serial, sent.dc09Seq, sent.type)) ?? [])];
    const id = eventIdFor(sent.serial, sent.deviceEventId, sent.at, sent.type);
    return stored.has(id) ? [id] : [];
  };
}

export function reconcile(run: RunRecord, servers: ServerRecord): Reconciliation {
  const violations: Violation[] = [];
  const stored = new Set(servers.events.map((e) => e.id));
  const idsOf = storedIds(servers.events);
  const alerts = uniqueById(servers.alerts);
  const caseOfAlert = new Map(servers.db.caseAlerts.map((row) => [row.alertId, row.caseId]));
  const alertsByEvidence = indexByEvidence(alerts);

  let lostLifeCritical = 0;
  let lostOther = 0;
  let duplicateCases = 0;
  let storedTwice = 0;
  let dc09SameSecondCopies = 0;
  const copyOf = sameSecondCopies(run.sent, idsOf);
  for (const sent of run.sent.filter((s) => s.acked)) {
    const ids = idsOf(sent);
    const eventId =
      ids[0] ??
      (sent.dc09Seq === undefined
        ? eventIdFor(sent.serial, sent.deviceEventId, sent.at, sent.type)
        : `${sent.serial} message ${sent.dc09Seq}`);
    const lost = (detail: string) => {
      if (isLifeCritical(sent.type)) {
        lostLifeCritical++;
        violations.push({ kind: 'life-critical-lost', id: eventId, detail });
      } else {
        lostOther++;
        violations.push({ kind: 'acked-event-lost', id: eventId, detail });
      }
    };
    if (ids.length === 0) {
      const first = copyOf(sent);
      if (first !== undefined) {
        dc09SameSecondCopies++;
        violations.push({
          kind: 'dc09-same-second-copy',
          id: eventId,
          detail: `${sent.type} ACKed but not in EVENTS: taken for a copy of message ${first}, stamped the same second`,
        });
      } else lost(`${sent.type} acked but not in EVENTS`);
      continue;
    }
    if (!isLifeCritical(sent.type)) continue;
    if (ids.length > 1) storedTwice++;
    const raised = ids.flatMap((id) => alertsByEvidence.get(id) ?? []).filter((a) => a.closes === undefined);
    if (raised.length === 0) {
      lost(`${sent.type} stored but raised no alert`);
      continue;
    }
    const cases = new Set(raised.flatMap((a) => caseOfAlert.get(a.id) ?? []));
    if (cases.size === 0) lost(`${sent.type} alerted (${raised.map((a) => a.id).join(', ')}) but in no case`);
    if (cases.size > 1) {
      duplicateCases++;
      violations.push({ kind: 'in-two-cases', id: eventId, detail: `in cases ${[...cases].join(', ')}` });
    }
  }

  const duplicateAlerts = findDuplicateAlerts(alerts, caseOfAlert, servers.caseEvents, violations);
  const streamDbMismatches = checkStreamsAgainstDb(alerts, servers, violations);
  const lifeCritical = run.sent.filter((s) => isLifeCritical(s.type));
  return {
    counts: {
      sent: run.sent.length,
      acked: run.sent.filter((s) => s.acked).length,
      lifeCriticalSent: lifeCritical.length,
      lifeCriticalAcked: lifeCritical.filter((s) => s.acked).length,
      lostLifeCritical,
      lostOther,
      eventsStored: stored.size,
      alerts: alerts.length,
      cases: new Set(servers.db.caseIds).size,
      duplicateCases,
      storedTwice,
      dc09SameSecondCopies,
      duplicateAlerts,
      streamDbMismatches,
      outboxPending: servers.db.outboxIds.length,
    },
    violations,
  };
}

/**
 * The sequence number of the message an ACKed DC-09 message was taken for a copy of: another of its
 * panel's messages of the same type (the same content, in a run's load), ACKed with a timestamp of
 * the same second and stored. Undefined: none.
 */
function sameSecondCopies(
  sent: readonly SentEvent[],
  idsOf: (sent: SentKey) => string[],
): (sent: SentEvent) => number | undefined {
  const second = (at: string) => at.slice(0, 19);
  const stored = new Map<string, number>();
  for (const s of sent) {
    if (s.dc09Seq === undefined || s.dc09AckedAt === undefined || idsOf(s).length === 0) continue;
    stored.set(`${s.serial}\u0000${s.type}\u0000${second(s.dc09AckedAt)}`, s.dc09Seq);
  }
  return (s) =>
    s.dc09AckedAt === undefined
      ? undefined
      : stored.get(`${s.serial}\u0000${s.type}\u0000${second(s.dc09AckedAt)}`);
}

function uniqueById<T extends { id: string }>(items: readonly T[]): T[] {
  return [...new Map(items.map((item) => [item.id, item])).values()];
}

function indexByEvidence(alerts: readonly StoredAlert[]): Map<string, StoredAlert[]> {
  const index = new Map<string, StoredAlert[]>();
  for (const alert of alerts) {
    for (const eventId of alert.evidence) index.set(eventId, [...(index.get(eventId) ?? []), alert]);
  }
  return index;
}

/**
 * An operator sees an alert twice when two alert ids in cases carry the same rule, evidence and
 * sort (the deterministic id failed), or when CASES joins one alert id to a case twice (the idempotent
 * store failed). Test-mode alerts go to the installer, not an operator.
 */
function findDuplicateAlerts(
  alerts: readonly StoredAlert[],
  caseOfAlert: ReadonlyMap<string, string>,
  caseEvents: readonly StoredCaseEvent[],
  violations: Violation[],
): number {
  let duplicates = 0;
  const byKey = new Map<string, string>();
  for (const alert of alerts) {
    if (alert.testMode || !caseOfAlert.has(alert.id)) continue;
    // A press that raised an alert and, after a late press regrouped it, a repeat, is counted on
    // its case once as each: only two of the same sort are a duplicate.
    const sort = alert.repeats === undefined ? 'alert' : 'repeat';
    const key = `${alert.rule.id}\u0000${sort}\u0000${[...alert.evidence].sort().join(',')}`;
    const first = byKey.get(key);
    if (first === undefined) byKey.set(key, alert.id);
    else {
      duplicates++;
      violations.push({
        kind: 'duplicate-alert',
        id: alert.id,
        detail: `same rule and evidence as ${first}`,
      });
    }
  }
  const joined = new Map<string, string>();
  const closedLate = closedLateBy(alerts, caseOfAlert);
  for (const event of uniqueById(caseEvents)) {
    if (event.alertId === undefined || (event.kind !== 'opened' && event.kind !== 'alert-joined')) continue;
    if (closedLate(event)) continue;
    const first = joined.get(event.alertId);
    if (first === undefined) joined.set(event.alertId, event.id);
    else {
      duplicates++;
      violations.push({
        kind: 'duplicate-alert',
        id: event.alertId,
        detail: `shown on cases by both ${first} and ${event.id}`,
      });
    }
  }
  return duplicates;
}

/**
 * Whether a case event is a closing alert (a cancel or restore) joining the case of the alert it
 * closes, after it was kept as a record of its own: each priority has its own consumer, so it can
 * be committed before that alert, in a closed case of its own (which holds it in case_alerts), and
 * the alert's commit then closes its case with it (the helpline's `closeLate`). Only in the case
 * that holds the alert it closes.
 */
function closedLateBy(
  alerts: readonly StoredAlert[],
  caseOfAlert: ReadonlyMap<string, string>,
): (event: StoredCaseEvent) => boolean {
  const closes = new Map<string, string>();
  for (const alert of alerts) {
    const target = (alert.closes as { alertId?: unknown } | undefined)?.alertId;
    if (typeof target === 'string') closes.set(alert.id, target);
  }
  return (event) => {
    if (event.kind !== 'alert-joined' || event.alertId === undefined) return false;
    const target = closes.get(event.alertId);
    const held = caseOfAlert.get(event.alertId);
    return (
      target !== undefined &&
      held !== undefined &&
      held !== event.caseId &&
      caseOfAlert.get(target) === event.caseId
    );
  };
}

/** EVENTS → ALERTS → PostgreSQL → CASES: each record on one side has its counterpart on the other. */
function checkStreamsAgainstDb(
  alerts: readonly StoredAlert[],
  servers: ServerRecord,
  violations: Violation[],
): number {
  const before = violations.length;
  const mismatch = (id: string, detail: string) =>
    violations.push({ kind: 'stream-db-mismatch', id, detail });
  const alertIds = new Set(alerts.map((a) => a.id));
  const caseOfAlert = new Map(servers.db.caseAlerts.map((row) => [row.alertId, row.caseId]));
  for (const alert of alerts) {
    if (!caseOfAlert.has(alert.id)) mismatch(alert.id, 'in ALERTS but not in case_alerts');
  }
  for (const { alertId } of servers.db.caseAlerts) {
    if (!alertIds.has(alertId)) mismatch(alertId, 'in case_alerts but not in ALERTS');
  }
  const dbEvents = new Set(servers.db.caseEventIds);
  const streamEvents = new Set(servers.caseEvents.map((e) => e.id));
  const pending = new Set(servers.db.outboxIds);
  for (const id of dbEvents) {
    if (!streamEvents.has(id) && !pending.has(id))
      mismatch(id, 'in case_events but not in CASES nor the outbox');
  }
  const dbCases = new Set(servers.db.caseIds);
  const closedLate = closedLateBy(alerts, caseOfAlert);
  for (const event of uniqueById(servers.caseEvents)) {
    if (!dbEvents.has(event.id)) mismatch(event.id, 'in CASES but not in case_events');
    if (!dbCases.has(event.caseId)) mismatch(event.caseId, 'a case in CASES but not in cases');
    if (
      event.alertId !== undefined &&
      (event.kind === 'opened' || event.kind === 'alert-joined') &&
      !closedLate(event)
    ) {
      const held = caseOfAlert.get(event.alertId);
      if (held !== event.caseId) {
        mismatch(event.alertId, `CASES puts it in ${event.caseId}, case_alerts in ${held ?? 'none'}`);
      }
    }
  }
  return violations.length - before;
}

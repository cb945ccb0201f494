import { type AlertSource, deviceText, sourceText, timeText, typeLabel } from './format.ts';
import { nameOf } from './state.ts';
import type { CaseEvent } from './types.ts';

/** The fields case events carry in `data` (each kind uses some of them). */
interface EventData extends AlertSource {
  readonly type?: string;
  readonly priority?: number;
  readonly afterCase?: string;
  readonly afterState?: string;
  readonly repeat?: boolean;
  readonly presses?: number;
  readonly lastPressAt?: string;
  readonly priorityRaisedFrom?: number;
  readonly requeuedFromHold?: boolean;
  readonly closes?: { readonly outcome?: string };
  readonly by?: string;
  readonly closedType?: string;
  readonly effect?: string;
  readonly why?: string;
  readonly to?: string;
  readonly from?: string;
  readonly reason?: string;
  readonly answerSeconds?: number;
  readonly until?: string;
  readonly automatic?: boolean;
  readonly outcome?: string;
  readonly waitedSeconds?: number;
  readonly name?: string;
  readonly result?: string;
  readonly note?: string;
  readonly service?: string;
  readonly reference?: string;
  readonly field?: string;
  readonly text?: string;
  readonly fact?: string;
  readonly at?: string;
  readonly onFloorMinutes?: number;
  readonly source?: string;
  readonly operatorId?: string;
  readonly since?: string;
  readonly goneSeconds?: number;
  /** An operator-gone raised by a deliberate sign-out, not by a console going silent. */
  readonly signedOut?: boolean;
  readonly requeuedAt?: string;
  readonly priorityRaisedAt?: string;
}

const FLOOR_SOURCE: Record<string, string> = {
  resident: 'the resident says',
  responder: 'the responder says',
  sensor: 'from a sensor',
  'operator-estimate': 'operator’s estimate',
};

/** A recorded fact in words: what happened and when. */
function factText(d: EventData): string {
  const when = timeText(d.at);
  switch (d.fact) {
    case 'responder-arrived':
      return `responder arrived at ${when}`;
    case 'found-on-floor':
      return `found on the floor at ${when}, about ${d.onFloorMinutes} min on the floor (${FLOOR_SOURCE[d.source ?? ''] ?? d.source})`;
    case 'ambulance-requested':
      return `ambulance requested at ${when}`;
    case 'ambulance-attended':
      return `ambulance arrived at ${when}`;
    case 'ambulance-conveyed':
      return `ambulance took the resident to hospital at ${when}`;
    case 'admitted':
      return `admitted to hospital at ${when}`;
    default:
      return `recorded ${d.fact} at ${when}`;
  }
}

/** " — smoke detector SD-123" after a step an alert made, when the alert named where it came from. */
const from = (d: EventData): string => {
  const source = sourceText(d);
  return source ? ` — ${source}` : '';
};

/**
 * " — pressed again after case … was resolved": a repeat whose case had ended; a panel's report that
 * the alarm is still present is no press, and says so.
 */
const afterText = (d: EventData): string => {
  const state = String(d.afterState ?? 'closed').replace('_', ' ');
  return d.type === 'alarm.still-present'
    ? ` — the panel still reports the alarm of case ${d.afterCase}, which was ${state}`
    : ` — pressed again after case ${d.afterCase} was ${state}`;
};

/** One line of the audit trail, in words. */
export function eventText(e: CaseEvent): string {
  const d = e.data as EventData;
  switch (e.kind) {
    case 'opened':
      return `opened from ${d.type} (P${d.priority})${from(d)}${d.afterCase ? afterText(d) : ''}`;
    case 'alert-joined': {
      if (d.type === 'alarm.still-present')
        return `the ${deviceText(d)} reports the alarm still present (a status report, not a press)`;
      if (d.repeat)
        return `pressed again${d.deviceSerial ? ` on the ${deviceText(d)}` : ''}: ${d.presses} presses, last ${timeText(d.lastPressAt)}${d.priorityRaisedFrom ? ` — raised from P${d.priorityRaisedFrom}` : ''}${d.requeuedFromHold ? ' — back in the queue from hold' : ''}`;
      // A personal alarm's button let go is no sign the resident is safe, nor a cancel.
      if (d.closes && d.type === 'alarm.restored')
        return `the ${deviceText(d)} reported the alarm button back to normal (not a cancel) — ${d.why === 'not-open' ? 'recorded' : 'the alarm stands: answer it'}`;
      if (d.closes) {
        const who =
          d.by === 'resident'
            ? 'the resident cancelled'
            : `the ${deviceText(d)} reported ${typeLabel(d.type).toLowerCase()}`;
        const what =
          d.closes.outcome === 'false-alarm'
            ? 'a false alarm'
            : `${typeLabel(d.closedType ?? 'the alarm').toLowerCase()} cleared`;
        const then =
          d.effect === 'resolved'
            ? 'case closed without an operator'
            : d.why === 'already-accepted'
              ? 'the case is already being worked: you decide'
              : d.why === 'alarm-restore'
                ? 'a detector going quiet does not prove the home is safe: call'
                : d.why === 'fault-repeats'
                  ? (d.note ?? 'the fault keeps coming back: book the installer')
                  : d.why === 'other-alerts-open'
                    ? 'other alerts of this case are still open'
                    : 'recorded';
        return `${who} (${what}) — ${then}`;
      }
      return `alert joined: ${d.type} (P${d.priority})${from(d)}${d.priorityRaisedFrom ? ` — raised from P${d.priorityRaisedFrom}` : ''}${d.requeuedFromHold ? ' — back in the queue from hold' : ''}`;
    }
    case 'offered':
      return `offered to ${nameOf(d.to)}`;
    case 'offer-expired':
      return `offer to ${nameOf(d.from)} returned: ${d.reason}`;
    case 'accepted':
      return `accepted (answered in ${Math.round(d.answerSeconds ?? 0)} s)`;
    case 'held':
      return `on hold until ${new Date(d.until ?? '').toLocaleTimeString()}: ${d.reason}`;
    case 'requeued':
      return d.reason === 'operator gone'
        ? `${nameOf(d.operatorId)} gone since ${timeText(d.since)}: back in the queue at P${d.priority} for someone who is there`
        : d.reason === 'signed out'
          ? `${nameOf(d.operatorId)} signed out: back in the queue at P${d.priority} for someone who is there`
          : d.reason === 'operator away'
            ? `${nameOf(d.operatorId)} ${d.by && d.by !== d.operatorId ? `set away by ${nameOf(d.by)}` : 'went away'}: back in the queue at P${d.priority} for someone who is there`
            : `call-back due: back in the queue at P${d.priority}`;
    case 'operator-gone':
      return d.signedOut
        ? `nobody on it: ${nameOf(d.operatorId)} signed out`
        : `nobody on it: ${nameOf(d.operatorId)} has had no console since ${timeText(d.since)}`;
    case 'operator-back':
      return `${nameOf(d.operatorId)} is back (gone ${d.goneSeconds} s)`;
    case 'resolved':
      return `resolved${d.automatic ? ' automatically' : ''}: ${d.outcome} — ${d.reason}`;
    case 'reassigned':
      return `reassigned to ${nameOf(d.to)}: ${d.reason}`;
    case 'escalated':
      // A case back in the queue unanswered climbs again, counted from when it came back; a case
      // that became P1 after its raise, from then (its card still shows the whole wait).
      return `escalated to ${d.to} after ${d.waitedSeconds} s${d.requeuedAt ? ' back in the queue' : d.priorityRaisedAt ? ' as P1' : ''}`;
    case 'responder-called':
      return `called ${d.name}: ${d.result}${d.note ? ` — ${d.note}` : ''}`;
    case 'emergency-called':
      return `called ${d.service}${d.reference ? ` (ref ${d.reference})` : ''}`;
    case 'revealed':
      return `revealed ${d.field === 'keySafe' ? 'the key-safe code' : 'the medical notes'}`;
    case 'note':
      return `note: ${d.text}`;
    case 'fact-recorded':
      return factText(d);
    default:
      return e.kind;
  }
}

import { deviceKindLabel } from '@telecare/contracts/device-kinds';
import { serverNow } from './clock.ts';
import type { CaseSummary } from './types.ts';

export const waitOf = (c: Pick<CaseSummary, 'raisedAt'>, now = serverNow()): number =>
  Math.max(0, Math.round((now - Date.parse(c.raisedAt)) / 1000));

/**
 * How long a waiting case has been in the queue this time: since it came back unanswered after
 * someone had it (`requeuedAt`), else since the raise. The escalation ladder counts the same way,
 * except that a case which became P1 after its raise climbs from then (`priorityRaisedAt`): its
 * wait is still the resident's, from the raise, and shown so.
 */
export const queueWaitOf = (c: Pick<CaseSummary, 'raisedAt' | 'requeuedAt'>, now = serverNow()): number =>
  waitOf({ raisedAt: c.requeuedAt ?? c.raisedAt }, now);

export const clockText = (s: number): string => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;

export const typeLabel = (t: unknown): string => {
  const s = String(t ?? '').replace(/[.-]/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
};

export const stateLabel = (state: string): string => state.replace('_', ' ');

export const timeText = (iso: unknown): string => {
  if (typeof iso !== 'string' || !iso) return '–';
  const t = new Date(iso);
  const sameDay = t.toDateString() === new Date().toDateString();
  return sameDay ? t.toLocaleTimeString() : `${t.toLocaleDateString()} ${t.toLocaleTimeString()}`;
};

export const agoText = (iso: string | null): string => {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((serverNow() - Date.parse(iso)) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

// A resident pressing again is still waiting for someone: said in words on the card and the case.
export const pressedText = (c: CaseSummary): string =>
  (c.presses ?? 0) > 1 ? `pressed ${c.presses} times, last ${timeText(c.lastPressAt)}` : '';

// A case whose operator has gone (no console there): said in words on the card, the banner and the case.
export const goneText = (c: CaseSummary, nameOf: (id: string) => string): string =>
  c.operatorGone
    ? `nobody on it: ${nameOf(c.operatorGone.operatorId)} gone since ${timeText(c.operatorGone.since)}`
    : '';

/** The time a call-back is due, as the queue's cards and the case view say it (hours and minutes). */
export const shortTime = (iso: string): string =>
  new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/**
 * A case on hold says when its call-back is due, on the card: it read "answered" like any case
 * being worked, and nobody could see which held case was due next until it came back to the queue.
 */
export const callBackText = (c: CaseSummary): string =>
  c.state === 'on_hold' && c.hold
    ? Date.parse(c.hold.until) <= serverNow()
      ? 'call-back due'
      : `call back ${shortTime(c.hold.until)}`
    : '';

/** What a case's `because` or one of its steps names of where an alert came from. */
export interface AlertSource {
  readonly deviceSerial?: string | undefined;
  readonly deviceKind?: string | undefined;
  readonly about?: string | undefined;
}

/** A device in words, "smoke detector SD-123"; "device SD-123" when the alert did not say its kind. */
export const deviceText = (s: AlertSource): string =>
  `${s.deviceKind ? deviceKindLabel(s.deviceKind) : 'device'}${s.deviceSerial ? ` ${s.deviceSerial}` : ''}`;

/**
 * Where an alert came from, in words: its device, or that it is about the whole home (a silence, a
 * morning not up) or many homes of an area (`district`, when known), not one device. Empty when
 * the alert named nothing (one raised before alerts named their device).
 */
export const sourceText = (s: AlertSource, district?: string): string =>
  s.about === 'home'
    ? 'the whole home, not one device'
    : s.about === 'area'
      ? `many homes in ${district ?? 'the area'}, not one device`
      : s.deviceSerial
        ? deviceText(s)
        : '';

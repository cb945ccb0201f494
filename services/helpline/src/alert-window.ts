import type { Because, HelplineCase } from '@telecare/contracts';

/**
 * What a case shows of its alerts where it travels again and again: on the live stream (every
 * change, to every console, kept in the feed's replay buffer) and in the case view (read again on
 * every change of the case on screen). One resident's storm (a home unit reporting mains loss
 * every few seconds all night) can join a thousand alerts to a case; sending each of them with
 * every note, offer and accept floods every console. The window keeps the alerts an operator must
 * see without asking: the one that opened the case (the queue card's reason), the most urgent
 * (a press in the middle of a storm), and the latest. `alertCount` says how many there are, and
 * `GET /api/cases/{id}/alerts` pages through them all.
 */
export const ALERT_WINDOW = {
  /** The latest alerts kept. */
  latest: 12,
  /** The most urgent of the others kept (by priority, then the latest first). */
  urgent: 6,
} as const;

/** The most alerts a window holds: the first, the most urgent and the latest. */
export const ALERT_WINDOW_SIZE = 1 + ALERT_WINDOW.latest + ALERT_WINDOW.urgent;

/** The positions a window keeps of `because`, in the order the alerts came. */
function windowOf(because: readonly Because[]): number[] {
  const n = because.length;
  if (n <= ALERT_WINDOW_SIZE) return because.map((_, i) => i);
  const latestFrom = n - ALERT_WINDOW.latest;
  const urgent = because
    .slice(1, latestFrom)
    .map((b, i) => ({ priority: b.priority, at: i + 1 }))
    .sort((a, b) => a.priority - b.priority || b.at - a.at)
    .slice(0, ALERT_WINDOW.urgent)
    .map((u) => u.at);
  const tail = Array.from({ length: ALERT_WINDOW.latest }, (_, i) => latestFrom + i);
  return [0, ...urgent.sort((a, b) => a - b), ...tail];
}

/** The case with its alerts cut to the window; `alertCount` stays the number of all of them. */
export function withAlertWindow<C extends HelplineCase>(c: C): C {
  if (c.because.length <= ALERT_WINDOW_SIZE) return c;
  const because = windowOf(c.because).flatMap((i) => {
    const b = c.because[i];
    return b ? [b] : [];
  });
  return { ...c, because, alertIds: because.map((b) => b.alertId) };
}

/**
 * One page of a case's alerts, newest first: those before position `before` (all of them when
 * absent), at most `limit`; `next` is the `before` of the older page, null when there is none.
 * Alerts only ever join a case, so a position names the same alert from page to page.
 */
export function alertPage(
  because: readonly Because[],
  before: number | undefined,
  limit: number,
): { total: number; alerts: Because[]; next: number | null } {
  const end = Math.min(before ?? because.length, because.length);
  const start = Math.max(0, end - limit);
  return {
    total: because.length,
    alerts: because.slice(start, end).reverse(),
    next: start > 0 ? start : null,
  };
}

import type { CaseSummary } from './types.ts';

const BASE = 'Helpline console';

/**
 * A P1 came in while this console was not in front (another tab, or another program's window, over
 * it) and the operator has not looked since. Nothing on the page is seen then: the title, in the
 * tab and the taskbar, is.
 */
let newAlarmUnseen = false;
/** The P1s this console has heard of: a new stream's snapshot tells them again, and they are not new. */
const heardAlarms = new Set<string>();

const inFront = (): boolean => document.visibilityState === 'visible' && document.hasFocus();

/** Called as a P1 (a new case, or one made P1) reaches this console. */
export function alarmArrived(caseId: string): void {
  if (heardAlarms.has(caseId)) return;
  heardAlarms.add(caseId);
  if (!inFront()) newAlarmUnseen = true;
}

/**
 * The page's title says what waits, for a console behind other programs: "NEW P1 · 2 P1 · 1 P2
 * waiting — Helpline console". Written from the cases at each change of the queue, never on a
 * timer (a background tab's timers run once a minute at best). `list` is null for a console not
 * showing a queue (signed out, or a role without one).
 */
export function renderTitle(list: readonly CaseSummary[] | null): void {
  const waiting = (p: number) =>
    list?.filter((c) => c.priority === p && (c.state === 'queued' || c.state === 'offered')).length ?? 0;
  const counts = [1, 2].map((p) => (waiting(p) ? `${waiting(p)} P${p}` : '')).filter(Boolean);
  const parts = [
    newAlarmUnseen && list ? 'NEW P1' : '',
    counts.length ? `${counts.join(' · ')} waiting` : '',
  ];
  const said = parts.filter(Boolean).join(' · ');
  const title = said ? `${said} — ${BASE}` : BASE;
  if (document.title !== title) document.title = title;
}

/** Back in front, the new P1 has been seen: the title keeps the counts alone. */
export function wireTitle(redraw: () => void): void {
  const seen = () => {
    if (!newAlarmUnseen || !inFront()) return;
    newAlarmUnseen = false;
    redraw();
  };
  window.addEventListener('focus', seen);
  document.addEventListener('visibilitychange', seen);
}

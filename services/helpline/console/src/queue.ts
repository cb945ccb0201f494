import { ApiError, api } from './api.ts';
import { serverNow } from './clock.ts';
import { $, esc, input, select } from './dom.ts';
import {
  callBackText,
  clockText,
  goneText,
  pressedText,
  queueWaitOf,
  stateLabel,
  typeLabel,
  waitOf,
} from './format.ts';
import { heldAlarmWaits } from './held.ts';
import { NameAsks } from './name-asks.ts';
import { remindWaitingAlarm } from './sound.ts';
import { canWork, nameOf, sortedCases, state } from './state.ts';
import { everySecond } from './ticker.ts';
import { renderTitle } from './title.ts';
import type { CaseSummary, QueueResidents } from './types.ts';

/** What the operator narrowed the queue to: search text, filters and grouping. */
export const view = {
  search: '',
  priority: '',
  type: '',
  district: '',
  state: '',
  groupBy: '' as '' | 'priority' | 'type' | 'district' | 'state',
};

/** A case waiting longer than this is late for the 60 s answer target. */
const LATE_S = 60;
/**
 * Asks for names at most once in this long: through a storm of new cases one answer names every
 * card that arrived meanwhile, and the console stays well inside the helpline's per-person bound
 * on the queue's names (QUEUE_NAMES_PER_MINUTE).
 */
const NAMES_GAP_MS = 1_000;

/** Who was asked for and not named yet, and when each is asked again (`name-asks.ts`). */
const nameAsks = new NameAsks();
let namesTimer: ReturnType<typeof setTimeout> | null = null;
let namesRetryTimer: ReturnType<typeof setTimeout> | null = null;
let namesLastAsked = Number.NEGATIVE_INFINITY;

/** The residents of the queue with no name yet. */
const unnamed = (): string[] => [
  ...new Set([...state.cases.values()].map((c) => c.residentId).filter((id) => !state.residentNames.has(id))),
];

/**
 * Asks for the names and districts of queued residents not known yet, at once (batched over a
 * moment) so a new card shows a name rather than an id, and at most once a second; one the answer
 * did not name (or an ask that failed) is asked again 1 s, 2 s and 4 s later, then every 15 s.
 */
function wantNames(): void {
  if (!canWork() || namesTimer) return;
  const now = Date.now();
  if (!unnamed().some((id) => nameAsks.due(id, now))) {
    retryNamesLater();
    return;
  }
  namesTimer = setTimeout(
    async () => {
      namesLastAsked = Date.now();
      // Every card without a name by now, those that arrived while this waited included.
      const asking = unnamed().filter((id) => nameAsks.due(id, namesLastAsked));
      if (!asking.length) {
        // Named meanwhile (a case view reads names too).
        namesTimer = null;
        retryNamesLater();
        return;
      }
      for (const id of asking) nameAsks.asking(id);
      try {
        const answer = await api<QueueResidents>('/api/queue/names');
        let changed = false;
        for (const [id, name] of Object.entries(answer.names ?? {}))
          if (state.residentNames.get(id) !== name) {
            state.residentNames.set(id, name);
            changed = true;
          }
        for (const [id, district] of Object.entries(answer.districts ?? {}))
          if (state.districts.get(id) !== district) {
            state.districts.set(id, district);
            changed = true;
          }
        const at = Date.now();
        for (const id of asking) {
          if (state.residentNames.has(id)) nameAsks.named(id);
          else nameAsks.missed(id, at);
        }
        if (changed) renderQueue();
      } catch (err) {
        // The queue still shows resident ids until the next ask, never before a refusal's Retry-After.
        const at = Date.now();
        const retryAfterS = err instanceof ApiError ? err.retryAfterS : undefined;
        for (const id of asking) nameAsks.missed(id, at, retryAfterS ? at + retryAfterS * 1000 : undefined);
      } finally {
        namesTimer = null;
      }
      // Cases that arrived while the answer was on its way are asked for next; the rest when due.
      wantNames();
    },
    Math.max(50, namesLastAsked + NAMES_GAP_MS - now),
  );
}

/** Asks again when the next retry is due, whether or not anything renders the queue meanwhile. */
function retryNamesLater(): void {
  if (namesRetryTimer) clearTimeout(namesRetryTimer);
  namesRetryTimer = null;
  const due = nameAsks.nextDue(unnamed());
  if (due === undefined) return;
  namesRetryTimer = setTimeout(
    () => {
      namesRetryTimer = null;
      wantNames();
    },
    Math.max(50, due - Date.now()),
  );
}

const nameOrId = (c: CaseSummary) => state.residentNames.get(c.residentId) ?? c.residentId;
const districtOf = (c: CaseSummary) => state.districts.get(c.residentId) ?? '';
const waiting = (c: CaseSummary) => c.state === 'queued' || c.state === 'offered';
/** A P1 nobody has answered yet (queued or offered). */
export const waitingAlarm = (c: CaseSummary): boolean => c.priority === 1 && waiting(c);

function matches(c: CaseSummary): boolean {
  if (view.priority && String(c.priority) !== view.priority) return false;
  if (view.type && c.type !== view.type) return false;
  if (view.district && districtOf(c) !== view.district) return false;
  if (view.state && c.state !== view.state) return false;
  const q = view.search.trim().toLowerCase();
  if (!q) return true;
  return [nameOrId(c), c.residentId, c.id, ...(c.deviceSerials ?? [])].some((s) =>
    s.toLowerCase().includes(q),
  );
}

const groupOf: Record<Exclude<typeof view.groupBy, ''>, (c: CaseSummary) => string> = {
  priority: (c) => `P${c.priority}`,
  type: (c) => typeLabel(c.type),
  district: (c) => districtOf(c) || 'district not known',
  state: (c) => stateLabel(c.state),
};

/**
 * The escalation banner: one summary line per kind of lateness, never a list of cases. A P1 back
 * in the queue unanswered counts from when it came back, as its ladder does.
 */
function renderBanner(list: readonly CaseSummary[]): void {
  const now = serverNow();
  const p1 = list.filter((c) => c.priority === 1 && waiting(c));
  const late = p1.filter((c) => queueWaitOf(c, now) > LATE_S);
  const escalated = p1.filter((c) => c.escalationStep > 0 && queueWaitOf(c, now) <= LATE_S);
  const parts: string[] = [];
  if (late.length) {
    const longest = Math.max(...late.map((c) => queueWaitOf(c, now)));
    parts.push(`${late.length} P1 waiting > 60 s (longest ${clockText(longest)})`);
  }
  if (escalated.length) parts.push(`${escalated.length} P1 escalated`);
  const gone = list.filter((c) => c.operatorGone);
  // Held by someone who has gone: a supervisor reassigns it (an alarm call also comes back to the queue).
  const goneText = gone.length
    ? `${gone.length} case${gone.length > 1 ? 's' : ''} with nobody on ${gone.length > 1 ? 'them' : 'it'} (operator gone, P${Math.min(...gone.map((c) => c.priority))}) — supervisor to reassign`
    : '';
  const text = [parts.length ? `${parts.join(' · ')} — take it now` : '', goneText]
    .filter(Boolean)
    .join(' · ');
  const banner = $('escalation');
  if (banner.textContent !== text) banner.textContent = text;
}

function renderCounts(list: readonly CaseSummary[]): void {
  $('count').textContent = `${list.length} open`;
  $('counts').innerHTML = [1, 2, 3, 4, 5]
    .map((p) => {
      const n = list.filter((c) => c.priority === p).length;
      const on = view.priority === String(p);
      return `<button type="button" class="p${p}${n ? ' some' : ''}" data-priority="${p}" aria-pressed="${on}" title="${n} open at P${p}${on ? ' (shown alone)' : ''}">P${p} <b>${n}</b></button>`;
    })
    .join('');
}

/** Keeps a filter's options to the values in the queue now (and the chosen one), with counts. */
function fillOptions(
  id: string,
  all: string,
  values: ReadonlyMap<string, number>,
  label: (v: string) => string,
) {
  const el = select(id);
  const chosen = el.value;
  const keys = [...new Set([...values.keys(), ...(chosen ? [chosen] : [])])].sort();
  const html = `<option value="">${esc(all)}</option>${keys.map((v) => `<option value="${esc(v)}">${esc(label(v))} (${values.get(v) ?? 0})</option>`).join('')}`;
  if (el.dataset.html === html) return;
  el.innerHTML = html;
  el.dataset.html = html;
  el.value = chosen;
}

const tally = (list: readonly CaseSummary[], key: (c: CaseSummary) => string) => {
  const m = new Map<string, number>();
  for (const c of list) {
    const k = key(c);
    if (k) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
};

function row(c: CaseSummary): string {
  const me = state.me;
  // Answered once and back in the queue (its operator gone, its call-back due): waiting again, since then.
  const back = Boolean(c.acceptedAt && c.requeuedAt && waiting(c));
  const w = back ? queueWaitOf(c) : waitOf(c);
  const mine =
    c.offeredTo === me?.id
      ? ' — <span class="offer-mine">offered to you</span>'
      : c.assignedTo
        ? ` — ${esc(nameOf(c.assignedTo))}`
        : '';
  const pressed = pressedText(c);
  const callBack = callBackText(c);
  const gone = goneText(c, nameOf);
  const late = (back || !c.acceptedAt) && w > LATE_S;
  const waitText = back ? `back ${clockText(w)}` : c.acceptedAt ? 'answered' : clockText(w);
  const waitLabel = back
    ? `back in the queue ${clockText(w)}, answered before${late ? ', over 60 seconds' : ''}`
    : c.acceptedAt
      ? 'answered'
      : `waiting ${clockText(w)}${late ? ', over 60 seconds' : ''}`;
  return `<button type="button" class="case p${c.priority}${c.id === state.selected ? ' selected' : ''}" data-id="${esc(c.id)}" data-priority="${c.priority}" data-state="${esc(c.state)}"${gone ? ' data-operator-gone="true"' : ''}${c.id === state.selected ? ' aria-current="true"' : ''} title="${esc(c.because[0]?.reason ?? '')}">
      <span class="prio">P${c.priority}</span>
      <span><span class="type">${esc(typeLabel(c.type))}</span> <span class="state ${esc(c.state)}">${esc(stateLabel(c.state))}</span>${c.escalationStep ? ` <span class="esc">escalated ${c.escalationStep}</span>` : ''}${pressed ? ` <span class="pressed">${esc(pressed)}</span>` : ''}${callBack ? ` <span class="callback">${esc(callBack)}</span>` : ''}</span>
      <span class="meta">${esc(nameOrId(c))}${districtOf(c) ? ` · ${esc(districtOf(c))}` : ''}${mine}</span>
      <span class="wait${late ? ' long' : ''}" data-since="${esc(back ? (c.requeuedAt ?? '') : c.raisedAt)}"${back ? ' data-back="true"' : ''} aria-label="${esc(waitLabel)}">${waitText}</span>
      ${gone ? `<span class="gone">${esc(gone)}</span>` : ''}
    </button>`;
}

/** Whether this console shows its queue: one signed out (the sign-in form) keeps its last cases. */
const showingQueue = (): boolean => canWork() && !$('app').classList.contains('hidden');

export function renderQueue(): void {
  const list = sortedCases();
  renderTitle(showingQueue() ? list : null);
  renderCounts(list);
  renderBanner(list);
  fillOptions(
    'filter-type',
    'all types',
    tally(list, (c) => c.type),
    typeLabel,
  );
  fillOptions('filter-district', 'all districts', tally(list, districtOf), (v) => v);
  wantNames();
  const shown = list.filter(matches);
  const narrowed = shown.length !== list.length;
  $('shown').textContent = narrowed ? `${shown.length} of ${list.length} shown` : '';
  if (!list.length) {
    $('queue').innerHTML = '<p class="empty">No open cases.</p>';
    showUnseenAlarmsSoon();
    return;
  }
  if (!shown.length) {
    $('queue').innerHTML = '<p class="empty">No open case matches.</p>';
    showUnseenAlarmsSoon();
    return;
  }
  const focused = (document.activeElement as HTMLElement | null)?.closest<HTMLElement>('#queue .case')
    ?.dataset.id;
  const groupKey = view.groupBy ? groupOf[view.groupBy] : undefined;
  if (!groupKey) $('queue').innerHTML = shown.map(row).join('');
  else {
    const groups = new Map<string, CaseSummary[]>();
    for (const c of shown) groups.set(groupKey(c), [...(groups.get(groupKey(c)) ?? []), c]);
    $('queue').innerHTML = [...groups]
      .map(([g, cs]) => `<h3 class="group-heading">${esc(g)} (${cs.length})</h3>${cs.map(row).join('')}`)
      .join('');
  }
  // A redraw keeps the keyboard where it was.
  if (focused) document.querySelector<HTMLElement>(`#queue .case[data-id="${CSS.escape(focused)}"]`)?.focus();
  showUnseenAlarmsSoon();
}

let sightCheck: { frame: number; timer: ReturnType<typeof setTimeout> } | null = null;

/**
 * Looks for waiting P1s the operator cannot see at the next frame, once for every redraw before
 * it: read at each redraw, the rows' places made the browser lay the page out again inside every
 * change of the live stream, several times a frame in a storm. The timer looks all the same in a
 * window the browser gives no frames to.
 */
function showUnseenAlarmsSoon(): void {
  if (sightCheck) return;
  const check = () => {
    if (!sightCheck) return;
    cancelAnimationFrame(sightCheck.frame);
    clearTimeout(sightCheck.timer);
    sightCheck = null;
    showUnseenAlarms();
  };
  sightCheck = { frame: requestAnimationFrame(check), timer: setTimeout(check, 200) };
}

/**
 * The waiting P1s the operator cannot see: left out by the search or filters (an operator looking
 * at the technical noise alone, P3 pressed, when a fall comes in), or scrolled out of sight (reading
 * the batteries at the bottom of fifty cases when a smoke alarm comes in at the top).
 */
function unseenAlarms(): { filtered: number; rows: HTMLElement[]; above: boolean } {
  const filtered = sortedCases().filter((c) => waitingAlarm(c) && !matches(c)).length;
  const q = $('queue').getBoundingClientRect();
  const rows = [
    ...document.querySelectorAll<HTMLElement>(
      '#queue .case[data-priority="1"][data-state="queued"], #queue .case[data-priority="1"][data-state="offered"]',
    ),
  ].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > q.bottom + 1 || r.top < q.top - 1;
  });
  const first = rows[0]?.getBoundingClientRect();
  return { filtered, rows, above: first !== undefined && first.top < q.top };
}

/** Says, above the queue, that a P1 waits where the operator cannot see it, with a button that shows it. */
function showUnseenAlarms(): void {
  const button = $('p1-unseen');
  const { filtered, rows, above } = unseenAlarms();
  const text = filtered
    ? `${filtered} P1 waiting, not shown by your search or filters — show`
    : rows.length
      ? `${above ? '↑' : '↓'} ${rows.length} P1 waiting ${above ? 'above' : 'below'}, out of sight — show`
      : '';
  if (button.textContent !== text) button.textContent = text;
  button.classList.toggle('hidden', !text);
}

/** Clears the search and the filters (the grouping stays). */
function showEverything(): void {
  view.search = '';
  input('search').value = '';
  for (const [id, key] of [
    ['filter-priority', 'priority'],
    ['filter-type', 'type'],
    ['filter-district', 'district'],
    ['filter-state', 'state'],
  ] as const) {
    view[key] = '';
    select(id).value = '';
  }
  renderQueue();
}

/** Waits tick every second without redrawing the queue; the banner follows them. */
export function tickWaits(): void {
  for (const el of document.querySelectorAll<HTMLElement>('.wait[data-since]')) {
    if (el.textContent === 'answered') continue;
    const s = waitOf({ raisedAt: el.dataset.since ?? '' });
    el.textContent = el.dataset.back ? `back ${clockText(s)}` : clockText(s);
    el.classList.toggle('long', s > LATE_S);
  }
  const list = sortedCases();
  renderBanner(list);
  // A P1 not yet in the queue (the case database down) waits unanswered too.
  remindWaitingAlarm(showingQueue() && (list.some(waitingAlarm) || heldAlarmWaits()));
}

/** The cases as the queue shows them now (filtered and in order): j/k move through these. */
export const shownCases = (): CaseSummary[] => sortedCases().filter(matches);

export function wireQueue(onSelect: (id: string) => void): void {
  // A row is taken where the button went down. The queue is drawn again at every change (several
  // times a second in a storm); a redraw between press and release replaced the row pressed, and
  // the click went to the queue itself and was lost, or the release fell on the case that had
  // moved under the pointer.
  let pressed: string | undefined;
  const queue = $('queue');
  queue.addEventListener('pointerdown', (e) => {
    pressed = e.button === 0 ? (e.target as Element).closest<HTMLElement>('.case')?.dataset.id : undefined;
  });
  queue.addEventListener('pointerup', () => {
    const id = pressed;
    pressed = undefined;
    if (id) onSelect(id);
  });
  queue.addEventListener('pointercancel', () => {
    pressed = undefined;
  });
  // The keyboard's Enter or Space on a row (a pointer's click was taken on its release).
  queue.addEventListener('click', (e) => {
    if (e.detail !== 0) return;
    const el = (e.target as Element).closest<HTMLElement>('.case');
    if (el?.dataset.id) onSelect(el.dataset.id);
  });
  queue.addEventListener('scroll', showUnseenAlarmsSoon, { passive: true });
  window.addEventListener('resize', showUnseenAlarmsSoon);
  $('p1-unseen').addEventListener('click', () => {
    if (unseenAlarms().filtered) showEverything();
    const row = unseenAlarms().rows[0];
    row?.scrollIntoView({ block: 'nearest' });
    row?.focus({ preventScroll: true });
    showUnseenAlarms();
  });
  $('counts').addEventListener('click', (e) => {
    const p = (e.target as Element).closest<HTMLElement>('[data-priority]')?.dataset.priority ?? '';
    view.priority = view.priority === p ? '' : p;
    select('filter-priority').value = view.priority;
    renderQueue();
  });
  input('search').addEventListener('input', () => {
    view.search = input('search').value;
    renderQueue();
  });
  for (const [id, key] of [
    ['filter-priority', 'priority'],
    ['filter-type', 'type'],
    ['filter-district', 'district'],
    ['filter-state', 'state'],
  ] as const)
    select(id).addEventListener('change', () => {
      view[key] = select(id).value;
      renderQueue();
    });
  select('group-by').addEventListener('change', () => {
    view.groupBy = select('group-by').value as typeof view.groupBy;
    renderQueue();
  });
  everySecond(tickWaits);
  // A tab brought back to the front shows its clocks at once, not at the next (throttled) tick.
  document.addEventListener('visibilitychange', tickWaits);
}

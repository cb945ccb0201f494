import { api } from './api.ts';
import { $, esc } from './dom.ts';
import { clockText, pressedText, stateLabel, typeLabel, waitOf } from './format.ts';
import { canWork, nameOf, sortedCases, state } from './state.ts';
import type { QueueResidents } from './types.ts';

let namesAskedAt = 0;
let namesTimer: ReturnType<typeof setTimeout> | null = null;

/** Asks for the names of queued residents not known yet: once the queue settles, at most every 15 s. */
function wantNames(): void {
  if (
    !canWork() ||
    namesTimer ||
    ![...state.cases.values()].some((c) => !state.residentNames.has(c.residentId))
  )
    return;
  const wait = Math.max(300, namesAskedAt + 15_000 - Date.now());
  namesTimer = setTimeout(async () => {
    namesTimer = null;
    namesAskedAt = Date.now();
    try {
      const answer = await api<QueueResidents>('/api/queue/names');
      let changed = false;
      for (const [id, name] of Object.entries(answer.names ?? {})) {
        if (state.residentNames.get(id) !== name) {
          state.residentNames.set(id, name);
          changed = true;
        }
      }
      if (changed) renderQueue();
    } catch {
      // The queue still shows resident ids.
    }
  }, wait);
}

export function renderQueue(): void {
  const list = sortedCases();
  $('count').textContent = `${list.length} open`;
  const escalated = list.filter((c) => c.escalationStep > 0 && ['queued', 'offered'].includes(c.state));
  $('escalation').textContent = escalated.length
    ? `P1 waiting: ${escalated.map((c) => `${c.type} for ${state.residentNames.get(c.residentId) ?? c.residentId} (${clockText(waitOf(c))})`).join('; ')} — take it now`
    : '';
  if (!list.length) {
    $('queue').innerHTML = '<p class="empty">No open cases.</p>';
    return;
  }
  wantNames();
  const me = state.me;
  $('queue').innerHTML = list
    .map((c) => {
      const w = waitOf(c);
      const mine =
        c.offeredTo === me?.id ? ' — offered to you' : c.assignedTo ? ` — ${esc(nameOf(c.assignedTo))}` : '';
      const pressed = pressedText(c);
      return `<div class="case p${c.priority}${c.id === state.selected ? ' selected' : ''}" data-id="${esc(c.id)}" data-priority="${c.priority}" data-state="${esc(c.state)}">
      <div class="prio">P${c.priority}</div>
      <div><span class="type">${esc(typeLabel(c.type))}</span> <span class="state ${esc(c.state)}">${esc(stateLabel(c.state))}</span>${c.escalationStep ? ` <span class="esc">escalated ${c.escalationStep}</span>` : ''}${pressed ? ` <span class="pressed">${esc(pressed)}</span>` : ''}</div>
      <div class="wait${!c.acceptedAt && w > 60 ? ' long' : ''}" data-raised="${esc(c.raisedAt)}">${c.acceptedAt ? 'answered' : clockText(w)}</div>
      <div class="meta">${esc(state.residentNames.get(c.residentId) ?? c.residentId)}${mine} · ${esc(c.because[0]?.reason ?? '')}</div>
    </div>`;
    })
    .join('');
}

/** Waits tick every second without redrawing the queue. */
export function tickWaits(): void {
  for (const el of document.querySelectorAll<HTMLElement>('.wait[data-raised]')) {
    if (el.textContent === 'answered') continue;
    const s = waitOf({ raisedAt: el.dataset.raised ?? '' });
    el.textContent = clockText(s);
    el.classList.toggle('long', s > 60);
  }
}

export function wireQueue(onSelect: (id: string) => void): void {
  $('queue').addEventListener('click', (e) => {
    const el = (e.target as Element).closest<HTMLElement>('.case');
    if (el?.dataset.id) onSelect(el.dataset.id);
  });
  setInterval(tickWaits, 1000);
}

import { act, api } from './api.ts';
import { serverNow } from './clock.ts';
import { esc, maybe } from './dom.ts';
import { timeText } from './format.ts';
import type { CaseDetail } from './types.ts';

/**
 * The "Record" panel: what happened, for the commissioners' reports — the responder arriving, the
 * resident found on the floor (for how long, and who says so), the ambulance's three stages, a
 * hospital admission. Each is one button (now) or with a time typed in the shared time field.
 * Recorded facts show the time next to their button and, in words, in the audit trail.
 */
const SIMPLE = [
  ['responder-arrived', 'Responder arrived'],
  ['ambulance-requested', 'Ambulance requested'],
  ['ambulance-attended', 'Ambulance arrived'],
  ['ambulance-conveyed', 'Ambulance took the resident to hospital'],
  ['admitted', 'Admitted to hospital'],
] as const;

export const FLOOR_SOURCES = [
  ['resident', 'the resident says'],
  ['responder', 'the responder says'],
  ['sensor', 'from a sensor'],
  ['operator-estimate', 'my estimate'],
] as const;

/** When each fact was last recorded on the case. */
function recorded(c: CaseDetail): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of c.events)
    if (e.kind === 'fact-recorded' && typeof e.data.fact === 'string' && typeof e.data.at === 'string')
      out.set(e.data.fact, e.data.at);
  return out;
}

export function factsPanel(c: CaseDetail, canRecord: boolean): string {
  if (!canRecord) return '';
  const done = recorded(c);
  const mark = (fact: string) =>
    done.has(fact)
      ? ` <span class="meta" data-recorded="${esc(fact)}">recorded ${esc(timeText(done.get(fact)))}</span>`
      : '';
  return `<section class="panel" id="record" aria-labelledby="record-heading">
    <h2 id="record-heading">Record</h2>
    <p class="meta" id="record-help">What happened, for the reports. Each button records it now, or at the time below if you give one.</p>
    <div class="row"><label for="fact-time">Time it happened (empty: now)</label><input id="fact-time" type="time" step="60" aria-describedby="record-help"></div>
    <div class="row facts">${SIMPLE.map(([fact, label]) => `<span><button type="button" data-act="fact-${fact}" data-fact="${fact}" id="fact-${fact}">${esc(label)}</button>${mark(fact)}</span>`).join(' ')}</div>
    <form id="floor-form" class="row" aria-label="Found on the floor">
      <label for="floor-min">Found on the floor, for (minutes)</label><input id="floor-min" type="number" min="0" max="10080" required style="width:5rem">
      <label for="floor-source">known from</label><select id="floor-source" required>${FLOOR_SOURCES.map(([v, label]) => `<option value="${v}">${esc(label)}</option>`).join('')}</select>
      <button type="submit" data-act="fact-found-on-floor" id="fact-found-on-floor">Found on the floor</button>${mark('found-on-floor')}
    </form>
  </section>`;
}

/**
 * The time typed in the time field as today's (yesterday's, when that would be in the future: a
 * fall found just after midnight), or now when it is empty.
 */
function factTime(): string {
  const value = maybe<HTMLInputElement>('fact-time')?.value ?? '';
  const now = new Date(serverNow());
  const m = /^(\d{2}):(\d{2})$/.exec(value);
  if (!m) return now.toISOString();
  const at = new Date(now);
  at.setHours(Number(m[1]), Number(m[2]), 0, 0);
  if (at.getTime() > now.getTime()) at.setDate(at.getDate() - 1);
  return at.toISOString();
}

export function wireFacts(id: string, reload: () => Promise<void>): void {
  const record = (name: string, body: Record<string, unknown>) =>
    act(name, async (key) => {
      await api(`/api/cases/${id}/facts`, { method: 'POST', key, body: { ...body, at: factTime() } });
      const time = maybe<HTMLInputElement>('fact-time');
      if (time) time.value = '';
      await reload();
    });
  for (const b of document.querySelectorAll<HTMLButtonElement>('#record [data-fact]'))
    b.addEventListener('click', () => void record(`fact-${b.dataset.fact}`, { fact: b.dataset.fact }));
  maybe('floor-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    const minutes = maybe<HTMLInputElement>('floor-min');
    const source = maybe<HTMLSelectElement>('floor-source');
    void record('fact-found-on-floor', {
      fact: 'found-on-floor',
      onFloorMinutes: Number(minutes?.value),
      source: source?.value,
    }).then(() => {
      const m = maybe<HTMLInputElement>('floor-min');
      if (m) m.value = '';
    });
  });
}

import type { SupervisorOverview } from '@telecare/contracts';
import type { z } from 'zod';
import { api, SCAN_TIMEOUT_MS } from './api.ts';
import { $, esc } from './dom.ts';
import { politePoll } from './poll.ts';
import { securityEventLine } from './security-line.ts';
import { managesPeople, nameOf } from './state.ts';

/**
 * The supervisor's view of the night (`GET /api/supervisor/overview`): the queue by priority with
 * waiting now and the longest wait, the answer figures per priority and per operator (alarm calls
 * only; a call still under 60 s is not a miss), the alarm calls past 60 s and past 180 s, who holds
 * what, and what needs an admin: refused reveals and DC-09 codes no mapping knows. Every figure is
 * written in words, never by colour alone. Set-away, sign-out and reassign are in the People panel
 * and the case view.
 */
type Overview = z.output<typeof SupervisorOverview>;

const wait = (s: number | null): string =>
  s === null ? '–' : s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
const pct = (t: { readonly percent: number | null }): string =>
  t.percent === null ? '– (nothing decided yet)' : `${t.percent.toFixed(1)} %`;

function render(o: Overview): string {
  const priorities = Object.keys(o.queue.byPriority).sort();
  const queueRows = priorities
    .map((p) => {
      const q = o.queue.byPriority[p];
      return q
        ? `<tr><th scope="row">P${esc(p)}</th><td>${q.waiting} waiting</td><td>longest ${esc(wait(q.longestWaitSeconds))}</td><td>${q.accepted} accepted, ${q.onHold} on hold${q.operatorGone ? `, <b>${q.operatorGone} with nobody on it</b>` : ''}</td></tr>`
        : '';
    })
    .join('');
  const figureRow = (label: string, f: Overview['answer']['byPriority'][string]) =>
    `<tr><th scope="row">${esc(label)}</th><td>${f.answered} answered</td><td>within 60 s: ${esc(pct(f.within60s))}</td><td>within 180 s: ${esc(pct(f.within180s))}</td></tr>`;
  const figures = [
    figureRow('all alarm calls', o.answer),
    ...Object.entries(o.answer.byPriority).map(([p, f]) => figureRow(`P${p}`, f)),
    ...o.answer.byOperator.map((f) => figureRow(f.name, f)),
  ].join('');
  const breaches = o.breaches.length
    ? `<ul id="overview-breaches">${o.breaches.map((b) => `<li>P${b.priority} ${esc(b.type)} (${esc(nameOf(b.residentId) || b.residentId)}): not answered in ${b.targetSeconds} s, waiting ${esc(wait(b.waitedSeconds))}</li>`).join('')}</ul>`
    : '<p class="meta">No alarm call past its target.</p>';
  const gone = o.operatorGone.length
    ? `<ul id="overview-gone">${o.operatorGone.map((g) => `<li><b>P${g.priority} ${esc(g.type)} (${esc(nameOf(g.residentId) || g.residentId)}), ${esc(g.state.replace('_', ' '))}: nobody on it</b> — ${esc(nameOf(g.operatorId))} has had no console since ${esc(new Date(g.since).toLocaleTimeString())}. Reassign it from the case view.</li>`).join('')}</ul>`
    : '';
  const people = o.operators
    .map(
      (u) =>
        `<li>${esc(u.name)}: ${esc(u.presence ?? 'offline')}${u.working.length ? `, working ${u.working.length}` : ''}${o.operatorGone.some((g) => g.operatorId === u.id) ? ', gone with a case in hand' : ''}${u.offered.length ? `, offered ${u.offered.length}` : ''}</li>`,
    )
    .join('');
  const security = o.securityEvents.length
    ? `<ul id="overview-security">${o.securityEvents
        .slice(0, 5)
        .map((e) => `<li>${securityEventLine(e)}</li>`)
        .join('')}</ul>`
    : '<p class="meta">No security events.</p>';
  const unmapped = o.unmappedCodes.byCode.length
    ? `<ul id="overview-unmapped">${o.unmappedCodes.byCode.map((c) => `<li>unmapped code ${esc(c.sourceCode)}: ${c.count} from ${esc(c.serials.join(', '))}</li>`).join('')}</ul>`
    : `<p class="meta">No unmapped DC-09 codes.${o.unmappedCodes.message ? ` ${esc(o.unmappedCodes.message)}` : ''}</p>`;
  return `${gone ? `<h3 class="gone-heading">Cases with nobody on them</h3>${gone}` : ''}<p id="overview-waiting"><b>${o.queue.waitingNow} waiting now</b>, longest ${esc(wait(o.queue.longestWaitSeconds))}; alarm calls waiting ${o.queue.alarmsWaiting}, longest ${esc(wait(o.queue.alarmLongestWaitSeconds))}</p>
    <table id="overview-queue"><caption class="visually-hidden">Queue by priority</caption>${queueRows}</table>
    <h3>Alarm calls past their target</h3>${breaches}
    <h3>Answer times (alarm calls, last 24 hours)</h3>
    <table id="overview-figures"><caption class="visually-hidden">Answer figures per priority and per operator</caption>${figures}</table>
    <h3>Operators</h3><ul id="overview-operators">${people}</ul>
    <h3>Security events</h3>${security}
    <h3>DC-09 codes to map</h3>${unmapped}`;
}

const pollOverview = politePoll(async () => {
  const o = await api<Overview>('/api/supervisor/overview', { timeoutMs: SCAN_TIMEOUT_MS });
  $('overview').classList.remove('hidden');
  $('overview-body').innerHTML = render(o);
});

/** The overview again (every 5 s): shown at the next refresh when it fails. */
export async function refreshOverview(): Promise<void> {
  if (!managesPeople()) return;
  await pollOverview();
}

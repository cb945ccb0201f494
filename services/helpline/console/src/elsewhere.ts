import { api } from './api.ts';
import { $, esc } from './dom.ts';
import type { Me } from './types.ts';

/** The roles whose work is in this console: the rest are told where theirs is, not left waiting. */
export const WORKS_HERE = ['operator', 'supervisor', 'admin'];

const WHERE: Record<string, (reports: string | null) => string> = {
  commissioner: (reports) =>
    reports
      ? `Commissioners’ figures — answer times, outcomes, falls and demand by area — are on the <a id="reports-link" href="${esc(reports)}">reports dashboard</a>.`
      : 'Commissioners’ figures — answer times, outcomes, falls and demand by area — are on the reports dashboard; ask your administrator for its address.',
  installer: () => 'Installers register and test devices with the telecare command and the registry.',
};

/**
 * A person whose role has no work here (a commissioner, an installer) signs in: the page says
 * plainly that this is the operators' console and where to go, instead of a live stream that the
 * role may not open ("reconnecting…" for ever) and an empty queue.
 */
export async function showElsewhere(me: Me): Promise<void> {
  const links = await api<{ reportsUrl: string | null }>('/api/console/links').catch(() => ({
    reportsUrl: null,
  }));
  for (const id of ['counts', 'count', 'status', 'targets', 'presence', 'layout'])
    $(id).classList.add('hidden');
  const where = WHERE[me.role]?.(links.reportsUrl) ?? 'Your role has no work in this console.';
  const el = $('elsewhere');
  el.innerHTML = `<h2 id="elsewhere-heading">This is the operators’ console</h2>
    <p>It shows live alarm calls to the operators and supervisors who answer them. You are signed in as ${esc(me.name)} (${esc(me.role)}), which has no work here.</p>
    <p>${where}</p>`;
  el.classList.remove('hidden');
}

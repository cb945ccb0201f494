import type { CallTarget, CallTargetsView, CallView, StartedCallView } from '@telecare/contracts';
import type { z } from 'zod';
import { act, api } from './api.ts';
import { esc } from './dom.ts';
import { timeText } from './format.ts';

/**
 * Voice from the case view: the protocol's first steps are "speak through the home unit", then
 * "call the resident", so the case offers a call to each party (home unit first), as the helpline
 * lists them (`GET /api/cases/{id}/call-targets`). A call is started by the helpline, which looks
 * the number up itself: through the phone system when one is configured ("your phone will ring"),
 * else as a `tel:`/`sip:` link the operator opens with the softphone registered for it. A call in progress
 * shows since when, and is ended with its outcome, recorded on the case.
 */
export type { CallTarget };

type CallTargets = z.output<typeof CallTargetsView>;
type StartedCall = z.output<typeof StartedCallView>;
export type Call = z.output<typeof CallView>;

const OUTCOMES = ['answered', 'no-answer', 'busy', 'failed'] as const;

export const calls = {
  caseId: null as string | null,
  targets: null as CallTargets | null,
  list: [] as Call[],
  /** What the last start said: the number to dial by hand, or that the desk phone rings. */
  lastStart: null as { uri: string; via: string; message?: string } | null,
};

/** Reads the case's call targets (once per case) and its calls (every time). */
export async function loadCalls(caseId: string): Promise<void> {
  if (calls.caseId !== caseId) {
    calls.caseId = caseId;
    calls.targets = null;
    calls.list = [];
    calls.lastStart = null;
  }
  const [targets, list] = await Promise.all([
    calls.targets
      ? Promise.resolve(calls.targets)
      : api<CallTargets>(`/api/cases/${caseId}/call-targets`).catch(
          (e: Error): CallTargets => ({ telephony: 'none', targets: [], message: e.message }),
        ),
    api<{ calls: Call[] } | Call[]>(`/api/cases/${caseId}/calls`).catch(() => [] as Call[]),
  ]);
  if (calls.caseId !== caseId) return;
  calls.targets = targets;
  calls.list = Array.isArray(list) ? list : list.calls;
}

const labelOf = (call: Call): string =>
  calls.targets?.targets.find(
    (t) =>
      t.party === call.party &&
      (t.responderId ?? null) === call.responderId &&
      (call.party !== 'home-unit' || (t.deviceSerial ?? null) === call.deviceSerial),
  )?.label ?? call.party;

/** The calls panel; `canCall` when the case is accepted by this operator. */
export function callsPanel(canCall: boolean): string {
  const t = calls.targets;
  if (!t) return '';
  const open = calls.list.filter((c) => c.endedAt === null);
  const ended = calls.list.filter((c) => c.endedAt !== null);
  const targetButtons = t.targets
    .map((target, i) => {
      const disabled = !canCall || target.uri === null || open.length > 0;
      const why = target.uri === null ? (target.why ?? 'no number recorded') : '';
      return `<li><button data-act="call-start-${i}" data-target="${i}"${disabled ? ' disabled' : ''} aria-label="Call ${esc(target.label)}${why ? ` (${esc(why)})` : ''}">Call ${esc(target.label)}</button>${
        target.uri
          ? ` <code class="meta">${esc(target.uri)}</code>`
          : ` <span class="meta">${esc(why)}</span>`
      }</li>`;
    })
    .join('');
  const inProgress = open
    .map(
      (
        c,
      ) => `<div class="row call-open" data-call-id="${esc(c.id)}" role="status">On a call with <b>${esc(labelOf(c))}</b> since ${esc(timeText(c.startedAt))}:
      ${OUTCOMES.map((o) => `<button data-act="call-end-${esc(c.id)}-${o}" data-end="${esc(c.id)}" data-outcome="${o}"${canCall ? '' : ' disabled'}>${o.replace('-', ' ')}</button>`).join(' ')}</div>`,
    )
    .join('');
  const started = calls.lastStart;
  return `<section class="panel" id="calls" aria-labelledby="calls-heading">
    <h2 id="calls-heading">Call</h2>
    ${t.message ? `<p class="late">${esc(t.message)}</p>` : ''}
    ${inProgress}
    ${started ? `<p class="meta" id="call-started">${started.via === 'pbx' ? 'Your phone will ring.' : `Call recorded: dial it on your softphone or desk phone, <a href="${esc(started.uri)}">${esc(started.uri)}</a> (the link opens the phone registered for it).`}${started.message ? ` ${esc(started.message)}` : ''}</p>` : ''}
    <ul class="call-targets">${targetButtons}</ul>
    ${canCall ? '' : '<p class="meta">Accept the case to call.</p>'}
    ${ended.length ? `<p class="meta">${ended.map((c) => `${esc(labelOf(c))}: ${esc(c.outcome ?? '')} at ${esc(timeText(c.endedAt ?? ''))}`).join(' · ')}</p>` : ''}
  </section>`;
}

/** Wires the panel's buttons; `reload` draws the case again after a change. */
export function wireCalls(caseId: string, reload: () => Promise<void>): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#calls [data-target]'))
    b.addEventListener('click', () => {
      const target = calls.targets?.targets[Number(b.dataset.target)];
      if (!target) return;
      void act(b.dataset.act ?? 'call-start', async (key) => {
        const started = await api<StartedCall>(`/api/cases/${caseId}/calls`, {
          method: 'POST',
          key,
          body: {
            party: target.party,
            ...(target.responderId ? { responderId: target.responderId } : {}),
            ...(target.deviceSerial ? { deviceSerial: target.deviceSerial } : {}),
          },
        });
        calls.lastStart = {
          uri: started.uri,
          via: started.via,
          ...(started.message ? { message: started.message } : {}),
        };
        await reload();
      });
    });
  for (const b of document.querySelectorAll<HTMLButtonElement>('#calls [data-end]'))
    b.addEventListener('click', () => {
      void act(b.dataset.act ?? 'call-end', async (key) => {
        await api(`/api/cases/${caseId}/calls/${b.dataset.end}/end`, {
          method: 'POST',
          key,
          body: { outcome: b.dataset.outcome },
        });
        calls.lastStart = null;
        await reload();
      });
    });
}

import { api } from './api.ts';
import { $ } from './dom.ts';
import type { AnswerStats } from './types.ts';

let timer: ReturnType<typeof setTimeout> | undefined;

export function refreshTargetsSoon(): void {
  clearTimeout(timer);
  timer = setTimeout(() => void refreshTargets(), 500);
}

/** The answer-time figures in the header, against the 60 s and 180 s targets. */
export async function refreshTargets(): Promise<void> {
  try {
    const s = await api<AnswerStats>('/api/stats/answer?hours=24');
    const pct = (x: { percent: number | null }) => (x.percent === null ? '–' : `${x.percent}%`);
    const figure = (x: AnswerStats['within60s']) =>
      `<span class="${x.met ? '' : 'miss'}">${pct(x)}${x.met ? '' : ' (below target)'}</span>`;
    $('targets').innerHTML = s.total
      ? `answered in 60 s: ${figure(s.within60s)} · in 180 s: ${figure(s.within180s)} · ${s.total} ${s.total === 1 ? 'call' : 'calls'} in 24 h`
      : 'no calls in the last 24 h';
  } catch {
    // Shown next time.
  }
}

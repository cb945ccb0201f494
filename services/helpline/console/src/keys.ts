import { accept, selectCase } from './detail.ts';
import { maybe } from './dom.ts';
import { sortedCases, state } from './state.ts';

/** The case `a` accepts: the one shown, else the top of the queue. */
function acceptTarget(): string | undefined {
  return state.selected ?? sortedCases()[0]?.id;
}

export function wireKeys(): void {
  document.addEventListener('keydown', (e) => {
    const target = e.target as Element | null;
    if (target?.closest('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'a') {
      e.preventDefault();
      const id = acceptTarget();
      if (id) accept(id);
    } else if (e.key === 'h') {
      e.preventDefault();
      maybe('hold-reason')?.focus();
    } else if (e.key === 'r') {
      e.preventDefault();
      maybe('outcome')?.focus();
    } else if (e.key === 'j' || e.key === 'k') {
      const list = sortedCases();
      if (!list.length) return;
      const i = list.findIndex((c) => c.id === state.selected);
      const next = list[(i + (e.key === 'j' ? 1 : list.length - 1)) % list.length] ?? list[0];
      if (next) void selectCase(next.id);
    }
  });
}

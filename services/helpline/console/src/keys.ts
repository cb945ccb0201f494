import { accept, selectCase } from './detail.ts';
import { input, maybe, notice } from './dom.ts';
import { shownCases } from './queue.ts';
import { managesPeople, sortedCases, state } from './state.ts';
import type { CaseSummary } from './types.ts';

/** The case offered to me now, if any. */
export const myOffer = (): CaseSummary | undefined =>
  [...state.cases.values()].find((c) => c.state === 'offered' && c.offeredTo === state.me?.id);

/**
 * The case `a` accepts: the one offered to me, whatever is selected; with no offer, the case on
 * screen if it is waiting (a supervisor taking one). Never the top of the queue unseen.
 */
function acceptTarget(): string | undefined {
  const offer = myOffer();
  if (offer) return offer.id;
  const shown = state.selected ? state.cases.get(state.selected) : undefined;
  return shown && (shown.state === 'queued' || shown.state === 'offered') ? shown.id : undefined;
}

/**
 * The most urgent case waiting for someone (queue order, whatever the filters): queued, or offered
 * to me; a supervisor or admin may take one offered to someone else too.
 */
export const nextWaiting = (): CaseSummary | undefined =>
  sortedCases().find(
    (c) =>
      c.state === 'queued' || (c.state === 'offered' && (c.offeredTo === state.me?.id || managesPeople())),
  );

export function wireKeys(): void {
  document.addEventListener('keydown', (e) => {
    const target = e.target as Element | null;
    // Escape leaves a field (the search box, a reason half typed): the keys work again. Without it
    // the keyboard had no way out of the search box but Tab through every filter, and `a` for the
    // P1 just offered went into the search.
    if (e.key === 'Escape' && target instanceof HTMLElement && target.closest('input, select, textarea')) {
      target.blur();
      return;
    }
    if (target?.closest('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) return;
    if (!state.me) return;
    if (e.key === 'a') {
      e.preventDefault();
      const id = acceptTarget();
      if (id) accept(id);
      else notice('Nothing is offered to you: open a waiting case to accept it.');
    } else if (e.key === 'h') {
      e.preventDefault();
      maybe('hold-reason')?.focus();
    } else if (e.key === 'r') {
      e.preventDefault();
      maybe('outcome')?.focus();
    } else if (e.key === 'n') {
      // The next case waiting, opened to read before `a` takes it: a supervisor taking the P1 that
      // waits, an operator with no offer, without a mouse and without j/k through fifty cases.
      e.preventDefault();
      const next = nextWaiting();
      if (!next) {
        notice('No case is waiting.');
        return;
      }
      void selectCase(next.id);
      document.querySelector<HTMLElement>(`#queue .case[data-id="${CSS.escape(next.id)}"]`)?.focus();
    } else if (e.key === '/') {
      e.preventDefault();
      input('search').focus();
    } else if (e.key === 'j' || e.key === 'k') {
      const list = shownCases();
      if (!list.length) return;
      const i = list.findIndex((c) => c.id === state.selected);
      const next = list[(i + (e.key === 'j' ? 1 : list.length - 1)) % list.length] ?? list[0];
      if (next) {
        void selectCase(next.id);
        document.querySelector<HTMLElement>(`#queue .case[data-id="${CSS.escape(next.id)}"]`)?.focus();
      }
    }
  });
}

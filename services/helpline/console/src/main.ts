import { type ApiError, act, api, whenSignedOut } from './api.ts';
import {
  forgetAllDrafts,
  forgetDrafts,
  refreshDetail,
  rememberedCase,
  selectCase,
  whenCaseChanges,
  whenPresenceChanges,
} from './detail.ts';
import { $, input, select } from './dom.ts';
import { showElsewhere, WORKS_HERE } from './elsewhere.ts';
import { typeLabel } from './format.ts';
import { wireKeys } from './keys.ts';
import { refreshOverview } from './overview.ts';
import { loadPeople, refreshPeople, renderPeople, wirePeople } from './people.ts';
import { OVERVIEW_EVERY_MS, PEOPLE_EVERY_MS } from './poll.ts';
import { renderQueue, wireQueue } from './queue.ts';
import { heardSession, wireSession } from './session.ts';
import { armSound } from './sound.ts';
import { state } from './state.ts';
import { closeStream, connect, onCase, onCaseChange, pressedAgain, whenSnapshot } from './stream.ts';
import { refreshTargets } from './targets.ts';
import { after, every } from './ticker.ts';
import { renderTitle, wireTitle } from './title.ts';
import { type CaseSummary, isOpen, type Me } from './types.ts';

function showLogin(): void {
  closeStream();
  renderTitle(null);
  $('app').classList.add('hidden');
  $('login').classList.remove('hidden');
  $('username').focus();
}
whenSignedOut(showLogin);

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    const answer = await api<{ session?: Me['session'] }>('/api/login', {
      method: 'POST',
      body: { username: input('username').value, password: input('password').value },
    });
    heardSession(answer.session);
    input('password').value = '';
    await boot();
  } catch (err) {
    $('login-error').textContent = err instanceof Error ? err.message : String(err);
  }
});
/** The cases this person holds (accepted or on hold), as the queue knows them. */
const heldByMe = () =>
  [...state.cases.values()].filter(
    (c) => c.assignedTo === state.me?.id && (c.state === 'accepted' || c.state === 'on_hold'),
  );

/**
 * What signing out does to the cases this person holds, in words, or null when they hold none:
 * every accepted case goes back to the queue at once; a held one keeps its call-back, flagged for the
 * supervisor.
 */
function signOutWarning(): string | null {
  const mine = heldByMe();
  if (mine.length === 0) return null;
  const lines = mine.map((c) =>
    c.state === 'accepted'
      ? `${c.id} (P${c.priority}, accepted): goes back in the queue now, for another operator`
      : `${c.id} (P${c.priority}, on hold): its call-back stays, shown to the supervisor as having nobody on it`,
  );
  return `You hold ${mine.length === 1 ? 'a case' : `${mine.length} cases`}:\n${lines.join('\n')}\n\nUnless you are signed in elsewhere. Hand over or resolve first, or sign out anyway?`;
}

/**
 * What going away (a break) does to the cases this person is working, in words, or null when they
 * are working none: every accepted case goes back to the queue at once, for the next operator who
 * is there (a held case keeps its call-back). Asked first, against a slip of the mouse mid-call.
 */
function awayWarning(): string | null {
  const mine = heldByMe().filter((c) => c.state === 'accepted');
  if (mine.length === 0) return null;
  const lines = mine.map((c) => `${c.id} (P${c.priority}, ${typeLabel(c.type)}, accepted)`);
  const one = mine.length === 1;
  return `You hold ${one ? 'a case' : `${mine.length} cases`} you are working:\n${lines.join('\n')}\n\nAway, ${one ? 'it goes' : 'they go'} back in the queue now, for another operator. Go away?`;
}

$('logout').addEventListener('click', async () => {
  const warning = signOutWarning();
  if (warning && !window.confirm(warning)) return;
  await api('/api/logout', { method: 'POST' }).catch(() => {});
  sessionStorage.removeItem('helpline.token');
  forgetAllDrafts();
  location.reload();
});
$('presence').addEventListener('change', () => {
  const status = select('presence').value;
  const warning = status === 'away' ? awayWarning() : null;
  if (warning && !window.confirm(warning)) {
    // Not going: the control shows the presence the helpline has.
    api<Me>('/api/me').then(
      (m) => {
        select('presence').value = m.chosenPresence ?? m.presence ?? '';
      },
      () => {},
    );
    return;
  }
  void act('presence', () => api('/api/presence', { method: 'PUT', body: { status } }));
});
whenPresenceChanges((presence) => {
  select('presence').value = presence;
});

whenCaseChanges(onCase);
// A new stream opens with the open cases alone: a case on screen that was closed (or changed)
// while this console was not hearing its stream gets no change of its own, so it is read again.
whenSnapshot(() => {
  renderQueue();
  if (state.selected) refreshDetail(state.selected);
});
onCaseChange((c, before) => {
  renderQueue();
  announce(c, before);
  // The case offered to me opens by itself, unless I am working one of mine.
  const offeredNow =
    c.state === 'offered' && c.offeredTo === state.me?.id && before?.offeredTo !== state.me?.id;
  const current = state.selected ? state.cases.get(state.selected) : undefined;
  const working =
    current !== undefined && current.assignedTo === state.me?.id && current.state === 'accepted';
  if (offeredNow && !working && c.id !== state.selected) void selectCase(c.id);
  else if (c.id === state.selected) refreshDetail(c.id);
  // Reloaded (or reopened): back on the case that was on screen, while it is open.
  else if (state.selected === null && isOpen(c.state) && c.id === rememberedCase()) void selectCase(c.id);
  if (!isOpen(c.state) && c.id !== state.selected) forgetDrafts(c.id);
});

/** What the tone says, in words for a screen reader: a new P1, a press again, an offer to me. */
function announce(c: CaseSummary, before: CaseSummary | undefined): void {
  const ev = c.lastEvent;
  if (!ev) return;
  const who = state.residentNames.get(c.residentId) ?? 'a resident';
  const text =
    c.offeredTo === state.me?.id && before?.offeredTo !== state.me?.id && c.state === 'offered'
      ? `Offered to you: P${c.priority} ${typeLabel(c.type)} for ${who}. Press a to accept.`
      : !before && ev.kind === 'opened'
        ? `New P${c.priority} case: ${typeLabel(c.type)} for ${who}.`
        : pressedAgain(c, before)
          ? `${who} pressed again.${ev.data.requeuedFromHold ? ' Back in the queue from hold.' : ''}`
          : ev.kind === 'alert-joined' && ev.data.requeuedFromHold
            ? `${typeLabel(c.type)} for ${who}: back in the queue from hold.`
            : '';
  if (text) $('announce').textContent = text;
}
wireQueue((id) => void selectCase(id));
wireTitle(renderQueue);
wireKeys();
wirePeople();
wireSession();

// Signing in again after a sign-out boots again: the timers start once.
let timersStarted = false;

async function boot(): Promise<void> {
  let me: Me;
  try {
    me = await api<Me>('/api/me');
  } catch (err) {
    // 401 shows the sign-in form. Anything else (the helpline or its database not answering): say
    // so and try again, so a console opened during an outage comes up by itself when it ends.
    if ((err as ApiError).status !== 401) {
      const unreachable = $('unreachable');
      unreachable.textContent = `Cannot reach the helpline (${err instanceof Error ? err.message : String(err)}). No queue is shown; trying again every few seconds.`;
      unreachable.classList.remove('hidden');
      after(3_000, () => void boot());
    }
    return;
  }
  $('unreachable').classList.add('hidden');
  state.me = me;
  heardSession(me.session);
  $('login').classList.add('hidden');
  $('app').classList.remove('hidden');
  $('who').textContent = `${me.name} (${me.role})`;
  $('presence').classList.toggle('hidden', !['operator', 'supervisor'].includes(me.role));
  // Never a presence the helpline does not have: with none chosen yet (signing in kept it as it
  // was, PRESENCE_ON_LOGIN=keep), the control says "not set" rather than its first option,
  // "available", while no case is offered.
  select('presence').value = me.presence ?? '';
  if (!WORKS_HERE.includes(me.role)) {
    await showElsewhere(me);
    return;
  }
  armSound();
  await loadPeople();
  renderPeople();
  connect();
  void refreshTargets();
  if (timersStarted) return;
  timersStarted = true;
  // On the ticker, not the page's timers, which a hidden tab runs once a minute (`ticker.ts`).
  every(15_000, () => void refreshTargets());
  // Who is there changes without a case changing: the supervisor's list is read again every few seconds.
  every(PEOPLE_EVERY_MS, () => void refreshPeople());
  void refreshOverview();
  every(OVERVIEW_EVERY_MS, () => void refreshOverview());
}
void boot();

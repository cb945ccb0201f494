import { act, api, whenSignedOut } from './api.ts';
import { loadDetail, selectCase, whenCaseChanges, whenPresenceChanges } from './detail.ts';
import { $, input, select } from './dom.ts';
import { wireKeys } from './keys.ts';
import { loadPeople, refreshPeople, renderPeople, wirePeople } from './people.ts';
import { renderQueue, wireQueue } from './queue.ts';
import { managesPeople, state } from './state.ts';
import { closeStream, connect, onCase, onCaseChange, whenSnapshot } from './stream.ts';
import { refreshTargets } from './targets.ts';
import type { Me } from './types.ts';

function showLogin(): void {
  closeStream();
  $('app').classList.add('hidden');
  $('login').classList.remove('hidden');
  $('username').focus();
}
whenSignedOut(showLogin);

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    await api('/api/login', {
      method: 'POST',
      body: { username: input('username').value, password: input('password').value },
    });
    input('password').value = '';
    await boot();
  } catch (err) {
    $('login-error').textContent = err instanceof Error ? err.message : String(err);
  }
});
$('logout').addEventListener('click', async () => {
  await api('/api/logout', { method: 'POST' }).catch(() => {});
  sessionStorage.removeItem('helpline.token');
  location.reload();
});
$('presence').addEventListener('change', () =>
  act('presence', () => api('/api/presence', { method: 'PUT', body: { status: select('presence').value } })),
);
whenPresenceChanges((presence) => {
  select('presence').value = presence;
});

whenCaseChanges(onCase);
whenSnapshot(renderQueue);
onCaseChange((c) => {
  renderQueue();
  if (c.id === state.selected) void loadDetail(c.id, false);
});
wireQueue((id) => void selectCase(id));
wireKeys();
wirePeople();

// Signing in again after a sign-out boots again: the timers start once.
let timersStarted = false;

async function boot(): Promise<void> {
  let me: Me;
  try {
    me = await api<Me>('/api/me');
  } catch {
    return;
  }
  state.me = me;
  $('login').classList.add('hidden');
  $('app').classList.remove('hidden');
  $('who').textContent = `${me.name} (${me.role})`;
  $('presence').classList.toggle('hidden', !['operator', 'supervisor'].includes(me.role));
  if (me.presence) select('presence').value = me.presence;
  await loadPeople();
  renderPeople();
  connect();
  void refreshTargets();
  if (timersStarted) return;
  timersStarted = true;
  setInterval(() => void refreshTargets(), 15_000);
  // Who is there changes without a case changing: the supervisor's list is read again every few seconds.
  setInterval(() => void refreshPeople(), 3_000);
}
void boot();

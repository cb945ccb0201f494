import { act, api } from './api.ts';
import { $, esc, input, select } from './dom.ts';
import { politePoll } from './poll.ts';
import { managesPeople, state } from './state.ts';
import type { User } from './types.ts';

async function loadUsers(): Promise<void> {
  state.users = new Map((await api<{ users: User[] }>('/api/users')).users.map((u) => [u.id, u]));
}

/** The supervisor's and admin's list of people: presence as it is, set away, sign out. */
export function renderPeople(): void {
  const me = state.me;
  if (!me || !managesPeople()) return;
  $('people').classList.remove('hidden');
  for (const el of document.querySelectorAll('#people .admin-only'))
    el.classList.toggle('hidden', me.role !== 'admin');
  $('people-list').innerHTML = [...state.users.values()]
    .map((u) => {
      const staff = u.role === 'operator' || u.role === 'supervisor';
      const why =
        u.presence === 'away' && u.chosenPresence && u.chosenPresence !== 'away'
          ? ' (no console connected)'
          : '';
      const controls =
        staff && u.id !== me.id
          ? `<button type="button" data-act="set-away-${esc(u.id)}" data-away="${esc(u.id)}" ${u.chosenPresence === 'away' ? 'disabled' : ''}>set away</button> <button type="button" data-act="sign-out-${esc(u.id)}" data-signout="${esc(u.id)}">sign out</button>`
          : '';
      return `<tr data-user="${esc(u.username)}" data-user-id="${esc(u.id)}"><td>${esc(u.name)}</td><td>${esc(u.username)}</td><td>${esc(u.role)}</td><td class="presence ${esc(u.presence ?? '')}" title="${u.lastSeenAt ? `last heard ${new Date(u.lastSeenAt).toLocaleTimeString()}` : 'never connected'}">${esc(u.presence ?? '')}${esc(why)}</td><td>${controls}</td></tr>`;
    })
    .join('');
}

const pollPeople = politePoll(async () => {
  await loadUsers();
  renderPeople();
});

/** The staff list again (every 3 s, and after an action): shown next time when it fails. */
export async function refreshPeople(): Promise<void> {
  if (!managesPeople()) return;
  await pollPeople();
}

export function wirePeople(): void {
  $('people-list').addEventListener('click', (e) => {
    const target = e.target as Element;
    const away = target.closest<HTMLElement>('[data-away]')?.dataset.away;
    const out = target.closest<HTMLElement>('[data-signout]')?.dataset.signout;
    if (away)
      void act(`set-away-${away}`, () =>
        api(`/api/users/${away}/presence`, { method: 'PUT', body: { status: 'away' } }).then(refreshPeople),
      );
    if (out)
      void act(`sign-out-${out}`, () =>
        api(`/api/users/${out}/logout`, { method: 'POST' }).then(refreshPeople),
      );
  });
  $('user-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void act('add-user', async () => {
      await api('/api/users', {
        method: 'POST',
        body: {
          username: input('new-username').value,
          name: input('new-name').value,
          role: select('new-role').value,
          password: input('new-password').value,
        },
      });
      for (const f of ['new-username', 'new-name', 'new-password']) input(f).value = '';
      await loadUsers();
      renderPeople();
    });
  });
}

export async function loadPeople(): Promise<void> {
  await loadUsers().catch(() => {
    state.users = new Map();
  });
  renderPeople();
}

import { ApiError, api } from './api.ts';
import { serverNow } from './clock.ts';
import { $, input, notice } from './dom.ts';
import { clockText } from './format.ts';
import { state } from './state.ts';
import { everySecond } from './ticker.ts';
import type { SessionTimes } from './types.ts';

/**
 * How long before the session's absolute end (SESSION_MAX_S after sign-in) the console asks its
 * person to sign in again. Used, a session is renewed by itself; only that end comes regardless,
 * and an operator signed out there mid-call lost their stream, their presence and, minutes later,
 * the case they held.
 */
export const WARN_BEFORE_MS = 15 * 60_000;

let endsAt: number | null = null;
let warned = false;

/** The session's times as the helpline last said them (sign-in, /api/me, each heartbeat). */
export function heardSession(session: SessionTimes | null | undefined): void {
  if (session === undefined) return;
  endsAt = session ? Date.parse(session.endsAt) : null;
  render();
}

function render(): void {
  const box = $('session-warning');
  const left = endsAt === null ? Number.POSITIVE_INFINITY : endsAt - serverNow();
  if (left > WARN_BEFORE_MS) {
    box.classList.add('hidden');
    warned = false;
    return;
  }
  const at = new Date(endsAt ?? 0).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const text =
    left > 0
      ? `Your sign-in ends at ${at} (in ${clockText(Math.ceil(left / 1000))}). Enter your password to stay signed in: your cases and this page stay as they are.`
      : `Your sign-in ended at ${at}.`;
  $('session-text').textContent = text;
  if (box.classList.contains('hidden')) box.classList.remove('hidden');
  // Said once to a screen reader, not at every second of the countdown.
  if (!warned) {
    warned = true;
    $('announce').textContent = `Your sign-in ends at ${at}. Enter your password to stay signed in.`;
  }
}

/**
 * Signing in again in place: the helpline replaces this browser's session with a new one and
 * carries its console over, so the live stream, presence, the case in hand and the page go on.
 */
export function wireSession(): void {
  everySecond(render);
  $('session-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const error = $('session-error');
    error.textContent = '';
    const password = input('session-password');
    const button = $<HTMLButtonElement>('session-renew');
    button.disabled = true;
    try {
      const answer = await api<{ session?: SessionTimes }>('/api/login', {
        method: 'POST',
        body: { username: state.me?.username ?? '', password: password.value },
      });
      password.value = '';
      heardSession(answer.session ?? null);
      const until = answer.session
        ? new Date(answer.session.endsAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
        : '';
      notice(until ? `Signed in again: until ${until} at the latest.` : 'Signed in again.');
    } catch (err) {
      error.textContent =
        err instanceof ApiError && err.status === 401
          ? 'wrong password'
          : err instanceof Error
            ? err.message
            : String(err);
    } finally {
      button.disabled = false;
    }
  });
}

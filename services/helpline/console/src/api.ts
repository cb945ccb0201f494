import { notice } from './dom.ts';
import { nameOf } from './state.ts';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly body: { message?: string; holder?: string | null } | undefined,
    /** A 429's `Retry-After`, in seconds. */
    readonly retryAfterS?: number,
  ) {
    super(body?.message ?? `HTTP ${status}`);
  }
}

// Programs and the demo may open the page as /#token=<token>; people sign in with a password
// (the session is an HttpOnly cookie). The token never travels in a URL to the server.
const fragment = new URLSearchParams(location.hash.slice(1));
const fromFragment = fragment.get('token');
if (fromFragment) {
  sessionStorage.setItem('helpline.token', fromFragment);
  history.replaceState(null, '', location.pathname + location.search);
}
export const token: string | null = sessionStorage.getItem('helpline.token');

let onSignedOut: () => void = () => {};
/** What to do when the server no longer knows this browser (shows the sign-in form). */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

interface Request {
  readonly method?: string;
  readonly body?: unknown;
  /** Idempotency-Key: one for all of an action's attempts. */
  readonly key?: string;
  /** How long one attempt may wait for its answer (`ANSWER_TIMEOUT_MS` unless said). */
  readonly timeoutMs?: number;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * How long one attempt may wait for the helpline's answer. A request sent into a connection that
 * died without a word (a Wi-Fi roam, a NAT that forgot it: the browser reuses its kept-alive
 * connections) is never answered, and without a deadline the action's button stayed disabled and
 * the screen silent until the operating system gave up on the socket, many minutes later.
 */
export const ANSWER_TIMEOUT_MS = 10_000;
/**
 * The deadline of the reads that scan EVENTS (the case's device events, the supervisor's unmapped
 * codes: up to 20,000 messages each): slow on a loaded night without being lost, and a read cut off
 * at 10 s would only be asked again from the start.
 */
export const SCAN_TIMEOUT_MS = 30_000;

// An action carries one Idempotency-Key for all of its attempts: a retry after a lost connection
// or a second click records one case event.
export async function api<T = unknown>(
  path: string,
  { method = 'GET', body, key, timeoutMs = ANSWER_TIMEOUT_MS }: Request = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (key) headers['idempotency-key'] = key;
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    let text: string;
    try {
      // The deadline covers the body too: an answer cut off half-way is as silent as none.
      const signal = AbortSignal.timeout(timeoutMs);
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        credentials: 'same-origin',
        signal,
      });
      text = await response.text();
    } catch (err) {
      // A read, or an action with its key (the helpline records it once), is tried again at once
      // on a new connection; anything else may have been done, so the operator is told.
      if (attempt < 3 && (method === 'GET' || key)) {
        await pause(400 * attempt);
        continue;
      }
      const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
      throw new ApiError(0, {
        message: timedOut
          ? `the helpline did not answer within ${Math.round(timeoutMs / 1000)} s; check the case and try again`
          : 'no connection to the helpline; try again',
      });
    }
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (response.status === 401 && !path.startsWith('/api/login')) {
      onSignedOut();
      throw new ApiError(401, json as { message?: string });
    }
    if (!response.ok) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new ApiError(
        response.status,
        json as { message?: string },
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
    }
    return json as T;
  }
}

const inFlight = new Set<string>();
const buttonsOf = (name: string) => document.querySelectorAll<HTMLButtonElement>(`[data-act="${name}"]`);

/** Runs an action once: its buttons are disabled while it runs, and its retries share one key. */
export async function act(name: string, fn: (key: string) => Promise<unknown>): Promise<void> {
  if (inFlight.has(name)) return;
  inFlight.add(name);
  for (const b of buttonsOf(name)) b.disabled = true;
  const key = `${name.replace(/[^A-Za-z0-9_.:-]/g, '-')}-${crypto.randomUUID()}`;
  try {
    notice('');
    await fn(key);
  } catch (err) {
    // A refusal because a colleague has the case names them: the operator knows whom to ask.
    const holder = err instanceof ApiError ? err.body?.holder : undefined;
    const text = err instanceof Error ? err.message : String(err);
    notice(holder ? `${text} (${nameOf(holder)})` : text);
  } finally {
    inFlight.delete(name);
    for (const b of buttonsOf(name)) b.disabled = false;
  }
}

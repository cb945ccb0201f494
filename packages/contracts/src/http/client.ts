import type { z } from 'zod';
import {
  type AnyRoute,
  ApiError,
  type IsPaged,
  type IsRaw,
  isPaged,
  nextPageOf,
  type RouteTable,
} from './route.ts';

/** What a call sends: the parts its route takes, before parsing (defaults may be left out). */
export interface CallInput<R extends AnyRoute> {
  params?: z.input<NonNullable<R['params']>>;
  query?: z.input<NonNullable<R['query']>>;
  body?: z.input<NonNullable<R['body']>>;
  /** Headers the route reads besides the token (`If-Match`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** What a route answers on success, parsed; a raw route's (`raw: true`) is the Response, unread. */
export type Answer<R extends AnyRoute> = IsRaw<R> extends true ? Response : z.output<R['response']>;

/** One call of a route: its answer. */
export type RouteCall<R extends AnyRoute> = (input?: CallInput<R>) => Promise<Answer<R>>;

/**
 * A list read page by page (its contract names a `Link` header): every page from the one `input`
 * asks for, each the route's answer, following each page's `Link: <…>; rel="next"` until a page
 * has none. A page is asked for only when the caller takes it, so leaving the loop early reads no
 * more.
 */
export interface PagedCall<R extends AnyRoute> extends RouteCall<R> {
  pages(input?: CallInput<R>): AsyncGenerator<Answer<R>, void, undefined>;
}

/** One method per route of the table, named as the table names it; `pages()` on a paged list. */
export type Client<T extends RouteTable> = {
  [K in keyof T]: IsPaged<T[K]> extends true ? PagedCall<T[K]> : RouteCall<T[K]>;
};

export interface ClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Per call, connection to last byte (default 10 s); a raw route's, until its answer begins. */
  timeoutMs?: number;
  /** How errors name the far end ("the registry"). */
  service?: string;
  /**
   * Calls this client has in flight at once; more wait their turn, within their own timeout. A
   * call holds a socket from send to the last byte of its answer, and Node opens a socket for
   * every call in flight, so this bounds the sockets to the service too: services cap the sockets
   * one address may hold (`HTTP_CONNECTIONS_PER_ADDRESS`). A raw answer's call holds its turn
   * until the answer begins. Unset: no bound.
   */
  maxConcurrent?: number;
}

/** Turns for at most `max` calls at once; a waiting call leaves the line when its signal aborts. */
class Turns {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly max: number) {}

  async take(signal: AbortSignal): Promise<() => void> {
    if (this.#running >= this.max) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener('abort', leave);
          resolve();
        };
        const leave = () => {
          const at = this.#waiting.indexOf(go);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(signal.reason);
        };
        this.#waiting.push(go);
        signal.addEventListener('abort', leave, { once: true });
      });
    } else this.#running++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    };
  }
}

const turnsOf = new WeakMap<ClientOptions, Turns>();

/**
 * A call that did not give the answer its contract promises. `status` is the HTTP status, or
 * `unreachable` (no connection), `timeout`, or `invalid-answer` (the body broke the contract);
 * `code`, `issues` and `body` are the service's error answer when there was one.
 */
export class ApiCallError extends Error {
  readonly status: number | 'unreachable' | 'timeout' | 'invalid-answer';
  readonly code: string;
  readonly issues: readonly { path: string; message: string }[];
  readonly body: unknown;
  constructor(
    message: string,
    details: {
      status: ApiCallError['status'];
      code?: string;
      issues?: readonly { path: string; message: string }[];
      body?: unknown;
      cause?: unknown;
    },
  ) {
    super(message, { cause: details.cause });
    this.name = 'ApiCallError';
    this.status = details.status;
    this.code = details.code ?? String(details.status);
    this.issues = details.issues ?? [];
    this.body = details.body;
  }
}

/** The path with its `{name}` parameters filled in, and the query string. */
function urlOf(baseUrl: string, route: AnyRoute, input: CallInput<AnyRoute>): URL {
  const params = (input.params ?? {}) as Record<string, unknown>;
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(String(params[name] ?? '')),
  );
  const url = new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  for (const [key, value] of Object.entries((input.query ?? {}) as Record<string, unknown>))
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  return url;
}

/** A call that got no answer: timed out, or the service not reached. */
function unanswered(
  err: unknown,
  url: URL,
  method: string | undefined,
  options: ClientOptions,
  timeoutMs: number,
) {
  const service = options.service ?? url.host;
  const timedOut = (err as Error).name === 'TimeoutError';
  return new ApiCallError(
    timedOut
      ? `${service} did not answer ${method} ${url.pathname} within ${timeoutMs} ms`
      : `cannot reach ${service} at ${url.origin}: ${(err as Error).message}`,
    { status: timedOut ? 'timeout' : 'unreachable', cause: err },
  );
}

async function send(url: URL, init: RequestInit, options: ClientOptions, timeoutMs: number) {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw unanswered(err, url, init.method, options, timeoutMs);
  }
}

/**
 * A timeout for a raw answer (a stream, CSV), which the caller reads: it ends the call only until
 * the answer begins (`answered()`), so an event stream is not cut off after `timeoutMs`; the
 * caller's own signal still ends its body. It aborts as `AbortSignal.timeout` does (`TimeoutError`).
 */
function timeoutUntilAnswered(timeoutMs: number): { signal: AbortSignal; answered: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
    timeoutMs,
  );
  timer.unref?.();
  return { signal: controller.signal, answered: () => clearTimeout(timer) };
}

const jsonOf = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
};

/**
 * Calls one route: bearer token, timeout, the answer parsed with the route's schema, and the next
 * page when the answer names one. `url` is a next page's, when it is not the route's own.
 */
async function exchange(
  route: AnyRoute,
  options: ClientOptions,
  input: CallInput<AnyRoute> = {},
  url: URL = urlOf(options.baseUrl, route, input),
): Promise<{ data: unknown; next: URL | undefined }> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { ...input.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const hasBody = route.body !== undefined && route.method !== 'GET';
  if (hasBody) headers['content-type'] = route.consumes ?? 'application/json';
  const timeout = route.raw
    ? timeoutUntilAnswered(timeoutMs)
    : { signal: AbortSignal.timeout(timeoutMs), answered: () => undefined };
  const signal = input.signal ? AbortSignal.any([timeout.signal, input.signal]) : timeout.signal;
  let release: () => void = () => undefined;
  const turns = turnsOf.get(options);
  if (turns)
    release = await turns.take(signal).catch((err: unknown) => {
      // Its time ran out waiting its turn: as good as no answer.
      timeout.answered();
      throw unanswered(err, url, route.method, options, timeoutMs);
    });
  let body: unknown;
  let response: Response;
  try {
    response = await send(
      url,
      {
        method: route.method,
        headers,
        body: !hasBody
          ? undefined
          : route.consumes
            ? String(input.body ?? '')
            : JSON.stringify(input.body ?? {}),
        signal,
      },
      options,
      timeoutMs,
    );
    const answered = response.ok ? route.response : route.responses?.[response.status];
    if (route.raw && answered) {
      timeout.answered();
      return { data: response, next: undefined };
    }
    try {
      body = jsonOf(await response.text());
    } finally {
      timeout.answered();
    }
  } finally {
    release();
  }
  const schema = response.ok ? route.response : route.responses?.[response.status];
  const where = `${route.method} ${url.pathname}`;
  if (!schema) {
    const refusal = ApiError.safeParse(body);
    const answer = refusal.success ? refusal.data : undefined;
    throw new ApiCallError(answer?.message ?? answer?.error ?? `${where} answered ${response.status}`, {
      status: response.status,
      ...(answer ? { code: answer.error, issues: answer.issues ?? [] } : {}),
      body,
    });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new ApiCallError(`${where}: the answer does not match its contract: ${parsed.error.message}`, {
      status: 'invalid-answer',
      body,
      cause: parsed.error,
    });
  const link = response.ok ? nextPageOf(response.headers.get('link')) : undefined;
  return { data: parsed.data, next: link === undefined ? undefined : nextUrlOf(link, url, where, options) };
}

/**
 * A next page's URL, resolved as the route's path is. The token goes only where the client was
 * pointed, so a link to another origin is a broken answer; so is a link back to the page just
 * read, which would never end.
 */
function nextUrlOf(link: string, current: URL, where: string, options: ClientOptions): URL {
  const base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  const next = new URL(link, base);
  const broken = (why: string) =>
    new ApiCallError(`${where}: the answer's next page ${link} ${why}`, {
      status: 'invalid-answer',
      body: link,
    });
  if (next.origin !== base.origin) throw broken(`is not at ${base.origin}`);
  if (next.href === current.href) throw broken('is the page just read');
  return next;
}

async function call(route: AnyRoute, options: ClientOptions, input?: CallInput<AnyRoute>) {
  return (await exchange(route, options, input)).data;
}

async function* pages(route: AnyRoute, options: ClientOptions, input: CallInput<AnyRoute> = {}) {
  let page = await exchange(route, options, input);
  yield page.data;
  while (page.next) {
    page = await exchange(route, options, input, page.next);
    yield page.data;
  }
}

/**
 * The typed client of a table of routes (`REGISTRY_ROUTES`…): one method per route, its input
 * and answer typed by the route's schemas. A refusal, a timeout or an unreachable service is an
 * `ApiCallError`; a documented non-2xx answer (`responses`) is returned like a success. A route
 * whose contract names a `Link` header (`GET /api/cases`) also has `pages()`: every page in turn.
 * A raw route's (`raw: true`: a stream, CSV) method answers the `Response` itself, its body unread.
 */
export function createClient<T extends RouteTable>(routes: T, options: ClientOptions): Client<T> {
  if (options.maxConcurrent !== undefined && options.maxConcurrent > 0)
    turnsOf.set(options, new Turns(options.maxConcurrent));
  const client: Record<string, RouteCall<AnyRoute> | PagedCall<AnyRoute>> = {};
  for (const [name, route] of Object.entries(routes)) {
    const method = (input?: CallInput<AnyRoute>) => call(route, options, input);
    client[name] = isPaged(route)
      ? Object.assign(method, { pages: (input?: CallInput<AnyRoute>) => pages(route, options, input) })
      : method;
  }
  return client as Client<T>;
}

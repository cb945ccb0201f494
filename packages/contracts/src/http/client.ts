import type { z } from 'zod';
import { type AnyRoute, ApiError, type RouteTable } from './route.ts';

/** What a call sends: the parts its route takes, before parsing (defaults may be left out). */
export interface CallInput<R extends AnyRoute> {
  params?: z.input<NonNullable<R['params']>>;
  query?: z.input<NonNullable<R['query']>>;
  body?: z.input<NonNullable<R['body']>>;
  /** Headers the route reads besides the token (`If-Match`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** One method per route of the table, named as the table names it. */
export type Client<T extends RouteTable> = {
  [K in keyof T]: (input?: CallInput<T[K]>) => Promise<z.output<T[K]['response']>>;
};

export interface ClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Per call, connection to last byte (default 10 s). */
  timeoutMs?: number;
  /** How errors name the far end ("the registry"). */
  service?: string;
}

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

async function send(url: URL, init: RequestInit, options: ClientOptions, timeoutMs: number) {
  const service = options.service ?? url.host;
  try {
    return await fetch(url, init);
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new ApiCallError(
      timedOut
        ? `${service} did not answer ${init.method} ${url.pathname} within ${timeoutMs} ms`
        : `cannot reach ${service} at ${url.origin}: ${(err as Error).message}`,
      { status: timedOut ? 'timeout' : 'unreachable', cause: err },
    );
  }
}

const jsonOf = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
};

/** Calls one route: bearer token, timeout, the answer parsed with the route's schema. */
async function call(route: AnyRoute, options: ClientOptions, input: CallInput<AnyRoute> = {}) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { ...input.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const hasBody = route.body !== undefined && route.method !== 'GET';
  if (hasBody) headers['content-type'] = route.consumes ?? 'application/json';
  const timeout = AbortSignal.timeout(timeoutMs);
  const url = urlOf(options.baseUrl, route, input);
  const response = await send(
    url,
    {
      method: route.method,
      headers,
      body: !hasBody
        ? undefined
        : route.consumes
          ? String(input.body ?? '')
          : JSON.stringify(input.body ?? {}),
      signal: input.signal ? AbortSignal.any([timeout, input.signal]) : timeout,
    },
    options,
    timeoutMs,
  );
  const body = jsonOf(await response.text());
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
  return parsed.data;
}

/**
 * The typed client of a table of routes (`REGISTRY_ROUTES`…): one method per route, its input
 * and answer typed by the route's schemas. A refusal, a timeout or an unreachable service is an
 * `ApiCallError`; a documented non-2xx answer (`responses`) is returned like a success.
 */
export function createClient<T extends RouteTable>(routes: T, options: ClientOptions): Client<T> {
  const client: Record<string, (input?: CallInput<AnyRoute>) => Promise<unknown>> = {};
  for (const [name, route] of Object.entries(routes)) client[name] = (input) => call(route, options, input);
  return client as Client<T>;
}

import {
  ApiCallError,
  type Client,
  createClient,
  REGISTRY_ROUTES,
  type RegistryRoutes,
} from '@telecare/contracts';

/**
 * Exit codes, so scripts can tell what happened without reading the output:
 * 0 done; 1 the check failed (a test call did not pass); 2 the request was refused as invalid,
 * a conflict or not found; 3 not allowed (token missing, wrong or without the role);
 * 4 the registry (or triage) could not be reached or failed.
 */
export const EXIT = { ok: 0, failed: 1, refused: 2, unauthorised: 3, unavailable: 4 } as const;

export class CliError extends Error {
  readonly exitCode: number;
  readonly body: unknown;
  constructor(message: string, exitCode: number, body?: unknown) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.body = body;
  }
}

interface Issue {
  path: string;
  message: string;
}

/** A refusal's exit code: 3 not allowed, 4 unavailable or failed, 2 any other refusal. */
const exitCodeOf = (status: number): number =>
  status === 401 || status === 403 ? EXIT.unauthorised : status >= 500 ? EXIT.unavailable : EXIT.refused;

/** A failed call as the CLI reports it: the service's message and every field at fault. */
export function cliErrorOf(err: unknown): unknown {
  if (!(err instanceof ApiCallError)) return err;
  if (typeof err.status !== 'number') return new CliError(err.message, EXIT.unavailable);
  const issues = err.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  return new CliError([err.message, issues].filter(Boolean).join('\n'), exitCodeOf(err.status), err.body);
}

/** A long import is still one request. */
const REGISTRY_TIMEOUT_MS = 120_000;

/** The registry's typed client (from its route contracts), its failures turned into CliErrors. */
export function registryApi(url: string, token: string | undefined): Client<RegistryRoutes> {
  const api = createClient(REGISTRY_ROUTES, {
    baseUrl: url,
    token,
    timeoutMs: REGISTRY_TIMEOUT_MS,
    service: 'the registry',
  });
  const wrapped: Record<string, (input?: unknown) => Promise<unknown>> = {};
  for (const [name, call] of Object.entries(api) as [string, (input?: unknown) => Promise<unknown>][])
    wrapped[name] = async (input) => {
      try {
        return await call(input);
      } catch (err) {
        throw cliErrorOf(err);
      }
    };
  return wrapped as Client<RegistryRoutes>;
}

/**
 * A small JSON client of a service whose routes have no contracts yet (triage's rules API):
 * refusals turned into CliErrors.
 */
export class ServiceClient {
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #service: string;

  constructor(url: string, token: string | undefined, service: string) {
    this.#url = url.replace(/\/+$/, '');
    this.#token = token;
    this.#service = service;
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const headers: Record<string, string> = { ...extraHeaders };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.#url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the ${this.#service} at ${this.#url}: ${(err as Error).message}`,
        EXIT.unavailable,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text };
    }
    if (res.ok) return json as T;
    const answer = json as { error?: string; message?: string; issues?: Issue[]; errors?: unknown };
    const issues = answer.issues?.map((i) => `  ${i.path}: ${i.message}`).join('\n');
    const message = [answer.message ?? answer.error ?? `HTTP ${res.status}`, issues]
      .filter(Boolean)
      .join('\n');
    throw new CliError(message, exitCodeOf(res.status), json);
  }
}

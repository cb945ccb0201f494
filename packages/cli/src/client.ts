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

/** A small client of a service's API (the registry's, triage's): JSON in and out, refusals turned into CliErrors. */
export class RegistryClient {
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #service: string;

  constructor(url: string, token: string | undefined, service = 'registry') {
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
    if (res.ok || (res.status === 422 && path === '/api/import')) return json as T;
    const answer = json as { error?: string; message?: string; issues?: Issue[]; errors?: unknown };
    const issues = answer.issues?.map((i) => `  ${i.path}: ${i.message}`).join('\n');
    const message = [answer.message ?? answer.error ?? `HTTP ${res.status}`, issues]
      .filter(Boolean)
      .join('\n');
    const code =
      res.status === 401 || res.status === 403
        ? EXIT.unauthorised
        : res.status >= 500
          ? EXIT.unavailable
          : EXIT.refused;
    throw new CliError(message, code, json);
  }
}

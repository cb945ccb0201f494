export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A caller of the registry's API for a test: JSON in and out, the admin bearer token unless told
 * otherwise (`null`: no token). Both are read at each call: the registry starts in a hook.
 */
export function apiCaller(baseUrl: () => string, token: () => string) {
  return async (
    method: string,
    path: string,
    body?: unknown,
    auth: string | null = token(),
  ): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (auth !== null) headers.authorization = `Bearer ${auth}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

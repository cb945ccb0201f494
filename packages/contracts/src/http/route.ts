import { z } from 'zod';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Who may call a route: roles by name, any signed-in caller, or anyone (sign-in itself). */
export type RouteRoles = readonly string[] | 'signed-in' | 'anyone';

/**
 * One HTTP route as data: what it takes and answers (zod) and who may call it. Services mount
 * these (`mountRoutes` in @telecare/platform), OpenAPI is generated from them, and the typed
 * client (`createClient`) calls them; nothing about a route is written down twice.
 */
export interface RouteDefinition<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
  H extends Record<string, string> = Record<string, string>,
  X extends boolean = boolean,
> {
  method: HttpMethod;
  /** With `{name}` for a path parameter, as OpenAPI writes it: `/api/devices/{serial}`. */
  path: string;
  summary: string;
  roles: RouteRoles;
  params?: P;
  query?: Q;
  body?: B;
  /** The body's media type when it is not JSON (`text/csv`): the client sends the body as text. */
  consumes?: string;
  /**
   * The largest body the route reads, in bytes, when it is not the server's (1 MiB): a bulk
   * import. A larger one is refused with 413 before it is read whole.
   */
  bodyLimit?: number;
  /** Headers the route reads (`Idempotency-Key`), as a loose object: every other header passes. */
  headers?: z.ZodType;
  /** The answer on success. */
  response: R;
  /**
   * Headers of the answer on success, by name, with what each says (documented in OpenAPI). A
   * `Link` among them makes the route a list read page by page: the typed client gives it `pages()`.
   */
  responseHeaders?: H;
  /** The status of success (200 when not given). */
  status?: number;
  /** Other answers the route gives, by status, beside the error body. */
  responses?: Record<number, z.ZodType>;
  /** Refusals the route documents besides 401, 403 and 400. */
  errors?: readonly number[];
  /**
   * Set when the answer is not JSON (a stream, CSV): the client returns the raw Response, its body
   * unread; `response` documents what the body is.
   */
  raw?: X;
}

/** A route definition, typed by its schemas. */
export const defineRoute = <
  P extends z.ZodType = z.ZodType<Record<string, never>>,
  Q extends z.ZodType = z.ZodType<Record<string, never>>,
  B extends z.ZodType = z.ZodType<undefined>,
  R extends z.ZodType = z.ZodType,
  // The names are kept in the route's type, so the client knows a list read page by page.
  H extends Record<string, string> = Record<never, string>,
  // Kept in the route's type too, so the client's method of a raw route answers a Response.
  X extends boolean = false,
>(
  route: RouteDefinition<P, Q, B, R, H, X>,
): RouteDefinition<P, Q, B, R, H, X> => route;

// biome-ignore lint/suspicious/noExplicitAny: a table of routes holds routes of every schema
export type AnyRoute = RouteDefinition<any, any, any, any, any, any>;

/** Whether a route's contract says its answer is not JSON (`raw: true`): the client returns a Response. */
export type IsRaw<R extends AnyRoute> = NonNullable<R['raw']> extends true ? true : false;

/** Whether a route's contract names a `Link` header (any case): a list read page by page. */
export type IsPaged<R extends AnyRoute> =
  'link' extends Lowercase<keyof NonNullable<R['responseHeaders']> & string> ? true : false;

/** The same at run time. */
export const isPaged = (route: AnyRoute): boolean =>
  Object.keys(route.responseHeaders ?? {}).some((name) => name.toLowerCase() === 'link');
export type RouteTable = Record<string, AnyRoute>;

/** The path in Fastify's form: `/api/devices/:serial`. */
export const fastifyPath = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');

/** The error body every service answers a refusal with (`httpErrorHandler`). */
export const ApiError = z.looseObject({
  error: z.string(),
  message: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiError = z.infer<typeof ApiError>;

/** An answer with nothing in it worth reading. */
export const Empty = z.looseObject({});

/**
 * A `Link` header (RFC 8288) naming the next page of a list, as a path with its query: a list
 * read page by page keeps its body as it was (an array) and says where to go on here.
 */
export const nextPageLink = (path: string): string => `<${path}>; rel="next"`;

/** The next page's path and query from a `Link` header, or undefined on the last page. */
export function nextPageOf(link: string | null | undefined): string | undefined {
  for (const part of link?.split(',') ?? []) {
    const m = part.match(/^\s*<([^>]*)>(.*)$/);
    if (m && /;\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(m[2] ?? '')) return m[1];
  }
  return undefined;
}

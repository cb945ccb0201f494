import swagger from '@fastify/swagger';
import { type AnyRoute, ApiError, fastifyPath, type RouteTable } from '@telecare/contracts';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteOptions,
} from 'fastify';
import { createJsonSchemaTransform, serializerCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { createHttpServer, createMetrics } from './http.ts';
import {
  ForbiddenError,
  InvalidRequestError,
  type Issue,
  parseRequest,
  UNKNOWN_FIELD,
  UnsupportedMediaTypeError,
} from './http-errors.ts';
import { createLogger, type Logger } from './logger.ts';

/** A request to a route, typed by the route's schemas (after parsing). */
export type RouteRequest<R extends AnyRoute> = FastifyRequest<{
  Params: z.output<NonNullable<R['params']>>;
  Querystring: z.output<NonNullable<R['query']>>;
  Body: z.output<NonNullable<R['body']>>;
}>;

export type RouteHandler<R extends AnyRoute> = (
  req: RouteRequest<R>,
  reply: FastifyReply,
) => Promise<unknown> | unknown;

export type RouteHandlers<T extends RouteTable> = { [K in keyof T]: RouteHandler<T[K]> };

const PART_PREFIX = { body: '', querystring: '', params: 'params', headers: 'headers' } as const;

/**
 * A query refused where a parameter was given more than once (`?from=a&from=b`, which the query
 * parser makes a list): the issue at that parameter says so, rather than what zod says of a list
 * where it expects one value ("Invalid input").
 */
function givenOnce(error: unknown, query: unknown): unknown {
  if (!(error instanceof InvalidRequestError) || typeof query !== 'object' || query === null) return error;
  const times = new Map(
    Object.entries(query)
      .filter(([, v]) => Array.isArray(v))
      .map(([k, v]) => [k, (v as unknown[]).length]),
  );
  if (times.size === 0) return error;
  const issues: Issue[] = [];
  const said = new Set<string>();
  for (const issue of error.issues) {
    const name = issue.path.split('.')[0] ?? '';
    const n = times.get(name);
    if (n === undefined || issue.message === UNKNOWN_FIELD) issues.push(issue);
    else if (!said.has(name)) {
      said.add(name);
      issues.push({ path: name, message: `given more than once (${n} times): send it once` });
    }
  }
  return new InvalidRequestError(issues);
}

/**
 * Validation with the route's zod schemas, failing as an `InvalidRequestError` that names every
 * field (`parseRequest`), so that the one error handler answers it.
 */
const zodValidator: NonNullable<RouteOptions['validatorCompiler']> =
  ({ schema, httpPart }) =>
  (data: unknown) => {
    try {
      const prefix = PART_PREFIX[(httpPart ?? 'body') as keyof typeof PART_PREFIX] ?? '';
      return { value: parseRequest(schema as z.ZodType, data, prefix) };
    } catch (error) {
      return { error: (httpPart === 'querystring' ? givenOnce(error, data) : error) as Error };
    }
  };

/**
 * The query parameters a route takes: its query schema's fields, none without one. Undefined when
 * the schema is not a plain object (a transform): that schema alone decides.
 */
function queryKeysOf(route: AnyRoute): ReadonlySet<string> | undefined {
  if (!route.query) return new Set();
  const shape = (route.query as { shape?: unknown }).shape;
  return shape && typeof shape === 'object' ? new Set(Object.keys(shape)) : undefined;
}

/** The route's schemas in Fastify's form (for validation, serialization and OpenAPI). */
function fastifySchema(route: AnyRoute) {
  const errors = Object.fromEntries(
    [400, 401, 403, ...(route.errors ?? [])].map((status) => [status, ApiError]),
  );
  return {
    summary: route.summary,
    description: `Roles: ${Array.isArray(route.roles) ? route.roles.join(', ') : route.roles}`,
    ...(route.params ? { params: route.params } : {}),
    ...(route.query ? { querystring: route.query } : {}),
    ...(route.body ? { body: route.body } : {}),
    ...(route.consumes ? { consumes: [route.consumes] } : {}),
    ...(route.headers ? { headers: route.headers } : {}),
    // A raw answer (a stream, CSV) is not serialised through its schema: only the refusals are.
    response: {
      ...errors,
      ...route.responses,
      ...(route.raw ? {} : { [route.status ?? 200]: route.response }),
    },
  };
}

/**
 * Mounts a table of routes on `app`: validation and serialization with their zod schemas
 * (fastify-type-provider-zod), the role check of each route before its body is read, so a
 * caller who may not act learns nothing about validation, then unknown query parameters refused by
 * name (every route's query is strict, with a schema or without one). `roleOf` says the caller's role
 * (undefined: not signed in, which the service's own onRequest hook has already answered 401).
 */
export function mountRoutes<T extends RouteTable>(
  app: FastifyInstance,
  routes: T,
  handlers: RouteHandlers<T>,
  roleOf: (req: FastifyRequest) => string | undefined,
): void {
  for (const [name, route] of Object.entries(routes)) {
    const handler = handlers[name] as RouteHandler<AnyRoute>;
    const queryKeys = queryKeysOf(route);
    const options: RouteOptions = {
      method: route.method,
      url: fastifyPath(route.path),
      schema: fastifySchema(route),
      validatorCompiler: zodValidator,
      serializerCompiler: serializerCompiler as RouteOptions['serializerCompiler'],
      config: {
        contract: name,
        ...(route.responseHeaders
          ? { responseHeaders: { status: route.status ?? 200, described: route.responseHeaders } }
          : {}),
      } as RouteOptions['config'],
      ...(route.bodyLimit ? { bodyLimit: route.bodyLimit } : {}),
      preValidation: async (req: FastifyRequest) => {
        const role = roleOf(req) ?? 'unknown';
        if (Array.isArray(route.roles) && !route.roles.includes(role))
          throw new ForbiddenError(
            `${route.method} ${route.path} needs the role ${route.roles.join(' or ')}; you are signed in as ${role}`,
          );
        const type = String(req.headers['content-type'] ?? '');
        if (route.consumes && !type.startsWith(route.consumes))
          throw new UnsupportedMediaTypeError(`send the body as ${route.consumes}`);
        // Every query is strict, as every body is: a parameter the route does not take (a misspelt
        // `limit`, a filter it does not have) is refused by name rather than ignored, and before the
        // body is read, so a client learns of it whatever else is wrong with the request.
        const unknown = queryKeys
          ? Object.keys((req.query as Record<string, unknown> | undefined) ?? {}).filter(
              (k) => !queryKeys.has(k),
            )
          : [];
        if (unknown.length > 0)
          throw new InvalidRequestError(unknown.map((path) => ({ path, message: UNKNOWN_FIELD })));
      },
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        if (route.status) reply.code(route.status);
        return handler(req as RouteRequest<AnyRoute>, reply);
      },
    };
    app.route(options);
  }
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
  /** Where the service serves the document (default `/openapi.json`). */
  path?: string;
  /** The session cookie people sign in with, beside the bearer token programs send. */
  sessionCookie?: string;
}

const transform = createJsonSchemaTransform({});

/** A route's `responseHeaders`, with the status of its success. */
type Headers = { status: number; described: Record<string, string> };

/**
 * The success answer's headers in the document (the zod transform keeps only the body's schema):
 * @fastify/swagger writes a response schema's `headers` as the response's headers.
 */
function withResponseHeaders<T extends { schema: unknown }>(doc: T, headers: Headers | undefined): T {
  const response = (doc.schema as { response?: Record<string, Record<string, unknown>> }).response;
  const success = headers && response?.[headers.status];
  if (!headers || !success) return doc;
  success.headers = Object.fromEntries(
    Object.entries(headers.described).map(([name, description]) => [name, { type: 'string', description }]),
  );
  return doc;
}

/**
 * Registers @fastify/swagger on `app` (before the routes it documents) and serves the document at
 * `info.path` (`/openapi.json`). Only routes with a contract (mounted by `mountRoutes`) are documented.
 */
export async function serveOpenApi(app: FastifyInstance, options: OpenApiInfo): Promise<void> {
  const { path = '/openapi.json', sessionCookie, ...info } = options;
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          ...(sessionCookie ? { session: { type: 'apiKey', in: 'cookie', name: sessionCookie } } : {}),
        },
      },
      security: [{ bearer: [] }, ...(sessionCookie ? [{ session: [] }] : [])],
    },
    transform: (document) => {
      const config = document.route.config as { contract?: string; responseHeaders?: Headers } | undefined;
      if (!config?.contract) return { schema: { hide: true }, url: document.url };
      return withResponseHeaders(transform(document), config.responseHeaders);
    },
  });
  app.get(path, { schema: { hide: true } }, async () => app.swagger());
}

/**
 * The OpenAPI document of a table of routes, without the service: the routes mounted on a bare
 * app with handlers that are never called (for the committed copy and for tests).
 */
export async function openApiDocument(info: OpenApiInfo, routes: RouteTable): Promise<unknown> {
  const app = Fastify();
  await serveOpenApi(app, info);
  const never = () => {
    throw new Error('not served');
  };
  mountRoutes(
    app,
    routes,
    Object.fromEntries(Object.keys(routes).map((name) => [name, never])) as RouteHandlers<RouteTable>,
    () => undefined,
  );
  await app.ready();
  const document = app.swagger();
  await app.close();
  return JSON.parse(JSON.stringify(document));
}

/** Every route mounted with a contract on `app`, as `METHOD /path`, collected as they are added. */
export function collectRoutes(app: FastifyInstance): Set<string> {
  const seen = new Set<string>();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) if (method !== 'HEAD') seen.add(`${method} ${route.url}`);
  });
  return seen;
}

/** How a service's routes stand against its contracts: each list is `METHOD /path`, sorted. */
export interface ContractsServed {
  /** The routes of the contracts. */
  contracts: string[];
  /** The routes the service mounted under `/api/` (its OpenAPI document aside). */
  mounted: string[];
  /** The routes in the OpenAPI document the service serves. */
  documented: string[];
  /** That document. */
  served: unknown;
  /** The document generated from the contracts alone (`openApiDocument`), as committed. */
  generated: unknown;
}

/**
 * Mounts a service's routes on a bare server (`register`, with a silent logger; nothing is called)
 * and says what it mounted and documents beside its contracts, for the test that keeps the
 * routes, the contracts and the committed OpenAPI document one.
 */
export async function contractsServed(
  info: OpenApiInfo,
  routes: RouteTable,
  register: (app: FastifyInstance, logger: Logger) => Promise<void>,
): Promise<ContractsServed> {
  const logger = createLogger('contracts-check', 'silent');
  const app = createHttpServer({ logger, metrics: createMetrics('contracts-check'), readiness: {} });
  const seen = collectRoutes(app);
  const documentPath = info.path ?? '/openapi.json';
  try {
    await register(app, logger);
    await app.ready();
    const served = (await app.inject({ url: documentPath })).json();
    const documented = Object.entries(served.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`),
    );
    return {
      contracts: Object.values(routes)
        .map((r) => `${r.method} ${fastifyPath(r.path)}`)
        .sort(),
      mounted: [...seen].filter((r) => r.includes(' /api/') && r !== `GET ${documentPath}`).sort(),
      documented: documented.sort(),
      served,
      generated: await openApiDocument(info, routes),
    };
  } finally {
    await app.close();
  }
}

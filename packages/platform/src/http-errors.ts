import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { postgresRefusal, TelecareError } from './errors.ts';
import { nulPaths } from './input.ts';
import type { Logger } from './logger.ts';

/** One field at fault: dotted (`postcode`, `data.celsius`), or `(body)` for the whole body. */
export interface Issue {
  path: string;
  message: string;
}

/**
 * An error a request can end in, with the HTTP status and the `error` code the answer carries.
 * Services subclass the kinds below; `httpErrorHandler` is the one place they become answers.
 */
export abstract class RequestError extends TelecareError {
  readonly retryable: boolean = false;
  abstract readonly status: number;
  abstract readonly code: string;
  /** Fields the answer carries beside `error` and `message`. */
  details(): Record<string, unknown> {
    return {};
  }
  /** Headers the answer carries (Retry-After). */
  headers(): Record<string, string> {
    return {};
  }
}

/** The body, query or path is not acceptable; every issue names its field (400). */
export class InvalidRequestError extends RequestError {
  readonly status = 400;
  readonly code = 'invalid-request';
  constructor(readonly issues: readonly Issue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
  override details() {
    return { issues: this.issues };
  }
}

/** No credentials, or credentials that name no one (401). */
export class UnauthorizedError extends RequestError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

/** The caller is known but may not do this (403). */
export class ForbiddenError extends RequestError {
  readonly status = 403;
  readonly code = 'forbidden';
}

/** What the request names does not exist (404). */
export class NotFoundError extends RequestError {
  readonly status = 404;
  readonly code = 'not-found';
}

/**
 * Well formed, but the record's present state does not allow it: 409 (conflict) or 422 (refers to
 * something that is not there), with a code that says which refusal it is.
 */
export class RefusedError extends RequestError {
  constructor(
    readonly status: 409 | 422,
    readonly code: string,
    message: string,
    readonly issues: readonly Issue[] = [],
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message, { context: { code } });
  }
  override details() {
    return { ...(this.issues.length > 0 ? { issues: this.issues } : {}), ...this.extra };
  }
}

/** Too many attempts of one kind by one caller in the window: 429 with Retry-After. */
export class RateLimitedError extends RequestError {
  override readonly retryable = true;
  readonly status = 429;
  constructor(
    readonly action: string,
    readonly retryAfterS: number,
    readonly code: string = 'rate-limited',
    message = `too many attempts to ${action}; try again in ${retryAfterS} s`,
  ) {
    super(message, { context: { action, retryAfterS } });
  }
  override headers() {
    return { 'retry-after': String(this.retryAfterS) };
  }
}

/** The body is not of the media type the route reads (415). */
export class UnsupportedMediaTypeError extends RequestError {
  readonly status = 415;
  readonly code = 'unsupported';
}

/** A dependency the request needs did not answer or refused (503). */
export class UnavailableError extends RequestError {
  override readonly retryable = true;
  readonly status = 503;
  readonly code = 'unavailable';
}

/** What an issue says of a field that is not one. */
export const UNKNOWN_FIELD = 'unknown field';

/**
 * The issues of a zod error, one per field: unknown fields named one by one (so a typo is not
 * silently dropped), a missing body or a whole-body problem as `(body)`.
 */
export function requestIssues(error: z.ZodError, prefix = ''): Issue[] {
  const issues: Issue[] = [];
  for (const issue of error.issues) {
    const at = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ path: at ? `${at}.${key}` : key, message: UNKNOWN_FIELD });
    } else {
      issues.push({ path: at || '(body)', message: issue.message });
    }
  }
  return issues;
}

/**
 * Parses a request part, or throws an InvalidRequestError naming every field at fault. A missing
 * body counts as `{}` (one issue per required field); NUL is refused by field, because PostgreSQL
 * text cannot hold it.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const value = input === undefined || input === null ? {} : input;
  const withNul = nulPaths(value);
  if (withNul.length > 0)
    throw new InvalidRequestError(
      withNul.map((path) => ({
        path: prefix ? `${prefix}.${path}` : path,
        message: 'must not contain NUL (\\u0000)',
      })),
    );
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidRequestError(requestIssues(result.error, prefix));
}

/** Node socket errors of a server that is down, restarting or out of reach. */
const DOWN_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
/** PostgreSQL states of a server going down or not yet up: admin or crash shutdown, starting up, too many connections. */
const DOWN_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/**
 * What node-postgres says, without a code, of a connection cut or never made, or of a server that
 * stopped answering (`query_timeout`, past the server's own statement timeout).
 */
const DOWN_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|Query read timeout)/;

/**
 * Whether an error says a server the request needed (PostgreSQL) is down or restarting, or answers
 * but refuses all work of its kind for now (read-only, disk full: `postgresRefusal`), rather than
 * that the request or the code is wrong: such a request is worth retrying, a 503.
 */
export function isDependencyDown(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (postgresRefusal(err)) return true;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  if (code && (DOWN_ERRNOS.has(code) || DOWN_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  if (err instanceof Error && DOWN_MESSAGES.test(err.message)) return true;
  // Connecting to a name with several addresses fails with every attempt's error.
  if (err instanceof AggregateError) return err.errors.some(isDependencyDown);
  return 'cause' in err && err.cause !== err && isDependencyDown(err.cause);
}

/** A byte count as people read a body limit: `1 MiB`, `16 MiB`, `512 KiB`. */
const mebibytes = (bytes: number): string =>
  bytes >= 1_048_576 ? `${+(bytes / 1_048_576).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;

const statusOf = (err: unknown): number => {
  const status = typeof err === 'object' && err !== null && 'statusCode' in err ? err.statusCode : 500;
  return typeof status === 'number' ? status : 500;
};

/**
 * The one error-to-HTTP mapper of every service: a `RequestError` becomes its status and code
 * (400 naming fields, 401, 403, 404, 409/422, 429 with Retry-After, 503); Fastify's own 4xx
 * (malformed JSON, wrong content type, body too large) a 4xx naming the body; PostgreSQL down or
 * restarting (`isDependencyDown`) a 503 with Retry-After; anything else a 500
 * that is logged and never shows a stack trace to the client.
 */
export function httpErrorHandler(options: {
  logger: Logger;
  /** What a 500 says, in the service's words. */
  internalMessage?: string;
  /** Told of every refusal by code (for a `refused` counter). */
  onRefused?: (code: string, err: unknown) => void;
}) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof RequestError) {
      if (err.status < 500) options.onRefused?.(err.code, err);
      else options.logger.warn({ err, url: req.routeOptions.url }, 'dependency refused or did not answer');
      return reply
        .code(err.status)
        .headers(err.headers())
        .send({ error: err.code, message: err.message, ...err.details() });
    }
    const status = statusOf(err);
    if (status >= 400 && status < 500) {
      options.onRefused?.('invalid-request', err);
      // A body too large says how large a body the route takes (its own limit, or the server's).
      const limit = req.routeOptions.bodyLimit ?? req.server.initialConfig.bodyLimit;
      const message =
        status === 413 && limit
          ? `the body is larger than this route takes (${mebibytes(limit)})`
          : err.message;
      return reply.code(status).send({
        error: 'invalid-request',
        message,
        issues: [{ path: '(body)', message }],
      });
    }
    const refusal = postgresRefusal(err);
    if (refusal) {
      // The database answers but refuses (read-only, disk full): the pool says why, once; each
      // request is a line without a stack, and the client is told nothing was saved.
      options.logger.warn(
        { code: refusal.code, url: req.routeOptions.url },
        'request refused by PostgreSQL: answered 503',
      );
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({
          error: 'unavailable',
          message: `${refusal.what}: nothing was saved; try again shortly`,
        });
    }
    if (isDependencyDown(err)) {
      // Neither the request's fault nor a bug: the database is down or restarting. No detail of
      // where it is goes to the client.
      options.logger.warn({ err, url: req.routeOptions.url }, 'a server this needs is down');
      return reply.code(503).header('retry-after', '5').send({
        error: 'unavailable',
        message: 'a server this service needs is down or restarting: try again shortly',
      });
    }
    options.logger.error({ err, method: req.method, url: req.routeOptions.url }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: options.internalMessage ?? 'internal error' });
  };
}

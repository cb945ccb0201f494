import { timingSafeEqual } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export type { FastifyInstance, FastifyReply, FastifyRequest, Registry };
/** Metric classes, so services register on `createMetrics`' registry without their own prom-client. */
export { Counter, Gauge, Histogram };

export type ReadinessCheck = () => Promise<boolean> | boolean;

/**
 * How long a client may take to send one whole request, headers and body: the largest body a
 * route takes (10 MiB) within it on a link of 1 Mbit/s, a trickle that never ends refused (408).
 */
export const REQUEST_TIMEOUT_MS = 120_000;

/**
 * The HTTP server every service runs: `/healthz` (alive), `/readyz` (connected to what it needs),
 * `/metrics` (Prometheus). Services add their own routes before `listen`.
 */
export function createHttpServer(options: {
  logger: Logger;
  metrics: Registry;
  readiness: Record<string, ReadinessCheck>;
  /** Whether the process is draining: `/readyz` then answers 503 `draining` whatever the checks say. */
  draining?: () => boolean;
  /** What else `/readyz` tells (say, which partitions an instance owns), beside `status` and `checks`. */
  details?: () => Record<string, unknown>;
  /**
   * Proxies whose X-Forwarded-For / -Proto are believed (addresses or CIDRs): then `req.ip` is the
   * client's address, which per-address limits need. Unset: the peer's address.
   */
  trustProxy?: string[] | undefined;
  /** How long a client may take to send a whole request, headers and body (`REQUEST_TIMEOUT_MS`). */
  requestTimeoutMs?: number;
}): FastifyInstance {
  // Requests are logged at info; keep the HTTP logger at warn or quieter so the logs carry events.
  const { logger } = options;
  const level = (logger.levels.values[logger.level] ?? 0) >= 40 ? logger.level : 'warn';
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }, { level }) as FastifyBaseLogger,
    bodyLimit: 1_048_576,
    // Fastify turns Node's whole-request timeout off unless told, and no idle timeout is set (the
    // live stream is quiet between pings): a body sent a byte at a time held its connection, and
    // what it had sent, for as long as the sender liked. It applies to receiving the request, so a
    // long answer (the stream, a CSV) is not cut. Given to Node's server as it is made: set on it
    // afterwards (as Fastify's own `requestTimeout` is), Node 20 does not apply it. Node looks
    // for late requests every `connectionsCheckingInterval`; a few times per timeout, it ends
    // them near it.
    requestTimeout,
    http: {
      requestTimeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.round(requestTimeout / 4))),
    },
    ...(options.trustProxy?.length ? { trustProxy: options.trustProxy } : {}),
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(options.readiness)) {
      try {
        checks[name] = await check();
      } catch {
        checks[name] = false;
      }
    }
    const draining = options.draining?.() ?? false;
    const ready = !draining && Object.values(checks).every(Boolean);
    const status = draining ? 'draining' : ready ? 'ready' : 'not-ready';
    return reply.code(ready ? 200 : 503).send({ ...options.details?.(), status, checks });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', options.metrics.contentType).send(await options.metrics.metrics()),
  );
  return app;
}

/** A Prometheus registry with the process defaults, labelled with the service name. */
export function createMetrics(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Whether two secrets are equal, in time that does not tell how much of them matched. */
export const sameSecret = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The token of `Authorization: Bearer <token>`, or '' for any other header or none. */
export const bearerToken = (header: string | undefined): string =>
  header?.startsWith('Bearer ') ? header.slice(7).trim() : '';

/**
 * A preHandler that admits `Authorization: Bearer <token>` for the admin token. Issue-specific
 * roles and personal logins build on this.
 */
export function bearerAuth(adminToken: string | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(req.headers.authorization);
    if (!adminToken || !token || !sameSecret(token, adminToken)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <token>' });
    }
  };
}

import { timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { BlockList, isIPv4, isIPv6, type Socket } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { postgresRefusal } from './errors.ts';
import type { Logger } from './logger.ts';
import { DATA_POLICY, securityHeaders } from './web-security.ts';

export type { FastifyInstance, FastifyReply, FastifyRequest, Registry };
/** Metric classes, so services register on `createMetrics`' registry without their own prom-client. */
export { Counter, Gauge, Histogram };

/** Ready (true) or not (false, or why not in words, which `/readyz` tells under `reasons`). */
export type ReadinessCheck = () => Promise<boolean | string> | boolean | string;

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
  /**
   * Sockets one peer address may hold open (`HTTP_CONNECTIONS_PER_ADDRESS`); one more is destroyed
   * as it arrives. 0: no cap. The peer is the socket's, not X-Forwarded-For's: behind a proxy every
   * client shares the proxy's address, so a peer in `trustProxy` is not capped per address (it is
   * every client behind it; the total cap still holds).
   */
  connectionsPerAddress?: number;
  /** Sockets the server holds open in all (`HTTP_MAX_CONNECTIONS`, Node's `maxConnections`). 0: no cap. */
  maxConnections?: number;
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
    clientErrorHandler: answerClientError,
  });
  capConnections(app, logger, options.metrics, {
    perAddress: options.connectionsPerAddress ?? HTTP_CONNECTIONS_PER_ADDRESS,
    total: options.maxConnections ?? 0,
    proxies: proxiesOf(options.trustProxy ?? []),
  });
  // Every answer is data until a page says otherwise (`registerWebSecurity`): set on the socket's
  // response before anything else runs, so refusals, errors, 404s and answers written past
  // Fastify (the live stream) carry them too; a header the route sets replaces its default.
  app.addHook('onRequest', async (req, reply) => {
    for (const [name, value] of Object.entries(securityHeaders(req))) reply.raw.setHeader(name, value);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, boolean> = {};
    const reasons: Record<string, string> = {};
    for (const [name, check] of Object.entries(options.readiness)) {
      try {
        const answer = await check();
        checks[name] = answer === true;
        if (typeof answer === 'string') reasons[name] = answer;
      } catch (err) {
        checks[name] = false;
        // PostgreSQL answering with a refusal (no connection free, say) says why.
        const refusal = postgresRefusal(err);
        if (refusal) reasons[name] = refusal.reason;
      }
    }
    const draining = options.draining?.() ?? false;
    const ready = !draining && Object.values(checks).every(Boolean);
    const status = draining ? 'draining' : ready ? 'ready' : 'not-ready';
    return reply.code(ready ? 200 : 503).send({
      ...options.details?.(),
      status,
      checks,
      ...(Object.keys(reasons).length > 0 ? { reasons } : {}),
    });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', options.metrics.contentType).send(await options.metrics.metrics()),
  );
  return app;
}

/** Headers of an answer the server writes itself, before any request could be read. */
const RAW_HEADERS = [
  'Content-Type: application/json',
  `Content-Security-Policy: ${DATA_POLICY}`,
  'X-Content-Type-Options: nosniff',
  'Referrer-Policy: no-referrer',
  'X-Frame-Options: DENY',
  'Connection: close',
].join('\r\n');

/**
 * A request the server cannot read (malformed, headers past Node's limit, or not whole within
 * the request timeout) is answered on the socket, past every route and hook: as Fastify's own
 * handler does, with the security headers every other answer carries.
 */
function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request did not arrive whole in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are too large']
        : [400, 'the request could not be read'];
  const reason = STATUS_CODES[status] ?? '';
  const body = JSON.stringify({ error: reason, message, statusCode: status });
  this.log.trace({ err }, 'client error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${RAW_HEADERS}\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * Sockets one client address may hold open by default: a console holds a handful (its stream and
 * a few requests), a program a pool; thousands from one address are an attack on memory and file
 * descriptors, not a client.
 */
export const HTTP_CONNECTIONS_PER_ADDRESS = 256;

/** `::ffff:10.0.0.1` and `10.0.0.1` are one client. */
const clientOf = (address: string | undefined): string =>
  address?.startsWith('::ffff:') ? address.slice(7) : (address ?? '');

/** The names Fastify's `trustProxy` (proxy-addr) takes for address ranges. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/**
 * The trusted proxies (`trustProxy`: addresses, CIDRs, or proxy-addr's names) as a list sockets'
 * peers are matched against; an entry it cannot read matches nothing (Fastify refuses it anyway).
 */
function proxiesOf(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries.flatMap((e) => NAMED_RANGES[e] ?? [e])) {
    const [address = '', bits] = entry.split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (type === undefined) continue;
    if (bits === undefined) list.addAddress(address, type);
    else if (/^\d+$/.test(bits)) list.addSubnet(address, Number(bits), type);
  }
  return list;
}

const isProxy = (proxies: BlockList | undefined, client: string): boolean =>
  proxies !== undefined &&
  (isIPv4(client) ? proxies.check(client, 'ipv4') : isIPv6(client) && proxies.check(client, 'ipv6'));

/**
 * Refuses a socket past `perAddress` open from its peer address, or past `total` open in all,
 * before a byte of it is read: destroyed at once, counted in `http_connections_refused_total`
 * by reason, and the first refusal of an address while it is at its cap logged.
 */
function capConnections(
  app: FastifyInstance,
  logger: Logger,
  metrics: Registry,
  caps: { perAddress: number; total: number; proxies: BlockList | undefined },
): void {
  const name = 'http_connections_refused_total';
  const refused =
    (metrics.getSingleMetric(name) as Counter<'reason'> | undefined) ??
    new Counter({
      name,
      help: 'HTTP connections refused as they arrived: past the cap of one client address (per-address) or of the server (total)',
      labelNames: ['reason'] as const,
      registers: [metrics],
    });
  refused.inc({ reason: 'per-address' }, 0);
  refused.inc({ reason: 'total' }, 0);
  const log = logger.child({ component: 'http' });
  if (caps.total > 0) {
    app.server.maxConnections = caps.total;
    // Node closes the socket itself and says so.
    app.server.on('drop', () => refused.inc({ reason: 'total' }));
  }
  if (caps.perAddress <= 0) return;
  const open = new Map<string, number>();
  const told = new Set<string>();
  app.server.on('connection', (socket: Socket) => {
    const client = clientOf(socket.remoteAddress);
    // A trusted proxy's sockets are every client behind it (a helpline's consoles behind its TLS
    // proxy): capped as one client, operators' live streams would be cut off. The proxy caps
    // per client; the total cap still holds here.
    if (isProxy(caps.proxies, client)) return;
    const held = open.get(client) ?? 0;
    if (held >= caps.perAddress) {
      refused.inc({ reason: 'per-address' });
      if (!told.has(client)) {
        told.add(client);
        log.warn(
          { clientIp: client, open: held, cap: caps.perAddress },
          'HTTP connections refused: this address holds as many as it may',
        );
      }
      socket.destroy();
      return;
    }
    open.set(client, held + 1);
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left > 0) open.set(client, left);
      else open.delete(client);
      if (left < caps.perAddress) told.delete(client);
    });
  });
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

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OUTCOMES } from '@telecare/contracts';
import {
  bearerAuth,
  type Clock,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type Logger,
} from '@telecare/platform';
import type { z } from 'zod';
import { type ApiError, CaseIdParams, HoldBody, ListCasesQuery, ResolveBody } from './api.ts';
import { CaseNotFoundError, TransitionRefusedError } from './errors.ts';
import type { CaseFeed, FeedEntry } from './feed.ts';
import type { HelplineMetrics } from './metrics.ts';
import type { CasePublisher } from './publisher.ts';
import type { CaseStore, TransitionInput } from './store.ts';
import type { Action } from './transitions.ts';

export interface RouteDeps {
  readonly store: CaseStore;
  readonly feed: CaseFeed;
  readonly publisher: CasePublisher;
  readonly metrics: HelplineMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly adminToken: string | undefined;
}

const HEARTBEAT_MS = 15_000;
const CONSOLE_HTML = fileURLToPath(new URL('../public/console.html', import.meta.url));

class InvalidRequest extends Error {
  constructor(readonly issues: string[]) {
    super(issues.join('; '));
  }
}

const parse = <S extends z.ZodType>(schema: S, value: unknown): z.infer<S> => {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new InvalidRequest(result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`));
};

/**
 * Who did it, for the audit trail. Today only the admin token exists; personal logins with roles
 * will put the operator's id here.
 */
const actorOf = (_req: FastifyRequest): string => 'admin';

const sseFrame = (entry: FeedEntry): string =>
  `id: ${entry.seq}\nevent: case\ndata: ${JSON.stringify(entry.case)}\n\n`;

/** Open SSE responses, ended when the service drains so the HTTP server can close. */
export type StreamRegistry = Set<() => void>;

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): StreamRegistry {
  const streams: StreamRegistry = new Set();
  const auth = bearerAuth(deps.adminToken);
  const consoleHtml = readFileSync(CONSOLE_HTML, 'utf8').replace('/*OUTCOMES*/[]', JSON.stringify(OUTCOMES));

  app.get('/', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(consoleHtml),
  );

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof InvalidRequest)
      return reply
        .code(400)
        .send({ error: 'invalid-request', message: err.message, issues: err.issues } satisfies ApiError);
    if (err instanceof CaseNotFoundError)
      return reply.code(404).send({ error: 'not-found', message: err.message } satisfies ApiError);
    if (err instanceof TransitionRefusedError)
      return reply
        .code(409)
        .send({ error: 'refused', message: err.message, state: err.state } satisfies ApiError);
    const status =
      typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : 500;
    if (status >= 400 && status < 500)
      return reply.code(status).send({
        error: 'invalid-request',
        message: err instanceof Error ? err.message : 'bad request',
      } satisfies ApiError);
    deps.logger.error({ err, url: req.url }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  app.get('/api/cases', { preHandler: auth }, async (req) => {
    const query = parse(ListCasesQuery, req.query);
    return deps.store.list(query.state, query.limit);
  });

  app.get('/api/cases/:id', { preHandler: auth }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    return { ...stored.case, events: await deps.store.events(id) };
  });

  const transition = (action: Action, input: (req: FastifyRequest, now: Date) => TransitionInput) =>
    app.post(`/api/cases/:id/${action}`, { preHandler: auth }, async (req) => {
      const now = new Date(deps.clock.now());
      try {
        const { id } = parse(CaseIdParams, req.params);
        const result = await deps.store.transition(id, input(req, now), actorOf(req), now);
        deps.metrics.transitions.inc({ action });
        deps.publisher.flushInBackground();
        return result.case;
      } catch (err) {
        const reason =
          err instanceof InvalidRequest
            ? 'invalid'
            : err instanceof TransitionRefusedError
              ? 'state'
              : err instanceof CaseNotFoundError
                ? 'not-found'
                : 'error';
        deps.metrics.transitionsRefused.inc({ action, reason });
        throw err;
      }
    });

  transition('accept', () => ({ action: 'accept' }));
  transition('hold', (req, now) => {
    const body = parse(HoldBody, req.body);
    const until = new Date(body.until);
    if (until.getTime() <= now.getTime())
      throw new InvalidRequest(['until: the call-back time must be in the future']);
    return { action: 'hold', until, reason: body.reason, returnPriority: body.returnPriority };
  });
  transition('resolve', (req) => {
    const body = parse(ResolveBody, req.body);
    return { action: 'resolve', outcome: body.outcome, reason: body.reason };
  });

  // EventSource cannot send headers, so the stream also takes the token as ?access_token=.
  const streamAuth = async (req: FastifyRequest, reply: FastifyReply) => {
    const query = req.query as Record<string, unknown> | undefined;
    const token = query?.access_token;
    if (!req.headers.authorization && typeof token === 'string')
      req.headers.authorization = `Bearer ${token}`;
    return auth(req, reply);
  };

  app.get('/api/stream', { preHandler: streamAuth }, async (req, reply) => {
    const header = req.headers['last-event-id'];
    const lastId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');

    // Listen before reading the catch-up, so nothing falls between the two.
    let ready = false;
    const held: FeedEntry[] = [];
    const unsubscribe = deps.feed.subscribe((entry) => {
      if (ready) res.write(sseFrame(entry));
      else held.push(entry);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const end = () => {
      unsubscribe();
      clearInterval(heartbeat);
      streams.delete(end);
      deps.metrics.streamClients.dec();
      res.end();
    };
    streams.add(end);
    deps.metrics.streamClients.inc();
    // The response closes when the client goes away (or when we end it).
    res.on('close', () => streams.has(end) && end());

    try {
      const replay = lastId === undefined ? undefined : deps.feed.replayAfter(lastId);
      let sentUpTo: number;
      if (replay) {
        for (const entry of replay) res.write(sseFrame(entry));
        sentUpTo = replay.at(-1)?.seq ?? (lastId as number);
      } else {
        // A fresh client, or one whose Last-Event-ID the feed no longer holds: the open cases as
        // they are now, labelled with the feed position they are at least as new as.
        const position = deps.feed.position;
        // Tells the client to drop what it holds: the list that follows is complete.
        res.write(`event: snapshot\ndata: ${JSON.stringify({ position })}\n\n`);
        for (const item of await deps.store.list('open', 1000))
          res.write(sseFrame({ seq: position, case: item }));
        sentUpTo = position;
      }
      for (const entry of held) if (entry.seq > sentUpTo) res.write(sseFrame(entry));
      ready = true;
    } catch (err) {
      deps.logger.warn({ err }, 'stream catch-up failed; closing so the client reconnects');
      if (streams.has(end)) end();
    }
  });

  return streams;
}

import { ApiCallError, createClient, defineRoute, nextPageLink } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpServer, createMetrics } from './http.ts';
import { httpErrorHandler, NotFoundError } from './http-errors.ts';
import { createLogger } from './logger.ts';
import { mountRoutes } from './routes.ts';
import { sleep } from './work.ts';

const Thing = z.looseObject({ id: z.string(), size: z.number() });
const ROUTES = {
  getThing: defineRoute({
    method: 'GET',
    path: '/api/things/{id}',
    summary: 'one thing',
    roles: ['reader', 'writer'],
    params: z.object({ id: z.string() }),
    query: z.object({ delayMs: z.coerce.number().default(0) }),
    response: Thing,
    errors: [404],
  }),
  createThing: defineRoute({
    method: 'POST',
    path: '/api/things',
    summary: 'a new thing',
    roles: ['writer'],
    body: z.strictObject({ size: z.number().int().min(1) }),
    response: Thing,
    status: 201,
  }),
  listThings: defineRoute({
    method: 'GET',
    path: '/api/things',
    summary: 'things a page at a time',
    roles: ['reader', 'writer'],
    query: z.object({
      after: z.coerce.number().int().default(0),
      limit: z.coerce.number().int().default(2),
      linkTo: z.enum(['here', 'elsewhere', 'itself']).default('here'),
    }),
    response: z.array(Thing),
    responseHeaders: { Link: 'the next page' },
  }),
  exportThings: defineRoute({
    method: 'GET',
    path: '/api/things.csv',
    summary: 'every thing as CSV (text/csv), or a stream of them that stays open',
    roles: ['reader', 'writer'],
    query: z.object({ answer: z.enum(['whole', 'stream', 'refusal']).default('whole') }),
    response: z.string(),
    raw: true,
    errors: [404],
  }),
};

/** Five things, listed by size. */
const THINGS = [1, 2, 3, 4, 5].map((size) => ({ id: `t${size}`, size }));

const logger = createLogger('client-test', 'silent');
const app = createHttpServer({ logger, metrics: createMetrics('client-test'), readiness: {} });
let baseUrl = '';

beforeAll(async () => {
  app.setErrorHandler(httpErrorHandler({ logger }));
  mountRoutes(
    app,
    ROUTES,
    {
      getThing: async (req) => {
        await sleep(req.query.delayMs);
        if (req.params.id === 'missing') throw new NotFoundError('no thing missing');
        return { id: req.params.id, size: 1 };
      },
      createThing: async (req) => ({ id: 'new', size: req.body.size }),
      listThings: async (req, reply) => {
        const { after, limit, linkTo } = req.query;
        const page = THINGS.filter((t) => t.size > after).slice(0, limit);
        const last = page.at(-1);
        if (last && last.size < THINGS.length) {
          const next = `/api/things?after=${last.size}&limit=${limit}&linkTo=${linkTo}`;
          const link =
            linkTo === 'elsewhere'
              ? `http://127.0.0.1:9${next}`
              : linkTo === 'itself'
                ? `/api/things?after=${after}&limit=${limit}&linkTo=${linkTo}`
                : next;
          reply.header('link', nextPageLink(link));
        }
        return page;
      },
      exportThings: async (req, reply) => {
        if (req.query.answer === 'refusal') throw new NotFoundError('no things to export');
        reply.header('content-type', 'text/csv; charset=utf-8');
        if (req.query.answer === 'whole')
          return `id,size\n${THINGS.map((t) => `${t.id},${t.size}`).join('\n')}\n`;
        // The first line at once, the rest never (until the caller goes): a stream.
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
        reply.raw.write('id,size\n');
        await new Promise((resolve) => reply.raw.on('close', resolve));
      },
    },
    (req) => (req.headers.authorization === 'Bearer w' ? 'writer' : 'reader'),
  );
  baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  // A connection fetch opened and has sent no request on is not idle to Node: `close()` would
  // wait for it until the headers timeout.
  app.server.closeAllConnections();
  await app.close();
});

const refusal = async (promise: Promise<unknown>): Promise<ApiCallError> => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiCallError);
  return err as ApiCallError;
};

describe('the typed client of a route table', () => {
  it('fills the path, sends the bearer token and body, and parses the answer', async () => {
    const client = createClient(ROUTES, { baseUrl, token: 'w' });
    expect(await client.getThing({ params: { id: 'a b' } })).toEqual({ id: 'a b', size: 1 });
    expect(await client.createThing({ body: { size: 3 } })).toEqual({ id: 'new', size: 3 });
  });

  it('turns a refusal into an ApiCallError with the status, code and the fields at fault', async () => {
    const writer = createClient(ROUTES, { baseUrl, token: 'w' });
    const invalid = await refusal(writer.createThing({ body: { size: 0, colour: 'red' } as never }));
    expect(invalid.status).toBe(400);
    expect(invalid.code).toBe('invalid-request');
    expect(invalid.issues.map((i) => i.path).sort()).toEqual(['colour', 'size']);
    const notFound = await refusal(writer.getThing({ params: { id: 'missing' } }));
    expect([notFound.status, notFound.code, notFound.message]).toEqual([
      404,
      'not-found',
      'no thing missing',
    ]);
    const reader = createClient(ROUTES, { baseUrl, token: 'r' });
    const forbidden = await refusal(reader.createThing({ body: { size: 0 } }));
    expect([forbidden.status, forbidden.code]).toEqual([403, 'forbidden']);
  });

  it('gives up after its timeout, and says when the service cannot be reached', async () => {
    const client = createClient(ROUTES, { baseUrl, timeoutMs: 100, service: 'the thing store' });
    const slow = await refusal(client.getThing({ params: { id: 'a' }, query: { delayMs: 1000 } }));
    expect(slow.status).toBe('timeout');
    expect(slow.message).toContain('the thing store did not answer');
    const closed = createClient(ROUTES, { baseUrl: 'http://127.0.0.1:9/', service: 'the thing store' });
    expect((await refusal(closed.getThing({ params: { id: 'a' } }))).status).toBe('unreachable');
  });
});

describe('the typed client with maxConcurrent', () => {
  it('has at most that many calls in flight, the rest waiting their turn, and all answered', async () => {
    const client = createClient(ROUTES, { baseUrl, maxConcurrent: 2 });
    let inFlight = 0;
    let most = 0;
    const onRequest = (_req: unknown, res: { once(e: 'close', f: () => void): void }) => {
      most = Math.max(most, ++inFlight);
      res.once('close', () => inFlight--);
    };
    app.server.on('request', onRequest);
    try {
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          client.getThing({ params: { id: `c${i}` }, query: { delayMs: 30 } }),
        ),
      );
      expect(answers.map((a) => a.id)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);
      expect(most).toBeLessThanOrEqual(2);
    } finally {
      app.server.off('request', onRequest);
    }
  });

  it('gives a call that waited out its timeout for its turn up as timed out', async () => {
    // Margins of most of a second either way: on a loaded machine a 100 ms answer can take 150.
    const client = createClient(ROUTES, { baseUrl, maxConcurrent: 1, timeoutMs: 2_000 });
    const first = client.getThing({ params: { id: 'slow' }, query: { delayMs: 1_200 } });
    const waiting = client.getThing({ params: { id: 'waits' }, query: { delayMs: 1_200 } });
    expect(await first).toEqual({ id: 'slow', size: 1 });
    expect((await refusal(waiting)).status).toBe('timeout');
    // Its turn given back: the next call goes.
    expect(await client.getThing({ params: { id: 'next' } })).toEqual({ id: 'next', size: 1 });
  });
});

describe('the typed client of a list read page by page', () => {
  const collect = async <T>(pages: AsyncIterable<T[]>): Promise<T[][]> => {
    const read: T[][] = [];
    for await (const page of pages) read.push(page);
    return read;
  };

  it('follows the Link header from page to page, each page parsed with the contract', async () => {
    const client = createClient(ROUTES, { baseUrl, token: 'r' });
    // One call is still one page: the body, as the contract says.
    expect(await client.listThings({ query: { limit: 2 } })).toEqual(THINGS.slice(0, 2));
    const pages = await collect(client.listThings.pages({ query: { limit: 2 } }));
    expect(pages).toEqual([THINGS.slice(0, 2), THINGS.slice(2, 4), THINGS.slice(4)]);
    // The first page's query is kept; the next pages are the service's links, token and all.
    expect(await collect(client.listThings.pages({ query: { after: 3, limit: 5 } }))).toEqual([
      THINGS.slice(3),
    ]);
    // A caller may stop early: the pages after are never asked for.
    for await (const page of client.listThings.pages({ query: { limit: 1 } })) {
      expect(page).toEqual([THINGS[0]]);
      break;
    }
  });

  it('refuses a next page elsewhere, or the same page again, rather than send its token there or loop', async () => {
    const client = createClient(ROUTES, { baseUrl, token: 'r', service: 'the thing store' });
    const elsewhere = await refusal(collect(client.listThings.pages({ query: { linkTo: 'elsewhere' } })));
    expect(elsewhere.status).toBe('invalid-answer');
    expect(elsewhere.message).toContain('http://127.0.0.1:9');
    const itself = await refusal(collect(client.listThings.pages({ query: { linkTo: 'itself' } })));
    expect(itself.status).toBe('invalid-answer');
  });

  it('offers pages only on routes whose contract declares a Link header', () => {
    const client = createClient(ROUTES, { baseUrl });
    expect(typeof client.listThings.pages).toBe('function');
    // @ts-expect-error a single thing is not a list read page by page
    expect(client.getThing.pages).toBeUndefined();
  });
});

describe('the typed client of a raw route', () => {
  it('returns the answer as the Response itself, its body unread', async () => {
    const client = createClient(ROUTES, { baseUrl, token: 'r' });
    const res: Response = await client.exportThings();
    expect(res).toBeInstanceOf(Response);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(await res.text()).toBe('id,size\nt1,1\nt2,2\nt3,3\nt4,4\nt5,5\n');
    // @ts-expect-error a raw answer is a Response, not the schema's string
    const csv: string = await client.exportThings();
    expect(csv).toBeInstanceOf(Response);
    await (csv as unknown as Response).body?.cancel();
  });

  it('returns a stream as soon as it begins: its timeout is for the answer to begin, the body is the caller’s', async () => {
    const client = createClient(ROUTES, { baseUrl, token: 'r', timeoutMs: 300 });
    const stop = new AbortController();
    const res = await client.exportThings({ query: { answer: 'stream' }, signal: stop.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('id,size\n');
    // Past the client's timeout the stream is still open, until the caller's own signal ends it.
    await sleep(500);
    const next = reader.read();
    stop.abort();
    await expect(next).rejects.toThrow();
  });

  it('still turns a refusal into an ApiCallError with the service’s problem body', async () => {
    const client = createClient(ROUTES, { baseUrl, token: 'r' });
    const notFound = await refusal(client.exportThings({ query: { answer: 'refusal' } }));
    expect([notFound.status, notFound.code, notFound.message]).toEqual([
      404,
      'not-found',
      'no things to export',
    ]);
    expect(notFound.body).toMatchObject({ error: 'not-found', message: 'no things to export' });
  });
});

describe('mounted routes', () => {
  const send = async (
    url: string,
    init: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {},
  ) => {
    const r = await app.inject({ url, method: init.method ?? 'GET', headers: init.headers ?? {} });
    return { status: r.statusCode, json: r.json() as { issues?: { path: string; message: string }[] } };
  };

  it('refuse a query parameter a route does not take, by name, with a query schema or without one', async () => {
    const withSchema = await send('/api/things/a?delayMs=0&delay=5');
    expect(withSchema.status).toBe(400);
    expect(withSchema.json.issues).toEqual([{ path: 'delay', message: 'unknown field' }]);
    // No query schema: no parameter at all, named before the body is read (here, none was sent).
    const without = await send('/api/things?size=3&dryRun=1', {
      method: 'POST',
      headers: { authorization: 'Bearer w' },
    });
    expect(without.status).toBe(400);
    expect(without.json.issues).toEqual([
      { path: 'size', message: 'unknown field' },
      { path: 'dryRun', message: 'unknown field' },
    ]);
    expect((await send('/api/things/a?delayMs=0')).status).toBe(200);
  });

  it('refuse a parameter given more than once by saying so, not with what zod says of a list', async () => {
    const res = await send('/api/things/a?delayMs=1&delayMs=2');
    expect(res.status).toBe(400);
    expect(res.json.issues).toEqual([
      { path: 'delayMs', message: 'given more than once (2 times): send it once' },
    ]);
  });
});

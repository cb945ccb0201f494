import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineRoute, Empty, nextPageLink } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, cliClient, EXIT } from './client.ts';

const ROUTES = {
  listThings: defineRoute({
    method: 'GET',
    path: '/api/things',
    summary: 'things a page at a time',
    roles: 'signed-in',
    response: Empty,
    responseHeaders: { Link: 'the next page' },
  }),
};

// Page 1 names page 2; page 2 names page 3, which the service refuses.
let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '1');
    if (page === 3) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'forbidden', message: 'not yours' }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      link: nextPageLink(`/api/things?page=${page + 1}`),
    });
    res.end(JSON.stringify({ page }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("the CLI's client of a list read page by page", () => {
  it('reads page after page, and a refused page is a CliError with its exit code', async () => {
    const api = cliClient(ROUTES, url, 't', 'the thing store');
    const read: unknown[] = [];
    const err = await (async () => {
      for await (const page of api.listThings.pages()) read.push(page);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(read).toEqual([{ page: 1 }, { page: 2 }]);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.unauthorised);
  });
});

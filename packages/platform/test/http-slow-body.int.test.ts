import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, createLogger, createMetrics, type FastifyInstance } from '../src/index.ts';

/**
 * Slowloris on the HTTP services: a client sends a request's headers, then its body a byte at a
 * time, never finishing. Fastify turns Node's whole-request timeout off unless told, and the
 * services set no idle timeout (the live stream is idle between pings), so each such connection
 * was held, with what it had sent, for as long as the sender liked: enough of them and the console
 * has no sockets or memory left for the operators.
 */
describe('a request whose body never finishes', () => {
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    app = createHttpServer({
      logger: createLogger('slow-body-test', 'silent'),
      metrics: createMetrics('slow-body-test'),
      readiness: {},
      requestTimeoutMs: 1_000,
    });
    app.post('/api/echo', async (req) => ({ got: req.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => app?.close());

  it('is ended once the request timeout passes, while a request sent whole is answered', async () => {
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    const closed = new Promise<number>((resolve) => {
      const opened = Date.now();
      socket.once('close', () => resolve(Date.now() - opened));
    });
    socket.write(
      'POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 200);
    try {
      const heldMs = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 8_000))]);
      expect(heldMs, 'the connection was still open after 8 s').toBeGreaterThan(0);
      expect(heldMs).toBeLessThan(8_000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      // Written by the server itself, past every route and hook: still data, never a page.
      expect(answer).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
      expect(answer).toMatch(/\r\nContent-Security-Policy: default-src 'none'/i);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }

    const whole = await fetch(`http://127.0.0.1:${port}/api/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(await whole.json()).toEqual({ got: { a: 1 } });
  });

  it('answers a request it cannot read (400, 431) as data too, with the security headers', async () => {
    for (const [request, status] of [
      ['GARBAGE\r\n\r\n', 400],
      [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      const socket: Socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(request);
      await closed;
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(answer).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
      expect(answer).toMatch(/\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n/i);
      expect(answer).toMatch(/\r\nX-Frame-Options: DENY\r\n/i);
      expect(answer).toMatch(/\r\nReferrer-Policy: no-referrer\r\n/i);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: status });
    }
  });

  it('has a bound by default, which Fastify alone does not set', () => {
    const fresh = createHttpServer({
      logger: createLogger('slow-body-test', 'silent'),
      metrics: createMetrics('slow-body-test'),
      readiness: {},
    });
    expect(fresh.server.requestTimeout).toBeGreaterThan(0);
  });
});

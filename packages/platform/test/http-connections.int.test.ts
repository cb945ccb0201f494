import { connect, type Socket } from 'node:net';
import { waitFor } from '@telecare/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  commonEnv,
  createHttpServer,
  createLogger,
  createMetrics,
  defineService,
  type FastifyInstance,
  loadConfig,
  type Registry,
} from '../src/index.ts';

/**
 * One address opening sockets without end: each holds memory and a file descriptor (and, on the
 * helpline, maybe a live stream), until the process has none left for anyone else. The server
 * refuses a socket past the per-address cap at once, and past the total cap whoever it is from.
 */
let app: FastifyInstance | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await app?.close();
  app = undefined;
});

async function serve(limits: {
  connectionsPerAddress?: number;
  maxConnections?: number;
  trustProxy?: string[];
}) {
  const metrics = createMetrics('http-connections-test');
  app = createHttpServer({
    logger: createLogger('http-connections-test', 'silent'),
    metrics,
    readiness: {},
    ...limits,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as { port: number }).port, metrics };
}

/** A socket from `from` (a loopback address); says whether the server answered a request on it. */
async function open(
  port: number,
  from = '127.0.0.1',
): Promise<{ socket: Socket; answered: Promise<boolean> }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  let got = '';
  const answered = new Promise<boolean>((resolve) => {
    socket.on('data', (chunk) => {
      got += chunk.toString();
      if (got.includes('\r\n\r\n')) resolve(got.startsWith('HTTP/1.1 200'));
    });
    socket.once('close', () => resolve(false));
  });
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  return { socket, answered };
}

/** The whole answer to a GET from `from`, read until the server closes the connection. */
async function get(port: number, path: string, from: string): Promise<string> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  sockets.push(socket);
  let got = '';
  socket.on('data', (chunk) => {
    got += chunk.toString();
  });
  const closed = new Promise((resolve, reject) => {
    socket.once('close', resolve);
    socket.once('error', reject);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await closed;
  return got;
}

const refused = async (metrics: Registry, reason: string): Promise<number> => {
  const metric = await metrics.getSingleMetric('http_connections_refused_total')?.get();
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
};

describe('connections per client address', () => {
  it('refuses the socket past the cap at once, counts it, and takes another address and a freed place', async () => {
    const { port, metrics } = await serve({ connectionsPerAddress: 3 });
    const held = await Promise.all([open(port), open(port), open(port)]);
    for (const { answered } of held) expect(await answered).toBe(true);

    const excess = await open(port);
    expect(await excess.answered).toBe(false);
    expect(await refused(metrics, 'per-address')).toBe(1);

    // Another client is not held back by the first one's sockets.
    const other = await open(port, '127.0.0.2');
    expect(await other.answered).toBe(true);

    // A socket closed gives its place back.
    held[0]?.socket.destroy();
    await waitFor(async () => (await open(port)).answered, {
      what: 'the freed place taken',
      timeoutMs: 3_000,
    });
  });

  it('does not cap a trusted proxy, whose sockets are every client behind it', async () => {
    // The consoles of a whole helpline behind its TLS proxy arrive from the proxy's one address:
    // capping it as one client would cut operators' live streams off.
    const { port, metrics } = await serve({
      connectionsPerAddress: 2,
      trustProxy: ['127.0.0.2', '127.0.1.0/24'],
    });
    const proxied = await Promise.all(
      [...Array(4).fill('127.0.0.2'), ...Array(3).fill('127.0.1.9')].map((a) => open(port, a)),
    );
    for (const { answered } of proxied) expect(await answered).toBe(true);
    expect(await refused(metrics, 'per-address')).toBe(0);
    // Any other address is still one client, capped.
    const direct = await Promise.all([open(port), open(port), open(port)]);
    expect(await Promise.all(direct.map((d) => d.answered))).toEqual([true, true, false]);
    expect(await refused(metrics, 'per-address')).toBe(1);
  });

  it("reads a trusted proxy named by proxy-addr's names, as Fastify does", async () => {
    const { port, metrics } = await serve({ connectionsPerAddress: 1, trustProxy: ['loopback'] });
    const held = await Promise.all([open(port), open(port, '127.0.0.3')]);
    held.push(await open(port));
    for (const { answered } of held) expect(await answered).toBe(true);
    expect(await refused(metrics, 'per-address')).toBe(0);
  });

  it('0 leaves the address uncapped', async () => {
    const { port, metrics } = await serve({ connectionsPerAddress: 0 });
    const many = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    for (const { answered } of many) expect(await answered).toBe(true);
    expect(await refused(metrics, 'per-address')).toBe(0);
  });

  it('refuses sockets past the total cap from any address, and counts them', async () => {
    const { port, metrics } = await serve({ connectionsPerAddress: 0, maxConnections: 4 });
    const held = await Promise.all(
      ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => open(port, a)),
    );
    for (const { answered } of held) expect(await answered).toBe(true);
    const excess = await open(port, '127.0.0.5');
    expect(await excess.answered).toBe(false);
    expect(await refused(metrics, 'total')).toBe(1);
  });
});

describe('a service', () => {
  it('takes its caps from HTTP_CONNECTIONS_PER_ADDRESS and HTTP_MAX_CONNECTIONS, 256 and 8192 by default', async () => {
    expect(loadConfig('caps', commonEnv, {})).toMatchObject({
      HTTP_CONNECTIONS_PER_ADDRESS: 256,
      HTTP_MAX_CONNECTIONS: 8_192,
    });
    const service = defineService({
      name: 'http-connections-test',
      config: () => loadConfig('caps', commonEnv, {}),
      http: () => ({ port: 0, host: '127.0.0.1' }),
      start: async () => ({}),
    });
    const config = loadConfig('caps', commonEnv, { HTTP_CONNECTIONS_PER_ADDRESS: '2', LOG_LEVEL: 'silent' });
    const handle = await service.start(config);
    try {
      const held = await Promise.all([open(handle.port), open(handle.port)]);
      for (const { answered } of held) expect(await answered).toBe(true);
      expect(await (await open(handle.port)).answered).toBe(false);
      const metrics = await get(handle.port, '/metrics', '127.0.0.2');
      expect(metrics).toMatch(
        /http_connections_refused_total\{reason="per-address",service="http-connections-test"\} 1/,
      );
    } finally {
      for (const socket of sockets.splice(0)) socket.destroy();
      await handle.close();
    }
  });
});

import { once } from 'node:events';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.ts';

/** An echo server on loopback: every byte comes back. */
async function echoServer(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return { server, port: address.port, accepted: () => accepted };
}

async function dial(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = tcpConnect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (chunk) => {
    text += chunk.toString();
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  await once(socket, 'connect');
  return { socket, received: () => text, closed: () => closed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(probe: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('FaultProxy', () => {
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let proxy: FaultProxy;

  beforeEach(async () => {
    echo = await echoServer();
    proxy = await FaultProxy.start({ port: echo.port });
  });
  afterEach(async () => {
    await proxy.close();
    echo.server.close();
  });

  it('passes bytes both ways', async () => {
    const c = await dial(proxy.port);
    c.socket.write('hello');
    await until(() => c.received() === 'hello');
    expect(proxy.url('nats')).toBe(`nats://127.0.0.1:${proxy.port}`);
    c.socket.destroy();
  });

  it('delays bytes by the given time and keeps their order', async () => {
    const c = await dial(proxy.port);
    proxy.set({ kind: 'delay', ms: 150 });
    const t0 = Date.now();
    c.socket.write('a');
    c.socket.write('b');
    await sleep(100);
    expect(c.received()).toBe('');
    proxy.set({ kind: 'pass' });
    c.socket.write('c');
    await until(() => c.received() === 'abc');
    // Up and down are each delayed: the echo comes back after both.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    c.socket.destroy();
  });

  it('drop closes open connections and refuses new ones until it passes again', async () => {
    const c = await dial(proxy.port);
    proxy.set({ kind: 'drop' });
    await until(c.closed);
    const refused = await dial(proxy.port);
    await until(refused.closed);
    proxy.set({ kind: 'pass' });
    const again = await dial(proxy.port);
    again.socket.write('back');
    await until(() => again.received() === 'back');
    again.socket.destroy();
  });

  it('half-open keeps the socket open but forwards nothing, and closes it when the fault ends', async () => {
    const c = await dial(proxy.port);
    proxy.set({ kind: 'half-open', direction: 'down' });
    c.socket.write('lost');
    await sleep(200);
    expect(c.received()).toBe('');
    expect(c.closed()).toBe(false);
    proxy.set({ kind: 'pass' });
    await until(c.closed);
  });

  it('half-open in one direction still forwards the other', async () => {
    let atServer = '';
    const sink = createServer((socket) => socket.on('data', (chunk) => (atServer += chunk.toString())));
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    const port = (sink.address() as { port: number }).port;
    const upOnly = await FaultProxy.start({ port });
    const d = await dial(upOnly.port);
    upOnly.set({ kind: 'half-open', direction: 'down' });
    d.socket.write('still up');
    await until(() => atServer === 'still up');
    await upOnly.close();
    sink.close();
  });

  it('freezeOpen silences the connections open now, for good, while new ones pass', async () => {
    const old = await dial(proxy.port);
    old.socket.write('a');
    await until(() => old.received() === 'a');
    expect(proxy.freezeOpen()).toBe(1);
    old.socket.write('lost');
    const fresh = await dial(proxy.port);
    fresh.socket.write('fresh');
    await until(() => fresh.received() === 'fresh');
    // A mode change that ends other faults does not close a frozen connection.
    proxy.set({ kind: 'half-open', direction: 'both' });
    proxy.set({ kind: 'pass' });
    await sleep(200);
    expect(old.received()).toBe('a');
    expect(old.closed()).toBe(false);
    old.socket.destroy();
    fresh.socket.destroy();
  });

  it('blackhole accepts and never answers nor reaches the target; the held sockets close after', async () => {
    const before = echo.accepted();
    proxy.set({ kind: 'blackhole' });
    const c = await dial(proxy.port);
    c.socket.write('anyone?');
    await sleep(200);
    expect(c.received()).toBe('');
    expect(c.closed()).toBe(false);
    expect(echo.accepted()).toBe(before);
    expect(proxy.connections).toBe(1);
    proxy.set({ kind: 'pass' });
    await until(c.closed);
    const again = await dial(proxy.port);
    again.socket.write('ok');
    await until(() => again.received() === 'ok');
    again.socket.destroy();
  });
});

describe('FaultProxy in front of a NATS server (natsFrames)', () => {
  it('drops the next publication on a matching subject, split across writes, and forwards the rest whole', async () => {
    const echo = await echoServer();
    const proxy = await FaultProxy.start({ port: echo.port }, 0, { natsFrames: true });
    try {
      const c = await dial(proxy.port);
      const dropped = proxy.dropNextPublish((subject) => subject.startsWith('$JS.API.CONSUMER.MSG.NEXT.'));
      const keep = 'SUB a 1\r\nPUB other 5\r\nhello\r\n';
      const lost = 'HPUB $JS.API.CONSUMER.MSG.NEXT.S.c _INBOX.x.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n';
      const after = 'PUB $JS.API.CONSUMER.MSG.NEXT.S.c _INBOX.x.2 2\r\nok\r\nPING\r\n';
      // Cut mid-operation: the proxy waits for the rest before it decides.
      const all = keep + lost + after;
      const cut = keep.length + 20;
      c.socket.write(all.slice(0, cut));
      await sleep(20);
      c.socket.write(all.slice(cut));
      await until(() => c.received() === keep + after);
      expect(await dropped).toEqual({ subject: '$JS.API.CONSUMER.MSG.NEXT.S.c', payload: 'hi' });
      c.socket.destroy();
    } finally {
      await proxy.close();
      echo.server.close();
    }
  });
});

import { names } from '@telecare/contracts';
import { OwnNatsServer, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createLogger,
  ensureStreams,
  JetStreamPublisher,
  jetstreamManager,
  type NatsConnection,
  natsAnswers,
  securityEventPublisher,
  sleep,
} from '../src/index.ts';
import { securityEvent, storedSecurityEvents } from './fixtures/security.ts';

const n = names(uniqueNamespace('secev'));
const logger = createLogger('security-events-test', 'silent');

const event = securityEvent;
const stored = (nc: NatsConnection) => storedSecurityEvents(nc, n.streams.security);

/**
 * When the client was told the connection was lost and back (performance time, the first of each
 * from now), and when each try of a security event was sent, from the connection's own publish.
 */
function watch(nc: NatsConnection, subject: string) {
  const seen: { down?: number; back?: number; tries: number[] } = { tries: [] };
  const statuses = nc.status();
  void (async () => {
    for await (const status of statuses) {
      if (status.type === 'disconnect') seen.down ??= performance.now();
      if (status.type === 'reconnect' && seen.down !== undefined) seen.back ??= performance.now();
    }
  })();
  const publish = nc.publish;
  nc.publish = (s, payload, options) => {
    if (s === subject) seen.tries.push(performance.now());
    publish.call(nc, s, payload, options);
  };
  const stop = () => {
    (statuses as Partial<{ stop(): void }>).stop?.();
    nc.publish = publish;
  };
  return { seen, stop };
}

/** When `condition` became true, to 20 ms. */
async function whenTrue(condition: () => boolean, what: string): Promise<number> {
  await waitFor(condition, { timeoutMs: 20_000, intervalMs: 20, what });
  return performance.now();
}

describe('securityEventPublisher through a NATS outage', () => {
  let own: OwnNatsServer;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;

  beforeAll(async () => {
    own = await OwnNatsServer.start('security-events');
    nc = await connectNats({ url: own.url, name: 'security-events-test', logger });
    // A short wait for each try's answer, so that a try while the server is away fails soon.
    publisher = new JetStreamPublisher(nc, { timeoutMs: 500 });
  });

  afterAll(async () => {
    publisher?.close();
    await nc?.close();
    await own?.destroy();
  });

  it('stores every event raised while the server was down, once each and in the order raised', async () => {
    await ensureStreams(await jetstreamManager(nc), n, ['security']);
    const outbox = securityEventPublisher(publisher, n, logger, { retry: { initialMs: 100, maxMs: 500 } });
    try {
      outbox.raise(event(0));
      await waitFor(async () => (await stored(nc)).length === 1, { what: 'the first event stored' });

      await own.stop();
      for (let i = 1; i <= 5; i++) outbox.raise(event(i));
      // Down for longer than a few tries of one event.
      await sleep(4_000);
      expect(outbox.held).toBe(5);
      await own.start();

      await waitFor(() => outbox.held === 0, { timeoutMs: 20_000, what: 'the events held stored' });
      const all = await stored(nc);
      expect(all.map((m) => m.i)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(new Set(all.map((m) => m.msgId)).size).toBe(6);
      for (const { msgId } of all) expect(msgId).toMatch(/^sec_[0-9a-f]{32}$/);
    } finally {
      await outbox.close();
    }
  });

  it('tries an event again under the same id: a try whose answer came too late is one message', async () => {
    await ensureStreams(await jetstreamManager(nc), n, ['security']);
    const before = (await stored(nc)).length;
    const outbox = securityEventPublisher(publisher, n, logger, { retry: { initialMs: 100, maxMs: 200 } });
    try {
      // Frozen, the server answers nothing but keeps what was sent: each try times out, and at
      // thaw it reads them all, the first stored and the others known by their id.
      own.freeze();
      // A stopped process may take a moment to stop on a loaded machine: raised once it answers no more.
      await waitFor(async () => !(await natsAnswers(nc, 200)), { what: 'the server frozen' });
      outbox.raise(event(10));
      outbox.raise(event(11));
      await sleep(1_200);
      expect(outbox.held).toBe(2);
      own.thaw();
      await waitFor(() => outbox.held === 0, { timeoutMs: 20_000, what: 'the events held stored' });
      const added = (await stored(nc)).slice(before);
      expect(added.map((m) => m.i)).toEqual([10, 11]);
      expect(new Set(added.map((m) => m.msgId)).size).toBe(2);
    } finally {
      own.thaw();
      await outbox.close();
    }
  });

  it('stores what it held as soon as the server is back, not after the wait it was in', async () => {
    await ensureStreams(await jetstreamManager(nc), n, ['security']);
    const before = (await stored(nc)).length;
    // 250 ms after the first failed try, 2 s after the second, 10 s after the third and on.
    const outbox = securityEventPublisher(publisher, n, logger, {
      retry: { initialMs: 250, maxMs: 10_000, factor: 8, jitter: 0 },
    });
    const { seen, stop } = watch(nc, n.subjects.securityEvents);
    try {
      await own.stop();
      await waitFor(() => seen.down !== undefined, { what: 'the client to see the server gone' });
      outbox.raise(event(20));
      outbox.raise(event(21));
      // The third try timed out: the outbox is in its longest wait.
      await waitFor(() => seen.tries.length === 3 && publisher.waiting === 0, {
        timeoutMs: 20_000,
        intervalMs: 20,
        what: 'the third try failed',
      });
      expect(outbox.held).toBe(2);
      await own.start();
      await waitFor(() => seen.back !== undefined, { timeoutMs: 10_000, what: 'the client to reconnect' });
      const storedAt = await whenTrue(() => outbox.held === 0, 'the events held stored');
      // Without a word from the connection, the 10 s wait ran out first (about 8 s after).
      expect(storedAt - (seen.back as number)).toBeLessThan(2_000);
      const added = (await stored(nc)).slice(before);
      expect(added.map((m) => m.i)).toEqual([20, 21]);
      expect(new Set(added.map((m) => m.msgId)).size).toBe(2);
    } finally {
      stop();
      await outbox.close();
    }
  });

  it('sends a frozen server no try past the first, and stores what it held once it answers again', async () => {
    await ensureStreams(await jetstreamManager(nc), n, ['security']);
    const before = (await stored(nc)).length;
    // A try is given up after 1 s; the next 250 ms after the first failed, 10 s after the second.
    const quick = new JetStreamPublisher(nc, { timeoutMs: 1_000 });
    const outbox = securityEventPublisher(quick, n, logger, {
      retry: { initialMs: 250, maxMs: 10_000, factor: 40, jitter: 0 },
    });
    const { seen, stop } = watch(nc, n.subjects.securityEvents);
    try {
      // Frozen, the server keeps its connections open: the client is told nothing.
      own.freeze();
      await waitFor(async () => !(await natsAnswers(nc, 200)), { what: 'the server frozen' });
      outbox.raise(event(40));
      outbox.raise(event(41));
      await waitFor(() => seen.tries.length === 1 && quick.waiting === 0, {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'the first try timed out',
      });
      // Time for a second try and its timeout: every try sent now would reach the server at thaw.
      await sleep(2_000);
      const triesWhileFrozen = seen.tries.length;
      own.thaw();
      const thawedAt = performance.now();
      const storedAt = await whenTrue(() => outbox.held === 0, 'the events held stored');
      expect(triesWhileFrozen).toBe(1);
      // Without a look at the server, the 10 s wait after the second try ran out first.
      expect(storedAt - thawedAt).toBeLessThan(2_000);
      expect(seen.down).toBeUndefined();
      const added = (await stored(nc)).slice(before);
      expect(added.map((m) => m.i)).toEqual([40, 41]);
      expect(new Set(added.map((m) => m.msgId)).size).toBe(2);
    } finally {
      own.thaw();
      stop();
      await outbox.close();
      quick.close();
    }
  });

  it('does not wait out a try sent while the server was down once it is back', async () => {
    await ensureStreams(await jetstreamManager(nc), n, ['security']);
    const before = (await stored(nc)).length;
    // A try is answered or given up after 8 s: the client dropped one sent while it was away.
    const slow = new JetStreamPublisher(nc, { timeoutMs: 8_000 });
    const outbox = securityEventPublisher(slow, n, logger);
    const { seen, stop } = watch(nc, n.subjects.securityEvents);
    try {
      await own.stop();
      await waitFor(() => seen.down !== undefined, { what: 'the client to see the server gone' });
      outbox.raise(event(30));
      outbox.raise(event(31));
      await waitFor(() => seen.tries.length === 1, { what: 'the first try' });
      await own.start();
      await waitFor(() => seen.back !== undefined, { timeoutMs: 10_000, what: 'the client to reconnect' });
      const storedAt = await whenTrue(() => outbox.held === 0, 'the events held stored');
      expect(storedAt - (seen.back as number)).toBeLessThan(2_000);
      const added = (await stored(nc)).slice(before);
      expect(added.map((m) => m.i)).toEqual([30, 31]);
      expect(new Set(added.map((m) => m.msgId)).size).toBe(2);
    } finally {
      stop();
      await outbox.close();
      slow.close();
    }
  });
});

import { names } from '@telecare/contracts';
import { cleanupNamespace, servers, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type ConsumerLoop,
  connectNats,
  createLogger,
  ensureDurableConsumer,
  ensureStreams,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  keepStreams,
  type NatsConnection,
  SECOND_NS,
  sleep,
  startConsumerLoop,
  systemClock,
} from '../src/index.ts';

/**
 * JetStream can lose what a running service reads and writes: a server whose store was wiped or
 * replaced, a stream or consumer deleted by hand. The service must not wait for someone to restart
 * it: its streams are made again (`keepStreams`) and its consumer loops make their consumers again
 * (`recreate`), resuming where they were when only the consumer was lost.
 */

const ns = uniqueNamespace('lost');
const n = names(ns);
const logger = createLogger('consumer-lost-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const Note = z.object({ i: z.number() });

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'consumer-lost-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, n, ['alerts', 'deadletter']);
});

afterAll(async () => {
  await nc?.close();
  await cleanupNamespace(ns);
});

const created = (name: string) =>
  ({
    deliver_policy: 'all',
    ack_wait: 5 * SECOND_NS,
    filter_subject: `${ns}.alerts.${name}.*`,
    max_deliver: -1,
  }) as const;

async function reading(name: string, handled: number[], recreate = true): Promise<ConsumerLoop> {
  await ensureDurableConsumer(jsm, n.streams.alerts, name, {}, created(name));
  return startConsumerLoop({
    js,
    names: n,
    stream: n.streams.alerts,
    consumer: name,
    service: 'lost-test',
    schema: Note,
    handle: async (note) => {
      handled.push(note.i);
    },
    logger,
    clock: systemClock,
    ...(recreate ? { recreate: created(name) } : {}),
  });
}

const publish = async (name: string, from: number, to: number) => {
  for (let i = from; i <= to; i++) await js.publish(`${ns}.alerts.${name}.k`, JSON.stringify({ i }));
};

describe('a consumer loop whose consumer JetStream lost', () => {
  it('makes it again and goes on after the last message it finished: nothing again, nothing missed', async () => {
    const handled: number[] = [];
    const loop = await reading('only', handled);
    try {
      await publish('only', 1, 5);
      await waitFor(() => handled.length === 5, { what: 'the first five' });
      await jsm.consumers.delete(n.streams.alerts, 'only');
      await publish('only', 6, 7);
      await waitFor(() => handled.length >= 7, { what: 'the two after the loss', timeoutMs: 10_000 });
      await sleep(700);
      expect(handled).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect((await jsm.consumers.info(n.streams.alerts, 'only')).config.filter_subject).toBe(
        `${ns}.alerts.only.*`,
      );
    } finally {
      await loop.stop();
    }
  });

  it('reads a stream made again from its start', async () => {
    const handled: number[] = [];
    const loop = await reading('again', handled);
    try {
      await publish('again', 1, 3);
      await waitFor(() => handled.length === 3, { what: 'the first three' });
      await jsm.streams.delete(n.streams.alerts);
      await ensureStreams(jsm, n, ['alerts']);
      await publish('again', 10, 11);
      await waitFor(() => handled.length >= 5, { what: 'the new stream’s two', timeoutMs: 10_000 });
      expect(handled).toEqual([1, 2, 3, 10, 11]);
    } finally {
      await loop.stop();
    }
  });

  it('without `recreate`, waits for someone else to make it', async () => {
    const handled: number[] = [];
    const loop = await reading('waits', handled, false);
    try {
      await publish('waits', 1, 1);
      await waitFor(() => handled.length === 1, { what: 'the first' });
      await jsm.consumers.delete(n.streams.alerts, 'waits');
      await sleep(1_500);
      await expect(jsm.consumers.info(n.streams.alerts, 'waits')).rejects.toThrow(/not found/i);
      await ensureDurableConsumer(jsm, n.streams.alerts, 'waits', {}, created('waits'));
      await waitFor(() => handled.length === 2, { what: 'the first again, from the new consumer' });
      expect(handled).toEqual([1, 1]);
    } finally {
      await loop.stop();
    }
  });
});

describe('keepStreams', () => {
  it('makes a stream JetStream lost again within a check, and says which', async () => {
    const recreated: string[] = [];
    const stop = keepStreams(jsm, n, ['deadletter'], {
      logger,
      everyMs: 200,
      onRecreated: (stream) => recreated.push(stream),
    });
    try {
      await sleep(500);
      expect(recreated).toEqual([]);
      await jsm.streams.delete(n.streams.deadletter);
      await waitFor(() => recreated.length === 1, { what: 'the stream made again', timeoutMs: 5_000 });
      expect(recreated).toEqual([n.streams.deadletter]);
      expect((await jsm.streams.info(n.streams.deadletter)).config.max_msgs_per_subject).toBeGreaterThan(0);
    } finally {
      stop();
    }
  });
});

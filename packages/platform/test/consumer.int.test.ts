import { DeadLetter, type Names, names } from '@telecare/contracts';
import {
  cleanupNamespace,
  FaultProxy,
  OwnNatsServer,
  servers,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ACK_WAIT_S,
  type ConsumerLoop,
  type ConsumerLoopOptions,
  connectNats,
  createLogger,
  createMetrics,
  ensureDurableConsumer,
  ensureStreams,
  headers,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  PoisonMessageError,
  SECOND_NS,
  sleep,
  startConsumerLoop,
  systemClock,
  TransientError,
} from '../src/index.ts';

const ns = uniqueNamespace('consumer');
const n = names(ns);
const logger = createLogger('consumer-test', 'silent');
const Note = z.object({ key: z.string(), i: z.number() });
type Note = z.infer<typeof Note>;

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'consumer-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, n, ['alerts', 'deadletter']);
});

afterAll(async () => {
  await nc?.close();
  await cleanupNamespace(ns);
});

/** A durable consumer of its own over one resident's alert subjects (`key` is the last token). */
async function durable(jsm: JetStreamManager, n: Names, name: string): Promise<string> {
  await ensureDurableConsumer(
    jsm,
    n.streams.alerts,
    name,
    { ack_wait: 2 * SECOND_NS, max_deliver: -1 },
    { filter_subject: `${n.namespace}.alerts.${name}.*` },
  );
  return name;
}

const subject = (name: string, key: string) => `${ns}.alerts.${name}.${key}`;
const lastToken = (s: string) => s.slice(s.lastIndexOf('.') + 1);

function loop(
  name: string,
  handle: ConsumerLoopOptions<Note>['handle'],
  extra: Partial<ConsumerLoopOptions<Note>> = {},
): ConsumerLoop {
  return startConsumerLoop({
    js,
    names: n,
    stream: n.streams.alerts,
    consumer: name,
    service: `svc-${name}`,
    schema: Note,
    handle,
    logger,
    clock: systemClock,
    key: lastToken,
    ...extra,
  });
}

async function deadLetters(service: string): Promise<DeadLetter[]> {
  const name = `dl-${service}`;
  await ensureDurableConsumer(
    jsm,
    n.streams.deadletter,
    name,
    {},
    {
      filter_subject: `${ns}.deadletter.${service}.>`,
    },
  );
  const consumer = await js.consumers.get(n.streams.deadletter, name);
  const letters: DeadLetter[] = [];
  for (;;) {
    const msg = await consumer.next({ expires: 1_000 });
    if (!msg) return letters;
    msg.ack();
    letters.push(DeadLetter.parse(msg.json()));
  }
}

// Side by side: each test has a durable consumer, subjects and dead-letter filter of its own, and
// spends most of its time waiting out an ack wait or a handler's sleep (the bounds they assert are
// from their own timestamps), so the waits overlap instead of adding up.
describe.concurrent('the consumer loop on a real JetStream consumer', () => {
  it('dead-letters and terminates a poison message once, and handles the rest', async () => {
    const name = await durable(jsm, n, 'poison');
    const handled: number[] = [];
    const metrics = createMetrics('consumer-test');
    const running = loop(
      name,
      async (note) => {
        if (note.i === 3) throw new PoisonMessageError('refused by the handler');
        handled.push(note.i);
      },
      { metrics },
    );
    try {
      await js.publish(subject(name, 'a'), 'not json');
      await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a' }));
      await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 1 }));
      await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 3 }));
      await waitFor(
        async () =>
          (await jsm.consumers.info(n.streams.alerts, name)).num_ack_pending === 0 && handled.length === 1,
      );
      await sleep(2_500); // longer than the ack wait: nothing comes back
      expect(handled).toEqual([1]);
      const letters = await deadLetters(`svc-${name}`);
      expect(letters.map((letter) => letter.reason).sort()).toEqual(['not-json', 'schema', 'unhandled']);
      const info = await jsm.consumers.info(n.streams.alerts, name);
      expect(info.num_pending + info.num_ack_pending + info.num_redelivered).toBe(0);
      const text = await metrics.metrics();
      expect(text).toMatch(
        /consumer_messages_dead_lettered_total\{consumer="poison",reason="schema"[^}]*\} 1/,
      );
      expect(text).toMatch(/consumer_messages_handled_total\{consumer="poison"[^}]*\} 1/);
    } finally {
      await running.stop();
    }
  });

  it('retries a transient failure with the backoff, then acks', async () => {
    const name = await durable(jsm, n, 'transient');
    const attempts: number[] = [];
    const running = loop(name, async () => {
      attempts.push(Date.now());
      if (attempts.length === 1) throw new TransientError('a dependency is away');
      if (attempts.length === 2) throw new Error('not ours to judge: retried too');
    });
    try {
      await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 1 }));
      await waitFor(() => attempts.length >= 3, { timeoutMs: 20_000 });
      // Each failure is handed back with REDELIVERY's delay for its delivery (1 s, then 2 s: the
      // policy's own test), so it does not come straight back. Only the first gap is asserted: on
      // a machine busy enough that the client misses its pull's heartbeats or holds a message past
      // its 2 s ack wait, nats-server 2.9 was seen to deliver again with the same delivery count,
      // or to deliver a copy the client had already begun, so later gaps are the server's.
      const [first = 0, second = 0] = attempts;
      expect(second - first).toBeGreaterThanOrEqual(900);
      await waitFor(async () => (await jsm.consumers.info(n.streams.alerts, name)).num_ack_pending === 0, {
        timeoutMs: 20_000,
      });
    } finally {
      await running.stop();
    }
    expect(await deadLetters(`svc-${name}`)).toEqual([]);
  }, 60_000);

  it('keeps one key in order while keys run side by side, and passes the trace context', async () => {
    const name = await durable(jsm, n, 'order');
    const seen = new Map<string, number[]>();
    const traces: Array<string | undefined> = [];
    let inHand = 0;
    let most = 0;
    const running = loop(
      name,
      async (note, message) => {
        inHand += 1;
        most = Math.max(most, inHand);
        traces.push(message.traceparent);
        await sleep(note.i % 3 === 0 ? 30 : 5);
        message.working();
        seen.set(note.key, [...(seen.get(note.key) ?? []), note.i]);
        inHand -= 1;
      },
      { concurrency: 4 },
    );
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    try {
      const h = headers();
      h.set('traceparent', traceparent);
      for (let i = 0; i < 20; i++)
        for (const key of ['a', 'b', 'c'])
          await js.publish(subject(name, key), JSON.stringify({ key, i }), { headers: h });
      await waitFor(() => [...seen.values()].every((list) => list.length === 20) && seen.size === 3, {
        timeoutMs: 15_000,
      });
      const inOrder = Array.from({ length: 20 }, (_, i) => i);
      for (const key of ['a', 'b', 'c']) expect(seen.get(key)).toEqual(inOrder);
      expect(most).toBeGreaterThan(1);
      expect(new Set(traces)).toEqual(new Set([traceparent]));
    } finally {
      await running.stop();
    }
  });

  it('keeps a message in hand for longer than the ack wait, and the one waiting behind it in its lane, from redelivery', async () => {
    const name = await durable(jsm, n, 'slow');
    const handled: number[] = [];
    const headerSeen: Array<string | undefined> = [];
    const running = loop(
      name,
      async (note, message) => {
        headerSeen.push(message.headers.get('x-note'));
        // Two and a half of the consumer's ack waits (2 s).
        if (note.i === 0) await sleep(5_000);
        handled.push(note.i);
      },
      { concurrency: 2, ackWaitMs: 2_000 },
    );
    try {
      const h = headers();
      h.set('x-note', 'kept');
      for (const i of [0, 1])
        await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }), { headers: h });
      await waitFor(() => handled.length === 2, { timeoutMs: 15_000 });
      await sleep(500);
      expect(handled).toEqual([0, 1]);
      expect(headerSeen).toEqual(['kept', 'kept']);
      const info = await jsm.consumers.info(n.streams.alerts, name);
      expect(info.num_redelivered).toBe(0);
      expect(info.num_ack_pending).toBe(0);
    } finally {
      await running.stop();
    }
  });

  it('retryInPlace: a failure is tried again in hand, and its key keeps its order with several in flight', async () => {
    const name = await durable(jsm, n, 'inplace');
    const seen = new Map<string, number[]>();
    let failed = 0;
    const running = loop(
      name,
      async (note) => {
        // The second message of key a fails twice; those of key b and a's later ones are in hand.
        if (note.key === 'a' && note.i === 1 && failed < 2) {
          failed += 1;
          throw new TransientError('a dependency is away');
        }
        await sleep(2);
        seen.set(note.key, [...(seen.get(note.key) ?? []), note.i]);
      },
      { concurrency: 4, retryInPlace: true, retryDelay: () => 200 },
    );
    try {
      for (let i = 0; i < 10; i++)
        for (const key of ['a', 'b']) await js.publish(subject(name, key), JSON.stringify({ key, i }));
      await waitFor(() => seen.get('a')?.length === 10 && seen.get('b')?.length === 10, {
        timeoutMs: 15_000,
      });
      const inOrder = Array.from({ length: 10 }, (_, i) => i);
      expect(seen.get('a')).toEqual(inOrder);
      expect(seen.get('b')).toEqual(inOrder);
      expect(failed).toBe(2);
      await waitFor(async () => (await jsm.consumers.info(n.streams.alerts, name)).num_ack_pending === 0);
    } finally {
      await running.stop();
    }
  });

  it('retrySooner: a message waiting in hand for its next try is tried as soon as it resolves, not after its delay', async () => {
    const name = await durable(jsm, n, 'sooner');
    let answers = false;
    let back: () => void = () => {};
    const waits: Array<{ cancelled: boolean }> = [];
    let handledAt = 0;
    const running = loop(
      name,
      async () => {
        if (!answers) throw new TransientError('a dependency is away');
        handledAt = performance.now();
      },
      {
        retryInPlace: true,
        retryDelay: () => 60_000,
        retrySooner: () => {
          const wait = { cancelled: false };
          waits.push(wait);
          return {
            ready: new Promise<void>((resolve) => {
              back = resolve;
            }),
            cancel: () => {
              wait.cancelled = true;
            },
          };
        },
      },
    );
    try {
      await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 0 }));
      await waitFor(() => waits.length === 1, { timeoutMs: 10_000, what: 'the first try failed' });
      answers = true;
      const woken = performance.now();
      back();
      await waitFor(() => handledAt > 0, { timeoutMs: 10_000, what: 'the message tried again' });
      expect(handledAt - woken).toBeLessThan(1_000);
      expect(waits).toEqual([{ cancelled: true }]);
    } finally {
      await running.stop();
    }
  });

  it('retryInPlace as a choice per failure: one message failing on its own is handed back, and its key goes on', async () => {
    const name = await durable(jsm, n, 'inplacechoice');
    const seen: number[] = [];
    let failures = 0;
    const running = loop(
      name,
      async (note) => {
        // Message 1 fails every time for a reason of its own; the dependency is fine.
        if (note.i === 1) {
          failures += 1;
          throw new Error('this message breaks the handler');
        }
        seen.push(note.i);
      },
      {
        concurrency: 2,
        retryInPlace: (err) => err instanceof TransientError,
        retryDelay: () => 200,
      },
    );
    try {
      for (let i = 0; i < 4; i++) await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }));
      // Tried in hand it would hold key a's later messages for ever.
      await waitFor(() => seen.length === 3, { timeoutMs: 5_000, what: "key a's later messages" });
      expect(seen).toEqual([0, 2, 3]);
      expect(failures).toBeGreaterThan(0);
    } finally {
      await running.stop();
    }
  });

  it('readTo: passes the clock time of a checkpoint once everything stored before it is acked', async () => {
    const name = await durable(jsm, n, 'readto');
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: number[] = [];
    const running = loop(name, async (note) => {
      if (note.i === 0) await gate;
      handled.push(note.i);
    });
    try {
      for (let i = 0; i < 5; i++) await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }));
      const before = Date.now();
      // Held on the first message: a checkpoint now is not passed while it is in hand.
      await running.checkpoint();
      await sleep(300);
      await running.checkpoint();
      expect(running.readTo).toBe(Number.NEGATIVE_INFINITY);
      release();
      await waitFor(() => handled.length === 5, { timeoutMs: 10_000 });
      // The ack floor reaches the first checkpoint's sequence: read up to its clock time at least.
      await waitFor(
        async () => {
          await running.checkpoint();
          return running.readTo >= before;
        },
        { timeoutMs: 10_000 },
      );
      expect(handled).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await running.stop();
    }
  });

  it('readTo: a checkpoint taken while the lane holds what was stored is passed once that is acked, without another', async () => {
    const name = await durable(jsm, n, 'readto-inhand');
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let began = false;
    const handled: number[] = [];
    const running = loop(name, async (note) => {
      began = true;
      await gate;
      handled.push(note.i);
    });
    try {
      await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 0 }));
      // Delivered and in hand: nothing pending on the consumer, one message not yet acked.
      await waitFor(() => began, { timeoutMs: 10_000 });
      const before = Date.now();
      setTimeout(release, 100);
      // One checkpoint: the lane is behind only by the message it holds. Once that is acked, the
      // mark passes the checkpoint's time, not one checkpoint later (a due timer would wait a
      // whole timer round more, hours on an accelerated clock).
      await running.checkpoint();
      expect(handled).toEqual([0]);
      expect(running.readTo).toBeGreaterThanOrEqual(before);
    } finally {
      await running.stop();
    }
  });

  it('drains on stop: the message in hand finishes and is acked, nothing more is pulled', async () => {
    const name = await durable(jsm, n, 'drain');
    const finished: number[] = [];
    let started = 0;
    const running = loop(name, async (note) => {
      started += 1;
      await sleep(1_500);
      finished.push(note.i);
    });
    for (let i = 0; i < 3; i++) await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }));
    await waitFor(() => started === 1);
    await running.stop();
    expect(finished).toEqual([0]);
    expect(started).toBe(1);
    await sleep(500);
    expect(started).toBe(1);
    // What the stopped loop did not handle is handled by the next one, each message once.
    const next = loop(name, async (note) => {
      finished.push(note.i);
    });
    try {
      await waitFor(() => finished.length === 3, {
        what: 'the next loop to handle the rest',
        timeoutMs: 15_000,
      });
      expect([...finished].sort()).toEqual([0, 1, 2]);
    } finally {
      await next.stop();
    }
  });
});

describe('the consumer loop handing work back on stop', () => {
  it('hands back at once what it took and never began: the next loop has it long before the ack wait', async () => {
    // An ack wait far longer than the test: a message not handed back would wait all of it.
    const name = 'handback';
    await ensureDurableConsumer(
      jsm,
      n.streams.alerts,
      name,
      { ack_wait: 60 * SECOND_NS, max_deliver: -1 },
      { filter_subject: `${n.namespace}.alerts.${name}.*` },
    );
    const finished: number[] = [];
    let started = 0;
    // One lane, batches of five: four messages wait behind the first when the stop comes.
    const running = loop(
      name,
      async (note) => {
        started += 1;
        await sleep(1_000);
        finished.push(note.i);
      },
      { batch: 5 },
    );
    for (let i = 0; i < 5; i++) await js.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }));
    await waitFor(() => started === 1);
    await running.stop();
    expect(finished).toEqual([0]);
    const stoppedAt = performance.now();
    const next = loop(name, async (note) => {
      finished.push(note.i);
    });
    try {
      await waitFor(() => finished.length === 5, {
        what: 'the next loop to handle the rest',
        timeoutMs: 20_000,
      });
      expect(performance.now() - stoppedAt).toBeLessThan(10_000);
      expect([...finished].sort()).toEqual([0, 1, 2, 3, 4]);
      const info = await jsm.consumers.info(n.streams.alerts, name);
      expect(info.num_ack_pending + info.num_pending).toBe(0);
    } finally {
      await next.stop();
    }
  });
});

describe('the consumer loop through a NATS restart', () => {
  let own: OwnNatsServer;
  let ownNc: NatsConnection;

  beforeAll(async () => {
    own = await OwnNatsServer.start('consumer');
    ownNc = await connectNats({ url: own.url, name: 'consumer-restart-test', logger });
  });

  afterAll(async () => {
    await ownNc?.close();
    await own?.destroy();
  });

  it('resumes pulling once the server is back', async () => {
    const ownJs = jetstream(ownNc);
    const ownJsm = await jetstreamManager(ownNc);
    await ensureStreams(ownJsm, n, ['alerts', 'deadletter']);
    const name = await durable(ownJsm, n, 'restart');
    const handled: number[] = [];
    const running = startConsumerLoop({
      js: ownJs,
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-restart',
      schema: Note,
      handle: async (note) => {
        handled.push(note.i);
      },
      logger,
      clock: systemClock,
    });
    try {
      await ownJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 1 }));
      await waitFor(() => handled.length === 1);
      await own.stop();
      await sleep(1_500);
      await own.start();
      await waitFor(
        async () => {
          try {
            await ownJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 2 }), { msgID: 'second' });
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 20_000 },
      );
      await waitFor(() => handled.includes(2), { timeoutMs: 20_000 });
      // At least once: an ack in flight when the server stopped may bring 1 back.
      expect([...new Set(handled)]).toEqual([1, 2]);
      expect(running.running).toBe(true);
    } finally {
      await running.stop();
    }
  });
  it('sends no pull while the connection is down, and pulls again as soon as it is back', async () => {
    const loopNc = await connectNats({ url: own.url, name: 'consumer-down-test', logger });
    const loopJs = jetstream(loopNc);
    await ensureStreams(await jetstreamManager(loopNc), n, ['alerts', 'deadletter']);
    const name = await durable(await jetstreamManager(loopNc), n, 'down');
    // When the client was told the link was lost and back, and when the loop sent each pull.
    let down: number | undefined;
    let back: number | undefined;
    void (async () => {
      for await (const status of loopNc.status()) {
        if (status.type === 'disconnect') down ??= performance.now();
        if (status.type === 'reconnect' && down !== undefined) back ??= performance.now();
      }
    })();
    const pulls: number[] = [];
    const publish = loopNc.publish.bind(loopNc);
    loopNc.publish = (subject, payload, options) => {
      if (subject.includes('.CONSUMER.MSG.NEXT.')) pulls.push(performance.now());
      publish(subject, payload, options);
    };
    const handledAt = new Map<number, number>();
    const running = startConsumerLoop({
      js: loopJs,
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-down',
      schema: Note,
      handle: async (note) => {
        handledAt.set(note.i, performance.now());
      },
      logger,
      clock: systemClock,
    });
    try {
      await loopJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 1 }));
      await waitFor(() => handledAt.has(1));
      await own.stop();
      await waitFor(() => down !== undefined, { what: 'the client to see the link lost' });
      await sleep(2_500);
      await own.start();
      await waitFor(() => back !== undefined, { timeoutMs: 10_000, what: 'the client to reconnect' });
      const lostAt = down as number;
      const backAt = back as number;
      // A pull sent as the link went (before the client was told) may be; none after.
      expect(pulls.filter((at) => at > lostAt + 50 && at < backAt)).toEqual([]);
      await waitFor(() => pulls.some((at) => at >= backAt), { timeoutMs: 5_000, what: 'a pull' });
      // At once, not after a pull's wait for heartbeats or a pause.
      expect((pulls.find((at) => at >= backAt) as number) - backAt).toBeLessThan(500);
      let sentAt = 0;
      await waitFor(
        async () => {
          try {
            sentAt = performance.now();
            await loopJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 2 }), { msgID: 'down-2' });
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 20_000 },
      );
      await waitFor(() => handledAt.has(2), { timeoutMs: 10_000 });
      expect(running.running).toBe(true);
      expect((handledAt.get(2) as number) - sentAt).toBeLessThan(1_500);
    } finally {
      await running.stop();
      await loopNc.close();
    }
  });
  it('pulls again as soon as the client is back after a quick restart, told (shutdown) or not (crash)', async () => {
    const loopNc = await connectNats({ url: own.url, name: 'consumer-quick-restart', logger });
    const loopJs = jetstream(loopNc);
    await ensureStreams(await jetstreamManager(loopNc), n, ['alerts', 'deadletter']);
    const name = await durable(await jetstreamManager(loopNc), n, 'quick');
    let back: number | undefined;
    void (async () => {
      for await (const status of loopNc.status()) if (status.type === 'reconnect') back ??= performance.now();
    })();
    const handledAt = new Map<number, number>();
    const running = startConsumerLoop({
      js: loopJs,
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-quick',
      schema: Note,
      handle: async (note) => {
        handledAt.set(note.i, performance.now());
      },
      logger,
      clock: systemClock,
    });
    // The best of up to three tries each: a loaded machine may hold one alarm up for its own
    // reasons; the pause this guards against holds every one.
    const latency: Record<string, number> = {};
    try {
      await loopJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 0 }));
      await waitFor(() => handledAt.has(0));
      let i = 0;
      for (const how of ['shutdown', 'crash', 'shutdown', 'crash', 'shutdown', 'crash'] as const) {
        if ((latency[how] ?? Number.POSITIVE_INFINITY) < 300) continue;
        i += 1;
        // Idle, a pull open: the server goes and is started again at once.
        await sleep(300);
        back = undefined;
        await (how === 'shutdown' ? own.stop() : own.kill());
        await own.start();
        await waitFor(() => back !== undefined, { timeoutMs: 10_000, what: 'the client to reconnect' });
        // An alarm stored as soon as the client is back (JetStream is up once the server listens).
        const sentAt = performance.now();
        await loopJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }), { msgID: `quick-${i}` });
        await waitFor(() => handledAt.has(i), { timeoutMs: 10_000, what: `the alarm after the ${how}` });
        latency[how] = Math.min(
          latency[how] ?? Number.POSITIVE_INFINITY,
          Math.round((handledAt.get(i) as number) - sentAt),
        );
      }
      // Not after a pause for a pull the server ended on its way down (1 s), nor after waiting out
      // the expiry of one a crashed server can no longer answer (1.25 s from the crash).
      expect(Object.entries(latency).filter(([, ms]) => ms >= 300)).toEqual([]);
      expect(running.running).toBe(true);
    } finally {
      await running.stop();
      await loopNc.close();
    }
  });
});

describe('the consumer loop through a server that stalls', () => {
  let own: OwnNatsServer;
  let ownNc: NatsConnection;
  /** Another client of the same server, as a gateway storing alarms while the loop's link stalls. */
  let publisherNc: NatsConnection;
  let proxy: FaultProxy;

  beforeAll(async () => {
    own = await OwnNatsServer.start('consumer-stall');
    ownNc = await connectNats({ url: own.url, name: 'consumer-stall-test', logger });
    publisherNc = await connectNats({ url: own.url, name: 'consumer-stall-publisher', logger });
    proxy = await FaultProxy.start({ port: own.port });
  });

  afterAll(async () => {
    own?.thaw();
    await ownNc?.close();
    await publisherNc?.close();
    await proxy?.close();
    await own?.destroy();
  });

  /** A consumer with the services' ack wait: a message a pull dropped comes back only after it. */
  async function alarmConsumer(jsm: JetStreamManager, name: string): Promise<string> {
    await ensureDurableConsumer(
      jsm,
      n.streams.alerts,
      name,
      { ack_wait: ACK_WAIT_S * SECOND_NS, max_deliver: -1 },
      { filter_subject: `${n.namespace}.alerts.${name}.*` },
    );
    return name;
  }

  it('keeps what the server delivers to a pull it answered late: every alarm well within the ack wait through a link a second slow', async () => {
    const ownJsm = await jetstreamManager(ownNc);
    await ensureStreams(ownJsm, n, ['alerts', 'deadletter']);
    const name = await alarmConsumer(ownJsm, 'slowlink');
    // The loop's connection goes through a link that, for a while, carries everything 700 ms late
    // each way: a server starved of CPU, a congested network. Each pull is answered 1.4 s after it
    // is sent, later than the client waits for a pull's heartbeats.
    const loopNc = await connectNats({ url: proxy.url('nats'), name: 'consumer-slowlink', logger });
    const handledAt = new Map<number, number>();
    const running = startConsumerLoop({
      js: jetstream(loopNc),
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-slowlink',
      schema: Note,
      handle: async (note) => {
        handledAt.set(note.i, performance.now());
      },
      logger,
      clock: systemClock,
    });
    const sentAt = new Map<number, number>();
    const publisherJs = jetstream(publisherNc);
    try {
      await publisherJs.publish(subject(name, 'res_0'), JSON.stringify({ key: 'res_0', i: 0 }));
      await waitFor(() => handledAt.has(0));
      proxy.set({ kind: 'delay', ms: 700 });
      // One alarm every 1.5 s: a round trip apart, so none waits behind another.
      for (let i = 1; i <= 5; i++) {
        sentAt.set(i, performance.now());
        await publisherJs.publish(subject(name, `res_${i}`), JSON.stringify({ key: `res_${i}`, i }));
        await sleep(1_500);
      }
      await waitFor(() => handledAt.size === 6, { timeoutMs: 20_000, what: 'every alarm' });
      proxy.set({ kind: 'pass' });
      // A delivery the client dropped would come back after the ack wait (5 s), plus the link.
      const late = [...sentAt]
        .map(([i, at]) => ({ i, ms: Math.round((handledAt.get(i) as number) - at) }))
        .filter(({ ms }) => ms > 3_000);
      expect(late).toEqual([]);
      const info = await ownJsm.consumers.info(n.streams.alerts, name);
      expect(info.num_redelivered).toBe(0);
    } finally {
      proxy.set({ kind: 'pass' });
      await running.stop();
      await loopNc.close();
    }
  }, 60_000);

  it('holds no more than its concurrency after a stall: a pull it gave up on is counted until the server answers it', async () => {
    const ownJsm = await jetstreamManager(ownNc);
    await ensureStreams(ownJsm, n, ['alerts', 'deadletter']);
    const name = await durable(ownJsm, n, 'stallbound');
    // What the loop holds, seen from its own connection: every delivery that reaches it (a second
    // subscription on the connection gets a copy of each) until it acks, hands back or terminates
    // it. The server's own count (num_ack_pending) is no measure of it: nats-server takes acks in
    // on a queue of their own, so a pull sent just after an ack may be served before the ack is
    // counted, and the server briefly counts one more than the client holds.
    const loopNc = await connectNats({ url: own.url, name: 'consumer-stallbound', logger });
    const inHand = new Set<string>();
    const settled = new Set<string>();
    let most = 0;
    const ofLoop = (reply: string | undefined): reply is string =>
      reply?.startsWith('$JS.ACK.') === true && reply.split('.')[3] === name;
    loopNc.subscribe('_INBOX.>', {
      callback: (_err, msg) => {
        if (!ofLoop(msg.reply) || settled.has(msg.reply)) return;
        inHand.add(msg.reply);
        most = Math.max(most, inHand.size);
      },
    });
    // A delivery is settled through the connection's protocol handler (`msg.respond`), not its
    // `publish`.
    type Publisher = { publish(subject: string, payload?: Uint8Array | string, options?: unknown): void };
    const protocol = (loopNc as NatsConnection & { protocol: Publisher }).protocol;
    const publish = protocol.publish.bind(protocol);
    protocol.publish = (subject, payload, options) => {
      const said = typeof payload === 'string' ? payload : new TextDecoder().decode(payload);
      if (ofLoop(subject) && said !== '+WPI') {
        settled.add(subject);
        inHand.delete(subject);
      }
      publish(subject, payload, options);
    };
    const handled = new Set<number>();
    const running = startConsumerLoop({
      js: jetstream(loopNc),
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-stallbound',
      schema: Note,
      handle: async (note) => {
        await sleep(300);
        handled.add(note.i);
      },
      concurrency: 4,
      logger,
      clock: systemClock,
    });
    try {
      // Idle, with a pull open: the server stalls three and a half seconds, long enough for the
      // loop to give up on several pulls, and a backlog of alarms is stored as it runs again.
      await sleep(300);
      own.freeze();
      for (let i = 0; i < 16; i++)
        publisherNc.publish(subject(name, `res_${i}`), JSON.stringify({ key: `res_${i}`, i }));
      await sleep(3_500);
      own.thaw();
      await waitFor(() => handled.size === 16, { timeoutMs: 12_000, what: 'the backlog' });
      // Each settled once; a delivery the server sent again (its ack wait passed on a machine
      // this busy) is settled under a reply of its own: at least once, never lost.
      expect(settled.size).toBeGreaterThanOrEqual(16);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(4);
    } finally {
      own.thaw();
      await running.stop();
      await loopNc.close();
    }
  });

  it('gives up a pull lost on its way after two of its own heartbeats: an alarm lane with short ones is not held a second', async () => {
    const ownJsm = await jetstreamManager(ownNc);
    await ensureStreams(ownJsm, n, ['alerts', 'deadletter']);
    const name = await durable(ownJsm, n, 'lostpull');
    // The loop's pulls go through a connection that loses the next one when told to, as a route
    // that flaps loses what it carries: the link stays up, the server never hears of that pull.
    const loopNc = await connectNats({ url: own.url, name: 'consumer-lostpull', logger });
    let lose = false;
    let lostAt: number | undefined;
    const publish = loopNc.publish.bind(loopNc);
    loopNc.publish = (subject, payload, options) => {
      if (lose && subject.includes('.CONSUMER.MSG.NEXT.')) {
        lose = false;
        lostAt = performance.now();
        return;
      }
      publish(subject, payload, options);
    };
    const handledAt = new Map<number, number>();
    const running = startConsumerLoop({
      js: jetstream(loopNc),
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-lostpull',
      schema: Note,
      handle: async (note) => {
        handledAt.set(note.i, performance.now());
      },
      heartbeatMs: 150,
      logger,
      clock: systemClock,
    });
    const publisherJs = jetstream(publisherNc);
    try {
      await publisherJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 0 }));
      await waitFor(() => handledAt.has(0));
      // The best of up to three lost pulls (a loaded machine may hold one alarm up for its own reasons).
      let best = Number.POSITIVE_INFINITY;
      for (let i = 1; i <= 3 && best >= 700; i++) {
        lostAt = undefined;
        lose = true;
        await waitFor(() => lostAt !== undefined, { what: 'a pull lost' });
        const sentAt = performance.now();
        await publisherJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i }));
        await waitFor(() => handledAt.has(i), { timeoutMs: 10_000 });
        best = Math.min(best, (handledAt.get(i) as number) - sentAt);
      }
      // Two heartbeats (300 ms) and the server's word that it holds no pull, not two of the
      // default half-expiry ones (1 s).
      expect(best).toBeLessThan(700);
      expect(running.running).toBe(true);
    } finally {
      await running.stop();
      await loopNc.close();
    }
  });

  it('pulls again at once when a pull ends on missed heartbeats, so the next message is not held a second more', async () => {
    const ownJs = jetstream(ownNc);
    const ownJsm = await jetstreamManager(ownNc);
    await ensureStreams(ownJsm, n, ['alerts', 'deadletter']);
    const name = await durable(ownJsm, n, 'stall');
    const handled: number[] = [];
    const pulls: number[] = [];
    const running = startConsumerLoop({
      js: ownJs,
      names: n,
      stream: n.streams.alerts,
      consumer: name,
      service: 'svc-stall',
      schema: Note,
      handle: async (note) => {
        handled.push(note.i);
      },
      beforePull: async () => {
        pulls.push(performance.now());
      },
      logger,
      clock: systemClock,
    });
    try {
      await ownJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 1 }));
      await waitFor(() => handled.length === 1);
      // A server that says nothing for about three seconds (starved of CPU, its VM paused): each
      // pull open then hears no heartbeat and the loop stops waiting for it after two idle
      // intervals (about a second); the third pull unanswered running has the consumer looked up.
      own.freeze();
      const frozenAt = performance.now();
      await sleep(500);
      // An alarm sent while the server is stalled: stored once it runs again.
      publisherNc.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 2 }));
      // Two pulls again during the stall, then the third given up on a second after the second:
      // the server runs again just after it.
      await waitFor(() => pulls.filter((at) => at > frozenAt).length >= 2, { timeoutMs: 5_000 });
      await sleep(1_250);
      own.thaw();
      const thawedAt = performance.now();
      const during = pulls.filter((at) => at > frozenAt && at < thawedAt);
      const gaps = during.slice(1).map((at, i) => at - (during[i] as number));
      // Pulled again as soon as each ended (about a second apart), not a second's pause later.
      expect(during.length).toBeGreaterThanOrEqual(2);
      expect(Math.max(...gaps)).toBeLessThan(1_700);
      await waitFor(() => handled.includes(2), { timeoutMs: 10_000 });
      // Handled as soon as the server runs again: not after a pause (a pause before the lookup of
      // the consumer held it about 800 ms), nor after the ack wait.
      expect(performance.now() - thawedAt).toBeLessThan(400);
      await ownJs.publish(subject(name, 'a'), JSON.stringify({ key: 'a', i: 3 }));
      await waitFor(() => handled.includes(3), { timeoutMs: 5_000 });
      expect(running.running).toBe(true);
    } finally {
      own.thaw();
      await running.stop();
    }
  });
});

import { DiscardPolicy, JetStreamApiError } from '@nats-io/jetstream';
import { errors as natsErrors } from '@nats-io/transport-node';
import { servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createLogger,
  headers,
  isPermanentFailure,
  JetStreamPublisher,
  jetstream,
  jetstreamManager,
  type NatsConnection,
} from '../src/index.ts';

const ns = uniqueNamespace('publisher');
const logger = createLogger('publisher-test', 'silent');
const stream = `${ns}_STORE`;
const full = `${ns}_FULL`;

let nc: NatsConnection;
let publisher: JetStreamPublisher;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'publisher-test', logger, asyncTraces: false });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${ns}.store.>`], duplicate_window: 60 * 1e9 });
  await jsm.streams.add({ name: full, subjects: [`${ns}.full`], max_msgs: 1, discard: DiscardPolicy.New });
  publisher = new JetStreamPublisher(nc);
});

afterAll(async () => {
  publisher?.close();
  const jsm = await jetstreamManager(nc);
  for (const name of [stream, full]) await jsm.streams.delete(name).catch(() => false);
  await nc?.close();
});

const failure = (attempt: Promise<unknown>) =>
  attempt.then(
    () => expect.unreachable('the publish succeeded'),
    (err: unknown) => err,
  );

describe('JetStreamPublisher', () => {
  it('stores a message with its headers, and knows a resend by its msgID', async () => {
    const h = headers();
    h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const first = await publisher.publish(`${ns}.store.a`, '{"n":1}', { msgID: 'evt_one', headers: h });
    expect(first).toMatchObject({ stream, duplicate: false });
    const again = await publisher.publish(`${ns}.store.a`, '{"n":1}', { msgID: 'evt_one' });
    expect(again).toMatchObject({ stream, seq: first.seq, duplicate: true });

    const stored = await (await jetstreamManager(nc)).streams.getMessage(stream, { seq: first.seq });
    expect(stored?.string()).toBe('{"n":1}');
    expect(stored?.header.get('Nats-Msg-Id')).toBe('evt_one');
    expect(stored?.header.get('traceparent')).toBe(h.get('traceparent'));
  });

  it('answers many publishes at once, each with its own PubAck', async () => {
    const acks = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        publisher.publish(`${ns}.store.b`, `m${i}`, { msgID: `evt_b${i}` }),
      ),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(300);
    const js = jetstream(nc);
    // The same answers js.publish gives for the same messages sent again.
    const resent = await js.publish(`${ns}.store.b`, 'm7', { msgID: 'evt_b7' });
    expect(resent).toMatchObject({ stream, seq: acks[7]?.seq, duplicate: true });
    expect(publisher.waiting).toBe(0);
  });

  it('fails as the client fails, and only a message that cannot be sent is permanent', async () => {
    const noStream = await failure(publisher.publish(`${ns}.nowhere`, 'x', { msgID: 'evt_x' }));
    expect(noStream).toBeInstanceOf(natsErrors.NoRespondersError);
    expect(isPermanentFailure(noStream)).toBe(false);

    await publisher.publish(`${ns}.full`, 'first', { msgID: 'evt_f1' });
    const refused = await failure(publisher.publish(`${ns}.full`, 'second', { msgID: 'evt_f2' }));
    expect(refused).toBeInstanceOf(JetStreamApiError);
    expect(isPermanentFailure(refused)).toBe(false);

    const tooBig = await failure(
      publisher.publish(`${ns}.store.c`, 'x'.repeat(nc.info?.max_payload ?? 1_048_576), { msgID: 'evt_big' }),
    );
    expect(tooBig).toBeInstanceOf(natsErrors.InvalidArgumentError);
    expect(isPermanentFailure(tooBig)).toBe(true);
    expect(publisher.waiting).toBe(0);
  });

  it('stores only in the stream it expects, when told one', async () => {
    const stored = await publisher.publish(`${ns}.store.e`, '{"n":2}', {
      msgID: 'evt_e1',
      expectStream: stream,
    });
    expect(stored).toMatchObject({ stream, duplicate: false });
    const other = await failure(
      publisher.publish(`${ns}.store.e`, '{"n":3}', { msgID: 'evt_e2', expectStream: full }),
    );
    expect(other).toBeInstanceOf(JetStreamApiError);
    expect(isPermanentFailure(other)).toBe(false);
  });

  it('times out when no answer comes, and ignores one that comes after', async () => {
    const quick = new JetStreamPublisher(nc, { timeoutMs: 300 });
    // Heard but never answered: no "no responders" either.
    const silent = nc.subscribe(`${ns}.silent`);
    const late: string[] = [];
    void (async () => {
      for await (const msg of silent) {
        late.push(msg.reply ?? '');
        setTimeout(() => msg.respond('{"stream":"X","seq":1}'), 800);
      }
    })();
    try {
      await nc.flush();
      const started = performance.now();
      const err = await failure(quick.publish(`${ns}.silent`, 'x', { msgID: 'evt_s' }));
      expect(err).toBeInstanceOf(natsErrors.TimeoutError);
      expect(performance.now() - started).toBeGreaterThanOrEqual(300);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(quick.waiting).toBe(0);
      // The late answer reaches a publisher that no longer waits for it.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(late).toHaveLength(1);
      expect(quick.waiting).toBe(0);
    } finally {
      silent.unsubscribe();
      quick.close();
    }
  });

  it('fails what still waits when closed', async () => {
    const closing = new JetStreamPublisher(nc);
    const silent = nc.subscribe(`${ns}.silent2`);
    try {
      await nc.flush();
      const waiting = failure(closing.publish(`${ns}.silent2`, 'x', { msgID: 'evt_c' }));
      closing.close();
      expect(await waiting).toBeInstanceOf(natsErrors.ClosedConnectionError);
    } finally {
      silent.unsubscribe();
    }
  });

  it('sends what waits again when told (a leader elected), answered by the second send', async () => {
    const patient = new JetStreamPublisher(nc, { timeoutMs: 5_000 });
    // Like a stream leader lost in an election: the first send of each is never answered.
    const heard = new Map<string, number>();
    const lossy = nc.subscribe(`${ns}.lossy.*`, {
      callback: (_err, msg) => {
        const id = msg.headers?.get('Nats-Msg-Id') ?? '';
        const sends = (heard.get(id) ?? 0) + 1;
        heard.set(id, sends);
        if (sends > 1) msg.respond(JSON.stringify({ stream: 'LOSSY', seq: sends, duplicate: false }));
      },
    });
    try {
      await nc.flush();
      const h = headers();
      h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      const started = performance.now();
      const acks = [
        patient.publish(`${ns}.lossy.a`, '{"n":1}', { msgID: 'evt_l1', headers: h }),
        patient.publish(`${ns}.lossy.b`, '{"n":2}', { msgID: 'evt_l2' }),
      ];
      await nc.flush();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(patient.waiting).toBe(2);
      expect(patient.resendWaiting()).toBe(2);
      const answered = await Promise.all(acks);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(answered.map((a) => a.stream)).toEqual(['LOSSY', 'LOSSY']);
      expect([...heard.values()]).toEqual([2, 2]);
      expect(patient.waiting).toBe(0);
      // Nothing waits: nothing is sent again.
      expect(patient.resendWaiting()).toBe(0);
    } finally {
      lossy.unsubscribe();
      patient.close();
    }
  });

  it('a resent store is stored once, the second answer a duplicate', async () => {
    const first = publisher.publish(`${ns}.store.twice`, '{"n":3}', { msgID: 'evt_twice' });
    publisher.resendWaiting();
    const ack = await first;
    expect(ack.stream).toBe(stream);
    const again = await publisher.publish(`${ns}.store.twice`, '{"n":3}', { msgID: 'evt_twice' });
    expect(again).toMatchObject({ seq: ack.seq, duplicate: true });
    const info = await (await jetstreamManager(nc)).streams.info(stream, {
      subjects_filter: `${ns}.store.twice`,
    });
    expect(info.state.subjects?.[`${ns}.store.twice`]).toBe(1);
  });
});

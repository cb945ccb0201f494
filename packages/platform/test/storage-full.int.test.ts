import { names } from '@telecare/contracts';
import { OwnNatsServer, pendantEvent } from '@telecare/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectNats,
  createLogger,
  DiscardPolicy,
  ensureStreams,
  headers,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  StreamStorageError,
  streamBytes,
} from '../src/index.ts';

/**
 * JetStream with a full store refuses every publish on every stream ("insufficient resources"):
 * an EVENTS stream without a byte bound that grows past the server's `max_file_store` silences
 * every alarm with it. Bounded, EVENTS gives up its oldest events and the rest keep their room.
 */
const logger = createLogger('storage-full-test', 'silent');
const MB = 1024 * 1024;
const PARTITIONS = 8;
const residentId = 'res_storagefull01';

let server: OwnNatsServer | undefined;
let nc: NatsConnection | undefined;

afterEach(async () => {
  await nc?.close();
  nc = undefined;
  await server?.destroy();
  server = undefined;
});

async function start(options: { maxFileStore?: string; accountMaxFile?: string }) {
  server = await OwnNatsServer.start('storage-full', options);
  nc = await connectNats({ url: server.url, name: 'storage-full-test', logger });
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}

/** About what one stored event takes (its JSON, subject, headers and the store's own bytes). */
const EVENT_BYTES = 700;

/** A gateway's store of one event, as it publishes it (id as message id, a trace header). */
function store(nc: NatsConnection, n: ReturnType<typeof names>, type: string, key: string) {
  const event = pendantEvent({
    residentId,
    serial: 'PND-STORAGE-1',
    type,
    key,
    partitions: PARTITIONS,
    data: { room: 'hall', level: 17, note: 'x'.repeat(200) },
  });
  const h = headers();
  h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  return jetstream(nc).publish(n.subjects.event(event.partition, event.type), JSON.stringify(event), {
    msgID: event.id,
    headers: h,
  });
}

/** Stores ordinary events, a batch at a time, until `bytes` of them were sent (or one is refused). */
async function fillEvents(nc: NatsConnection, n: ReturnType<typeof names>, bytes: number) {
  const batch = 256;
  for (let sent = 0, i = 0; sent < bytes; ) {
    const stores = Array.from({ length: batch }, (_, k) =>
      store(nc, n, (i + k) % 2 ? 'motion' : 'heartbeat', `fill-${i + k}`),
    );
    i += batch;
    const acks = await Promise.all(stores);
    sent += acks.length * EVENT_BYTES;
  }
}

/** After EVENTS filled the store: a press, its alert and a case event are each stored. */
async function alarmPathStores(nc: NatsConnection, n: ReturnType<typeof names>) {
  const js = jetstream(nc);
  const press = await store(nc, n, 'pendant.pressed', 'press-1');
  const alert = await js.publish(
    n.subjects.alert(1, residentId),
    JSON.stringify({ id: 'alt_storagefull', residentId, priority: 'P1', type: 'pendant.pressed' }),
    { msgID: 'alt_storagefull' },
  );
  const caseEvent = await js.publish(
    n.subjects.caseEvent('case_storagefull'),
    JSON.stringify({ caseId: 'case_storagefull', kind: 'opened', alertId: 'alt_storagefull' }),
    { msgID: 'case_storagefull:1' },
  );
  return { press, alert, caseEvent };
}

// Filling a store takes tens of thousands of stores: seconds on a quiet machine, more on a busy one.
describe('a full JetStream store', { timeout: 180_000 }, () => {
  it('still stores a pendant press, its alert and its case when ordinary events filled the store (TELECARE_JETSTREAM_MAX_BYTES)', async () => {
    // The server's max_file_store, which JetStream does not report: told by the setting.
    const { nc, jsm } = await start({ maxFileStore: '24MB' });
    const n = names('tfull');
    await ensureStreams(jsm, n, ['events', 'alerts', 'cases'], { storeBytes: 24 * MB });
    // More than the store holds: without a bound JetStream refuses once its store is full.
    await fillEvents(nc, n, 32 * MB);
    const stored = await alarmPathStores(nc, n);
    expect(stored.press.stream).toBe(n.streams.events);
    expect(stored.press.duplicate).toBe(false);
    expect(stored.alert.stream).toBe(n.streams.alerts);
    expect(stored.caseEvent.stream).toBe(n.streams.cases);
    const events = await jsm.streams.info(n.streams.events);
    expect(events.config.max_bytes).toBe(streamBytes(24 * MB).events);
    expect(events.config.discard).toBe(DiscardPolicy.Old);
    // The oldest ordinary events went first; the press is the newest.
    expect(events.state.first_seq).toBeGreaterThan(1);
    expect(events.state.last_seq).toBe(stored.press.seq);
  });

  it('derives EVENTS bound from the limit JetStream reports for the account, room kept for every other stream', async () => {
    const { nc, jsm } = await start({ accountMaxFile: '32MB' });
    expect((await jsm.getAccountInfo()).limits.max_storage).toBe(32 * MB);
    const n = names('tderived');
    // Every stream a service creates, on a store far below DEADLETTER's usual 2 GB.
    await ensureStreams(jsm, n, ['events', 'alerts', 'cases', 'deadletter', 'security']);
    const bounds = await Promise.all(
      [n.streams.events, n.streams.alerts, n.streams.cases, n.streams.deadletter, n.streams.security].map(
        async (stream) => (await jsm.streams.info(stream)).config.max_bytes,
      ),
    );
    const shares = streamBytes(32 * MB);
    expect(bounds).toEqual([shares.events, shares.alerts, shares.cases, shares.deadletter, shares.security]);
    // Room is left for the KV buckets, which are not bounded.
    expect(bounds.reduce((a, b) => a + b, 0)).toBe(32 * MB - shares.buckets);
    await fillEvents(nc, n, 40 * MB);
    const stored = await alarmPathStores(nc, n);
    expect(stored.press.stream).toBe(n.streams.events);
    const letter = await jetstream(nc).publish(n.subjects.deadletter('test', 'not-json'), 'letter');
    expect(letter.stream).toBe(n.streams.deadletter);
  });

  it('bounds an EVENTS made by an older version, unbounded, at the next start, and resizes it when told', async () => {
    const { nc, jsm } = await start({ maxFileStore: '24MB' });
    const n = names('tupgrade');
    await jsm.streams.add({ name: n.streams.events, subjects: [n.subjects.allEvents] });
    await ensureStreams(jsm, n, ['events', 'alerts', 'cases'], { storeBytes: 24 * MB });
    expect((await jsm.streams.info(n.streams.events)).config.max_bytes).toBe(streamBytes(24 * MB).events);
    await fillEvents(nc, n, 32 * MB);
    expect((await alarmPathStores(nc, n)).press.stream).toBe(n.streams.events);
    // A store told again follows, down as up; the default (nothing told) leaves a bound alone.
    await ensureStreams(jsm, n, ['events'], { storeBytes: 20 * MB });
    expect((await jsm.streams.info(n.streams.events)).config.max_bytes).toBe(streamBytes(20 * MB).events);
    await ensureStreams(jsm, n, ['events']);
    expect((await jsm.streams.info(n.streams.events)).config.max_bytes).toBe(streamBytes(20 * MB).events);
  });

  it('leaves an older, unbounded EVENTS holding more than a guessed store would keep as it is, and says so: an upgrade that did not set the store discards no history', async () => {
    const { nc, jsm } = await start({ maxFileStore: '24MB' });
    const n = names('tguess');
    await jsm.streams.add({ name: n.streams.events, subjects: [n.subjects.allEvents] });
    await fillEvents(nc, n, 2 * MB);
    const held = (await jsm.streams.info(n.streams.events)).state.messages;
    // Nothing told, nothing reported: the store is a guess, here smaller than what EVENTS holds.
    const made = await ensureStreams(jsm, n, ['events', 'alerts'], { defaultStoreBytes: 2 * MB });
    expect(made?.source).toBe('default');
    expect(made?.unbounded).toEqual([n.streams.events]);
    const events = await jsm.streams.info(n.streams.events);
    expect(events.config.max_bytes).toBe(-1);
    expect(events.state.messages).toBe(held);
    // A stream made now is bounded by the guess all the same; told the store, EVENTS is bounded.
    expect((await jsm.streams.info(n.streams.alerts)).config.max_bytes).toBe(streamBytes(2 * MB).alerts);
    const told = await ensureStreams(jsm, n, ['events'], { storeBytes: 24 * MB });
    expect(told?.unbounded).toEqual([]);
    expect((await jsm.streams.info(n.streams.events)).config.max_bytes).toBe(streamBytes(24 * MB).events);
  });

  it('refuses a store the server cannot reserve with an error naming the setting', async () => {
    const { jsm } = await start({ maxFileStore: '24MB' });
    const n = names('ttoobig');
    const made = ensureStreams(jsm, n, ['events'], { storeBytes: 64 * MB });
    await expect(made).rejects.toBeInstanceOf(StreamStorageError);
    await expect(made).rejects.toThrow(/TELECARE_JETSTREAM_MAX_BYTES/);
  });
});

import { connect, type Socket } from 'node:net';
import { names, type SecurityEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  createMetrics,
  ensureStreams,
  JetStreamPublisher,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  systemClock,
} from '@telecare/platform';
import { decodeReply } from '@telecare/simulators';
import { cleanupNamespace, servers, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDc09Accounts, openDc09AccountsMirror } from '../src/accounts.ts';
import { Dc09Gateway } from '../src/gateway.ts';
import { createDc09Metrics } from '../src/metrics.ts';
import { forgedFrame, testAccount } from './support.ts';

/**
 * A security event is kept (synced to the state folder, off the event loop) before the frame that
 * raised it is answered: the gateway waits for what `securityEvent` answers, here held by the test.
 */

const ns = uniqueNamespace('gwdc09kept');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ACCOUNT = 'D001';
const KEY = '000102030405060708090A0B0C0D0E0F';

let nc: NatsConnection;
let publisher: JetStreamPublisher;
let accounts: Awaited<ReturnType<typeof openDc09AccountsMirror>>;
let gateway: Dc09Gateway;
let tcpPort: number;
const raised: SecurityEvent[] = [];
const keep: Array<() => void> = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
  await ensureStreams(await jetstreamManager(nc), n, ['events', 'deadletter'], { replicas: 1 });
  await (await openDc09Accounts(nc, n)).put(ACCOUNT, JSON.stringify(testAccount(ACCOUNT, { key: KEY })));
  accounts = await openDc09AccountsMirror(nc, n, logger, { replicas: 1 });
  publisher = new JetStreamPublisher(nc, { timeoutMs: 2_000 });
  gateway = new Dc09Gateway({
    names: n,
    js: jetstream(nc),
    publisher,
    accounts,
    metrics: createDc09Metrics(createMetrics('gateway-dc09')),
    clock: systemClock,
    partitions: 8,
    window: { behindMs: 40_000, aheadMs: 20_000 },
    idleMs: 60_000,
    frameDeadlineMs: 30_000,
    maxConnectionsPerSource: 10,
    nak: { burst: 20, perMinute: 30 },
    keyless: 'allow',
    retryMs: 5_000,
    resendGapMs: 10_000,
    maxConnections: 100,
    maxPendingOutputBytes: 65_536,
    securityEvent: (event) => {
      raised.push(event);
      return new Promise<void>((resolve) => keep.push(resolve));
    },
    logger,
  });
  tcpPort = (await gateway.listen('127.0.0.1', 0)).tcpPort;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const resolve of keep) resolve();
  await gateway?.drain();
  await accounts?.close();
  publisher?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('gateway-dc09 raising a security event', () => {
  it('answers the forged frame only once the event is kept', async () => {
    const socket = connect({ host: '127.0.0.1', port: tcpPort });
    sockets.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    const replies: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => replies.push(chunk));
    socket.write(forgedFrame(ACCOUNT, KEY, 1));
    await waitFor(() => raised.length > 0, { what: 'the forged frame to be raised', timeoutMs: 10_000 });
    expect(raised[0]).toMatchObject({ kind: 'dc09-frame-forged', detail: { account: ACCOUNT } });
    // Its dead letter is written meanwhile; the NAK waits for the event.
    const letters = async () =>
      (await (await jetstreamManager(nc)).streams.info(n.streams.deadletter)).state.messages;
    await waitFor(async () => (await letters()) > 0 || undefined, {
      what: 'the dead letter to be written',
      timeoutMs: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(replies).toHaveLength(0);
    keep.shift()?.();
    await waitFor(() => replies.length > 0, { what: 'the NAK once the event is kept', timeoutMs: 10_000 });
    expect(decodeReply(Buffer.concat(replies))?.type).toBe('NAK');
    expect(raised).toHaveLength(1);
  });
});

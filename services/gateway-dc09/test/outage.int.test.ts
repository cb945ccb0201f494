import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { Dc09Dialler, decodeReply, encodeDc09Message } from '@telecare/simulators';
import { OwnNatsServer, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { forgedFrame, metricSum, testAccount } from './support.ts';

// This file stops NATS and removes a stream, so it runs its own nats-server on a free port.
const ns = uniqueNamespace('gwdc09out');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const RETRY_S = 3;
const KEYED = 'B005';
const KEY = '000102030405060708090A0B0C0D0E0F';

let nats: OwnNatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let gateway: GatewayDc09Handle;
const diallers: Dc09Dialler[] = [];

async function dialler(account: string, answerTimeoutMs: number, maxAttempts: number) {
  const d = new Dc09Dialler({
    host: '127.0.0.1',
    port: gateway.dc09.tcpPort,
    transport: 'tcp',
    account,
    answerTimeoutMs,
    maxAttempts,
  });
  await d.connect();
  diallers.push(d);
  return d;
}

async function eventsOf(serial: string): Promise<TelecareEvent[]> {
  // After a restart this test's own connection may still be reconnecting when the gateway's is back.
  const info = await waitFor(() => jsm.streams.info(n.streams.events).catch(() => undefined), {
    what: 'this test to read EVENTS again',
    timeoutMs: 30_000,
  });
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    const event = m ? TelecareEvent.parse(m.json()) : undefined;
    // The heartbeat each accepted frame adds is the receipt's: a resend adds its own.
    if (event?.subject === serial && event.type !== 'heartbeat') out.push(event);
  }
  return out;
}

const metric = (name: string, of: GatewayDc09Handle = gateway): Promise<number> => metricSum(of.url, name);

beforeAll(async () => {
  nats = await OwnNatsServer.start(ns);
  const natsUrl = nats.url;
  nc = await connectNats({ url: natsUrl, name: `${ns}-test`, logger });
  jsm = await jetstreamManager(nc);
  const accounts = await openDc09Accounts(nc, n);
  for (const account of ['B001', 'B002', 'B003', 'B004', 'B006'])
    await accounts.put(account, JSON.stringify(testAccount(account)));
  await accounts.put(KEYED, JSON.stringify(testAccount(KEYED, { key: KEY })));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        NATS_URL: natsUrl,
        DC09_PORT: '0',
        GATEWAY_DC09_PORT: '0',
        DC09_RETRY_S: String(RETRY_S),
      }),
    ),
    { logger },
  );
});

afterAll(async () => {
  for (const d of diallers) await d.close();
  await gateway?.close();
  await nc?.close();
  await nats?.destroy();
});

describe('gateway-dc09 when JetStream fails for a while', () => {
  it('retries a store that fails fast (no stream) while it makes the stream again itself, then ACKs the one send', async () => {
    await jsm.streams.delete(n.streams.events);
    const d = await dialler('B001', 10_000, 1);
    const sent = d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]);
    await waitFor(async () => (await metric('gateway_dc09_retries_total')) >= 2, {
      what: 'the gateway to retry the store',
      timeoutMs: 5_000,
    });
    // Nobody else makes EVENTS again: the gateway finds it missing and makes it (STREAM_CHECK_MS).
    const result = await sent;
    expect(await metric('telecare_streams_recreated_total')).toBe(1);
    expect(result).toMatchObject({ reply: 'ACK', attempts: 1 });
    expect((await eventsOf('DC09-B001')).map((e) => e.type)).toEqual(['pendant.pressed']);
    expect(await metric('gateway_dc09_unanswered_total')).toBe(0);
  });

  it("a frame retried while its store fails spends its account's rate once", async () => {
    // An account allowed one event until its bucket refills (in 100 s): a frame that took a token
    // on each try would be rate-limited by its own retries and left unanswered.
    const rated = await startGatewayDc09(
      loadGatewayDc09Config(
        serviceEnv(ns, {
          NATS_URL: nats.url,
          DC09_PORT: '0',
          GATEWAY_DC09_PORT: '0',
          DC09_RETRY_S: '10',
          DC09_ACCOUNT_RATE: '0.01',
          DC09_ACCOUNT_BURST: '1',
        }),
      ),
      { logger },
    );
    const d = new Dc09Dialler({
      host: '127.0.0.1',
      port: rated.dc09.tcpPort,
      transport: 'tcp',
      account: 'B006',
      answerTimeoutMs: 15_000,
      maxAttempts: 1,
    });
    try {
      await d.connect();
      const retriedBefore = await metric('gateway_dc09_retries_total{stage="store"', rated);
      await jsm.streams.delete(n.streams.events);
      // A battery report: not an alarm, so no reserve to fall back on.
      const result = await d.sendCid([{ kind: 'cid', qualifier: 1, code: '302', zone: '006' }]);
      // Tried more than once, or this proves nothing.
      expect(await metric('gateway_dc09_retries_total{stage="store"', rated)).toBeGreaterThanOrEqual(
        retriedBefore + 1,
      );
      expect(result).toMatchObject({ reply: 'ACK', attempts: 1 });
      expect(await metric('gateway_dc09_rate_limited_total', rated)).toBe(0);
      expect((await eventsOf('DC09-B006')).map((e) => e.type)).toEqual(['battery.low']);
    } finally {
      await d.close();
      await rated.close();
    }
  });

  it('raises a forged frame once, however many times its dead letter is tried', async () => {
    // Nobody else makes DEADLETTER again: the refusal is retried until the gateway has (2 s).
    await jsm.streams.delete(n.streams.deadletter);
    const retriedBefore = await metric('gateway_dc09_retries_total{stage="dead-letter"');
    const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort });
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const replies: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => replies.push(chunk));
      socket.write(forgedFrame(KEYED, KEY, 1));
      await waitFor(() => replies.length > 0, { what: 'the forged frame to be refused', timeoutMs: 15_000 });
      expect(decodeReply(Buffer.concat(replies))?.type).toBe('NAK');
    } finally {
      socket.destroy();
    }
    // Tried more than once, or this proves nothing.
    expect(await metric('gateway_dc09_retries_total{stage="dead-letter"')).toBeGreaterThanOrEqual(
      retriedBefore + 2,
    );
    // Every event it raised was raised before the NAK; wait until the outbox stored them all.
    await waitFor(async () => (await metric('telecare_security_outbox_events')) === 0 || undefined, {
      what: 'the security events to be stored',
      timeoutMs: 15_000,
    });
    const info = await jsm.streams.info(n.streams.security);
    const kinds: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(n.streams.security, { seq }).catch(() => null);
      if (m) kinds.push((m.json() as { kind: string }).kind);
    }
    expect(kinds).toEqual(['dc09-frame-forged']);
    expect(await metric('gateway_dc09_forged_total')).toBe(1);
  });

  it('answers nothing once the retry bound has passed; the sender’s resend is stored once', async () => {
    // A third send in case the second comes while the gateway is still reconnecting to NATS.
    const d = await dialler('B002', (RETRY_S + 1.5) * 1000, 3);
    await nats.stop();
    const sent = d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '002' }]);
    await waitFor(async () => (await metric('gateway_dc09_unanswered_total')) >= 1, {
      what: 'the frame to be left unanswered',
      timeoutMs: (RETRY_S + 3) * 1000,
    });
    await nats.start();
    const result = await sent;
    expect(result.reply).toBe('ACK');
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    expect(await eventsOf('DC09-B002')).toHaveLength(1);
  });

  it('a NATS restart within the bound: the frame sent while it was down is ACKed on its first send', async () => {
    const d = await dialler('B003', 10_000, 1);
    await nats.stop();
    const sent = d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '003' }]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await nats.start();
    const result = await sent;
    expect(result).toMatchObject({ reply: 'ACK', attempts: 1 });
    expect(await eventsOf('DC09-B003')).toHaveLength(1);
  });

  it('a TCP frame waiting behind a retried one is judged by when it arrived, not when its turn came', async () => {
    // A window shorter than the retry bound: a frame judged when its turn came would look stale.
    const late = await startGatewayDc09(
      loadGatewayDc09Config(
        serviceEnv(ns, {
          NATS_URL: nats.url,
          DC09_PORT: '0',
          GATEWAY_DC09_PORT: '0',
          // A frame is given up at least 4 s after it was first tried: twice the window.
          DC09_RETRY_S: '6',
          DC09_WINDOW_BEHIND_S: '2',
        }),
      ),
      { logger },
    );
    const socket = connect({ host: '127.0.0.1', port: late.dc09.tcpPort });
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const replies: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => replies.push(chunk));
      await nats.stop();
      const frame = (seq: number) =>
        encodeDc09Message({
          type: 'ADM-CID',
          seq,
          account: 'B004',
          events: [{ kind: 'cid', qualifier: 1, code: '101', zone: String(seq).padStart(3, '0') }],
          at: new Date(),
        });
      socket.write(Buffer.concat([frame(1), frame(2)]));
      // The first frame is retried for the whole bound and left unanswered; the second waited.
      await waitFor(async () => (await metric('gateway_dc09_unanswered_total', late)) >= 1, {
        what: 'the first frame to be left unanswered',
        timeoutMs: 12_000,
      });
      await nats.start();
      await waitFor(() => replies.length > 0, { what: 'the second frame to be answered', timeoutMs: 10_000 });
      expect(decodeReply(Buffer.concat(replies))).toMatchObject({ type: 'ACK', seq: '0002' });
      expect((await eventsOf('DC09-B004')).map((e) => e.data.zone)).toEqual(['002']);
    } finally {
      socket.destroy();
      await late.close();
    }
  });

  it('junk held in retries while JetStream is down does not keep its connection open past the idle timeout; a real frame does', async () => {
    const IDLE_S = 2;
    const held = await startGatewayDc09(
      loadGatewayDc09Config(
        serviceEnv(ns, {
          NATS_URL: nats.url,
          DC09_PORT: '0',
          GATEWAY_DC09_PORT: '0',
          // Each unit's store is retried for longer than the idle timeout.
          DC09_RETRY_S: '6',
          DC09_IDLE_TIMEOUT_S: String(IDLE_S),
        }),
      ),
      { logger },
    );
    const open = async () => {
      const socket = connect({ host: '127.0.0.1', port: held.dc09.tcpPort });
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    };
    const closedAfter = (socket: ReturnType<typeof connect>, started: number) =>
      new Promise<number>((resolve) => {
        if (socket.destroyed) resolve(performance.now() - started);
        socket.once('close', () => resolve(performance.now() - started));
      });
    const junk = await open();
    const genuine = await open();
    let trickle: NodeJS.Timeout | undefined;
    let natsDown = false;
    try {
      await nats.stop();
      natsDown = true;
      const started = performance.now();
      const junkClosed = closedAfter(junk, started);
      const replies: Buffer[] = [];
      genuine.on('data', (chunk: Buffer) => replies.push(chunk));
      // Junk ended by CR, one unit every 300 ms: each waits out its dead letter's retries.
      junk.write('\n');
      trickle = setInterval(() => junk.write('x\r\n'), 300);
      genuine.write(
        encodeDc09Message({
          type: 'ADM-CID',
          seq: 5,
          account: 'B001',
          events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '005' }],
          at: new Date(),
        }),
      );
      expect(
        await Promise.race([junkClosed, sleep((IDLE_S + 3) * 1000).then(() => Number.POSITIVE_INFINITY)]),
      ).toBeLessThan((IDLE_S + 3) * 1000);
      // The genuine frame, in hand past the idle timeout, still holds its connection.
      expect(genuine.destroyed).toBe(false);
      await nats.start();
      natsDown = false;
      await waitFor(() => replies.length > 0, {
        what: 'the genuine frame to be answered',
        timeoutMs: 15_000,
      });
      expect(decodeReply(Buffer.concat(replies))).toMatchObject({ type: 'ACK', seq: '0005' });
    } finally {
      clearInterval(trickle);
      if (natsDown) await nats.start();
      junk.destroy();
      genuine.destroy();
      await held.close();
    }
  }, 60_000);
});

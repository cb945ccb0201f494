import { connect } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { names } from '@telecare/contracts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '@telecare/gateway-dc09';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import { dialerKey, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dc09Account } from '../support/homes.ts';

/**
 * One panel's account and key, in an attacker's hands (or a panel gone wrong): every frame it sends
 * is valid, each with a sequence number and content of its own, on as many connections as its
 * address may open. It must not write EVENTS (and triage's work) as fast as the gateway stores,
 * nor delay a neighbour's press; its own real press still goes through. Sized for CI: the rates
 * are lowered so a few seconds show them.
 */

const ns = uniqueNamespace('dc09flood');
const n = names(ns);
const logger = createLogger('dc09-flood-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const FLOODER = 'F100';
const NEIGHBOUR = 'F200';
const KEYS = {
  [FLOODER]: '00112233445566778899AABBCCDDEEFF',
  [NEIGHBOUR]: '0F0E0D0C0B0A09080706050403020100',
};
const RATE = 10;
const BURST = 20;
const ALARM_RATE = 1;
const ALARM_BURST = 5;
const CONNECTIONS = 4;
const PER_CONNECTION = 250;

let nc: NatsConnection;
let gateway: GatewayDc09Handle;

/** One message batching `count` presses (Contact ID events joined by `/`), zones from `zone`. */
const batch = (seq: number, count: number, zone: number) =>
  encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account: FLOODER,
    events: Array.from({ length: count }, (_, i) => ({
      kind: 'cid' as const,
      qualifier: 1 as const,
      code: '101',
      zone: String((zone + i) % 1000).padStart(3, '0'),
    })),
    at: new Date(),
    key: dialerKey(KEYS[FLOODER], 'hex'),
  });

const frame = (account: keyof typeof KEYS, seq: number, code: string, zone: number) =>
  encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events: [{ kind: 'cid', qualifier: 1, code, zone: String(zone % 1000).padStart(3, '0') }],
    at: new Date(),
    key: dialerKey(KEYS[account], 'hex'),
  });

/**
 * Writes `frames` in one write on a connection of its own; resolves with the ACKs among its replies
 * once every frame is answered (a reply is a line ending in CR), the gateway closes the connection,
 * or `ms` passes. Waiting for the answers, not for a fixed time, keeps an ACK sent late on a busy
 * machine from being stored but not counted.
 */
function pipeline(frames: Buffer[], ms: number): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort });
    let got = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got.split('"*ACK"').length - 1);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      if (got.split('\r').length - 1 >= frames.length) done();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.once('connect', () => socket.write(Buffer.concat(frames)));
  });
}

/** Sends one frame on a connection of its own; resolves with how long its ACK took (ms), or undefined. */
function press(frameBytes: Buffer, ms = 5_000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, ms);
    socket.on('data', (chunk) => {
      if (!chunk.toString('latin1').includes('"*ACK"')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(performance.now() - started);
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => socket.write(frameBytes));
  });
}

/** Events of `type` in EVENTS (only this file's two accounts write there). */
async function storedOf(type: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.events, { subjects_filter: '>' });
  const subjects = info.state.subjects ?? {};
  return Object.entries(subjects)
    .filter(([subject]) => subject.endsWith(`.${type}`))
    .reduce((sum, [, count]) => sum + count, 0);
}

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-flood-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of [FLOODER, NEIGHBOUR]) {
    await accounts.put(
      account,
      JSON.stringify(
        dc09Account(account, { serial: `FLOOD-${account}`, key: KEYS[account as keyof typeof KEYS] }),
      ),
    );
  }
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_ACCOUNT_RATE: String(RATE),
        DC09_ACCOUNT_BURST: String(BURST),
        DC09_ACCOUNT_ALARM_RATE: String(ALARM_RATE),
        DC09_ACCOUNT_ALARM_BURST: String(ALARM_BURST),
      }),
    ),
    { logger },
  );
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('one DC-09 account flooding valid frames', () => {
  it('reaches EVENTS only at its rate, does not delay a neighbour’s press, and its own press still goes through', async () => {
    const started = performance.now();
    // 1,000 periodic tests (record only), each a message of its own, on several connections at once.
    const flood = Array.from({ length: CONNECTIONS }, (_, c) =>
      pipeline(
        Array.from({ length: PER_CONNECTION }, (_, i) =>
          frame(FLOODER, 1 + c * PER_CONNECTION + i, '602', c * PER_CONNECTION + i),
        ),
        3_000,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const neighbour = await press(frame(NEIGHBOUR, 1, '101', 1));
    expect(neighbour).toBeDefined();
    expect(neighbour).toBeLessThan(1_000);
    // Its own press, past its rate: taken from the alarm reserve, at once.
    const own = await press(frame(FLOODER, 5001, '101', 1));
    expect(own).toBeDefined();
    expect(own).toBeLessThan(1_000);
    const acked = (await Promise.all(flood)).reduce((sum, count) => sum + count, 0);
    // Every ACK is a stored event; a frame whose ACK came after the connection was given up may be
    // stored too (a loaded machine), so the rate is held against what EVENTS holds.
    const stored = await storedOf('test.periodic');
    const elapsedS = (performance.now() - started) / 1000;
    expect(acked).toBeLessThanOrEqual(stored);
    expect(stored).toBeLessThanOrEqual(BURST + RATE * elapsedS + 1);
  });

  it('a flood of presses, each a new message, is held to the rate and the alarm reserve', async () => {
    const started = performance.now();
    const acked = await pipeline(
      Array.from({ length: 300 }, (_, i) => frame(FLOODER, 6000 + i, '101', 100 + i)),
      3_000,
    );
    const elapsedS = (performance.now() - started) / 1000;
    // The bucket refilled since the test before, and the reserve with it.
    expect(acked).toBeLessThanOrEqual(BURST + ALARM_BURST + (RATE + ALARM_RATE) * (elapsedS + 4) + 1);
    expect(acked).toBeGreaterThan(0);
  });

  it('a message batching hundreds of presses is charged for each: the account then waits for them', async () => {
    // Let the bucket and the reserve fill again, then send messages of 150 presses each (what fits in one encrypted frame).
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const before = await storedOf('pendant.pressed');
    await pipeline(
      Array.from({ length: 10 }, (_, i) => batch(7000 + i, 150, i * 7)),
      3_000,
    );
    const stored = (await storedOf('pendant.pressed')) - before;
    // A message goes through whole (it may not be cut, and must not wait for ever): one on the
    // account's rate, one on its alarm reserve. Each leaves its bucket in debt for 150 events, which
    // holds the next ones back far longer than this test waits (before: all 1,500 stored).
    expect(stored).toBeGreaterThanOrEqual(150);
    expect(stored).toBeLessThanOrEqual(2 * 150);
  });
});

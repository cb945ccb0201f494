import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { names, TelecareEvent } from '@telecare/contracts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '@telecare/gateway-dc09';
import {
  connectNats,
  createLogger,
  ManualClock,
  type NatsConnection,
  streamConfigs,
} from '@telecare/platform';
import { dc09Frame, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dc09Account } from '../support/homes.ts';

/**
 * Someone on the network path records a panel's encrypted frames: without the key they can only
 * send those bytes again, or change what is in clear (the header). The header names the account,
 * and so the home; many installers give every panel they fit the same key. A recorded alarm must
 * not become another home's alarm by a new header, and a recorded frame must not be stored again.
 */

const ns = uniqueNamespace('dc09replay');
const n = names(ns);
const logger = createLogger('dc09-replay-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** One installer's key, given to both panels. */
const KEY = '000102030405060708090A0B0C0D0E0F';
const clock = new ManualClock(Date.UTC(2026, 11, 4, 12, 0, 0));
/**
 * EVENTS' duplicate window here: 2 s instead of 10 min, so that a replay after it can be tried at
 * once. The gateway keeps a stream it finds.
 */
const DUPLICATE_WINDOW_S = 2;
/** A timestamp window wider than EVENTS' duplicate window, as an operator may set (up to 3600 s). */
const WINDOW_BEHIND_S = 3600;

let nc: NatsConnection;
let gateway: GatewayDc09Handle;

const entry = (account: string) => dc09Account(account, { serial: `REPLAY-${account}`, key: KEY });

/** Sends one frame on a new TCP connection and returns the reply's message type. */
function send(frame: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no reply'));
    }, 5_000);
    let got = '';
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      const reply = /"\*?([A-Z]+)"/.exec(got);
      if (!reply || !got.includes('\r')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply[1] as string);
    });
    socket.on('error', reject);
    socket.once('connect', () => socket.write(frame));
  });
}

/** The same frame under another header account: the body's `#<from>[` is rewritten, CRC and length anew. */
function reheader(frame: Buffer, from: string, to: string): Buffer {
  const body = frame.toString('latin1').slice(9, -1);
  expect(body).toContain(`#${from}[`);
  return dc09Frame(body.replace(`#${from}[`, `#${to}[`));
}

/** The same frame under another clear sequence number: CRC and length anew, the encrypted part untouched. */
function resequence(frame: Buffer, seq: number): Buffer {
  const body = frame.toString('latin1').slice(9, -1);
  const next = body.replace(
    /^("\*?[A-Z-]+")\d{4}/,
    (_all, id: string) => `${id}${String(seq).padStart(4, '0')}`,
  );
  expect(next).not.toBe(body);
  return dc09Frame(next);
}

/** The same frame under another clear message type (`"*ADM-CID"` to `"*NULL"`). */
function retype(frame: Buffer, type: string): Buffer {
  const body = frame.toString('latin1').slice(9, -1);
  return dc09Frame(body.replace(/^"\*[A-Z-]+"/, `"*${type}"`));
}

/** A UDP sender's socket bound to one loopback address: each reply's message type, as it comes. */
class Datagrams {
  readonly replies: string[] = [];
  private constructor(private readonly socket: UdpSocket) {
    socket.on('message', (reply) => {
      const type = /"\*?([A-Z]+)"/.exec(reply.toString('latin1'));
      this.replies.push(type ? (type[1] as string) : '?');
    });
  }

  static bind(address: string): Promise<Datagrams> {
    return new Promise((resolve) => {
      const socket = createSocket('udp4');
      socket.bind(0, address, () => resolve(new Datagrams(socket)));
    });
  }

  /** Sends `frame` and gives the replies that come within `ms`. */
  async exchange(frame: Buffer, ms = 700): Promise<string[]> {
    const before = this.replies.length;
    this.socket.send(frame, gateway.dc09.udpPort, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.replies.slice(before);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', gateway.url))).text();
  const line = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'm').exec(text);
  return line ? Number(line[1]) : 0;
}

async function storedEvents(): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.events);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (m) out.push(TelecareEvent.parse(m.json()));
  }
  return out;
}

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-replay-test', logger });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ ...streamConfigs(n).events, duplicate_window: DUPLICATE_WINDOW_S * 1e9 });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of ['5E11', '5E12']) await accounts.put(account, JSON.stringify(entry(account)));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_WINDOW_BEHIND_S: String(WINDOW_BEHIND_S),
      }),
    ),
    { logger, clock },
  );
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('recorded encrypted DC-09 frames', () => {
  it('a press re-headered as another account with the same key is refused, and stored for that home never', async () => {
    const press = encodeDc09Message({
      type: 'ADM-CID',
      seq: 7,
      account: '5E11',
      events: [{ kind: 'cid', qualifier: 1, code: '101' }],
      at: new Date(clock.now()),
      key: dialerKey(KEY, 'hex'),
    });
    expect(await send(press)).toBe('ACK');
    expect(await send(reheader(press, '5E11', '5E12'))).toBe('NAK');
    const events = await storedEvents();
    expect(events.filter((e) => e.subject === 'REPLAY-5E11' && e.type === 'pendant.pressed')).toHaveLength(1);
    expect(events.filter((e) => e.subject === 'REPLAY-5E12')).toEqual([]);
  });

  it('a press sent again byte for byte, inside the timestamp window but after the duplicate window, is ACKed and not stored again', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const press = encodeDc09Message({
      type: 'ADM-CID',
      seq: 8,
      account: '5E11',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '008' }],
      at: new Date(clock.now()),
      key: dialerKey(KEY, 'hex'),
    });
    expect(await send(press)).toBe('ACK');
    await new Promise((resolve) => setTimeout(resolve, (DUPLICATE_WINDOW_S + 1) * 1000));
    clock.advance(15 * 60_000);
    // Inside the window: answered as its sender would be, had our first ACK been lost.
    expect(await send(press)).toBe('ACK');
    // Another frame of the account between: still the same recording.
    expect(
      await send(
        encodeDc09Message({
          type: 'NULL',
          seq: 9,
          account: '5E11',
          events: [],
          at: new Date(clock.now()),
          key: dialerKey(KEY, 'hex'),
        }),
      ),
    ).toBe('ACK');
    expect(await send(press)).toBe('ACK');
    const stored = (await storedEvents()).filter((e) => e.subject === 'REPLAY-5E11');
    expect(stored.filter((e) => e.type === 'pendant.pressed' && e.data.zone === '008')).toHaveLength(1);
    // One heartbeat for the press and one for the poll: the copies keep no supervision alive.
    const heartbeats = stored.filter((e) => e.type === 'heartbeat' && Date.parse(e.receivedat) >= start);
    expect(heartbeats).toHaveLength(2);
  });

  it('a recorded press sent again under another sequence number or message type (both in clear) is ACKed and not stored again', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const press = encodeDc09Message({
      type: 'ADM-CID',
      seq: 20,
      account: '5E11',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '020' }],
      at: new Date(clock.now()),
      key: dialerKey(KEY, 'hex'),
    });
    expect(await send(press)).toBe('ACK');
    clock.advance(5_000);
    // Without the key only the clear header can be changed: the sequence number and the type,
    // the CRC and length made anew. Several at once, as from many connections.
    const replays = [21, 22, 23, 9999, 0].map((seq) => resequence(press, seq));
    replays.push(retype(press, 'NULL'), retype(press, 'SIA-DCS'));
    const replies = await Promise.all(replays.map((frame) => send(frame)));
    for (const reply of replies) expect(['ACK', 'DUH']).toContain(reply);
    const stored = (await storedEvents()).filter(
      (e) => e.subject === 'REPLAY-5E11' && Date.parse(e.receivedat) >= start,
    );
    expect(stored.filter((e) => e.type === 'pendant.pressed')).toHaveLength(1);
    // The press's own heartbeat only: the copies keep no supervision alive either.
    expect(stored.filter((e) => e.type === 'heartbeat')).toHaveLength(1);
    expect(stored).toHaveLength(2);
  });

  it('a press and its re-sequenced copies sent at once, on connections of their own, are stored once', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const press = encodeDc09Message({
      type: 'ADM-CID',
      seq: 30,
      account: '5E11',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '030' }],
      at: new Date(clock.now()),
      key: dialerKey(KEY, 'hex'),
    });
    const frames = [press, ...[31, 32, 33, 34, 35].map((seq) => resequence(press, seq))];
    expect(await Promise.all(frames.map((frame) => send(frame)))).toEqual(frames.map(() => 'ACK'));
    const stored = (await storedEvents()).filter(
      (e) => e.subject === 'REPLAY-5E11' && Date.parse(e.receivedat) >= start,
    );
    expect(stored.map((e) => e.type).sort()).toEqual(['heartbeat', 'pendant.pressed']);
  });
});

describe('recorded encrypted DC-09 frames over UDP', () => {
  // A datagram's source address costs nothing to forge: a recorded frame sent again in another
  // address made the gateway send its ACK there, a reflector for anyone holding one recording.
  const press = (seq: number, zone: string) =>
    encodeDc09Message({
      type: 'ADM-CID',
      seq,
      account: '5E11',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone }],
      at: new Date(clock.now()),
      key: dialerKey(KEY, 'hex'),
    });
  const pressesIn = async (zone: string) =>
    (await storedEvents()).filter(
      (e) => e.subject === 'REPLAY-5E11' && e.type === 'pendant.pressed' && e.data.zone === zone,
    );

  it('a copy of an accepted frame from another address is not answered and not stored', async () => {
    clock.advance(60_000);
    const panel = await Datagrams.bind('127.0.0.21');
    const elsewhere = await Datagrams.bind('127.0.0.22');
    const frame = press(40, '040');
    const before = await metric('gateway_dc09_udp_copies_unanswered_total');
    expect(await panel.exchange(frame)).toEqual(['ACK']);
    expect(await elsewhere.exchange(frame)).toEqual([]);
    expect(await elsewhere.exchange(frame)).toEqual([]);
    expect(await pressesIn('040')).toHaveLength(1);
    expect(await metric('gateway_dc09_udp_copies_unanswered_total')).toBe(before + 2);
    await Promise.all([panel.close(), elsewhere.close()]);
  });

  it('a retry of the same bytes from a new socket of the panel’s address is ACKed, and not stored again', async () => {
    // Many panels send each datagram from a socket of their own: the retry comes from a new port.
    clock.advance(60_000);
    const panel = await Datagrams.bind('127.0.0.21');
    const again = await Datagrams.bind('127.0.0.21');
    const frame = press(44, '044');
    const before = await metric('gateway_dc09_udp_copies_unanswered_total');
    expect(await panel.exchange(frame)).toEqual(['ACK']);
    expect(await again.exchange(frame)).toEqual(['ACK']);
    expect(await pressesIn('044')).toHaveLength(1);
    expect(await metric('gateway_dc09_udp_copies_unanswered_total')).toBe(before);
    await Promise.all([panel.close(), again.close()]);
  });

  it('the panel’s own retry from the socket the frame came from is still ACKed, and not stored again', async () => {
    clock.advance(60_000);
    const panel = await Datagrams.bind('127.0.0.23');
    const frame = press(41, '041');
    expect(await panel.exchange(frame)).toEqual(['ACK']);
    clock.advance(5_000);
    expect(await panel.exchange(frame)).toEqual(['ACK']);
    expect(await panel.exchange(frame)).toEqual(['ACK']);
    expect(await pressesIn('041')).toHaveLength(1);
    await panel.close();
  });

  it('a retry stamped anew is a new sending, not a copy: answered from another address too, the press stored once', async () => {
    clock.advance(60_000);
    const panel = await Datagrams.bind('127.0.0.24');
    const rebound = await Datagrams.bind('127.0.0.25');
    expect(await panel.exchange(press(42, '042'))).toEqual(['ACK']);
    clock.advance(2_000);
    // Without the key nobody but the panel can stamp a frame anew.
    expect(await rebound.exchange(press(42, '042'))).toEqual(['ACK']);
    expect(await pressesIn('042')).toHaveLength(1);
    await Promise.all([panel.close(), rebound.close()]);
  });

  it('over TCP a copy is answered as before, whatever address the frame first came from', async () => {
    clock.advance(60_000);
    const panel = await Datagrams.bind('127.0.0.26');
    const frame = press(43, '043');
    expect(await panel.exchange(frame)).toEqual(['ACK']);
    // A connection proves its address: an answer on it reaches only whoever opened it.
    expect(await send(frame)).toBe('ACK');
    expect(await pressesIn('043')).toHaveLength(1);
    await panel.close();
  });
});

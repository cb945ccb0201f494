import { createDecipheriv } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import { names, SecurityEvent } from '@telecare/contracts';
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
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsIn, metricSumAt, sendDc09 } from '../support/dc09.ts';
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
const send = (frame: Buffer) => sendDc09(gateway.dc09.tcpPort, frame);

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
  /** Each reply's size in bytes, as it came. */
  readonly sizes: number[] = [];
  private constructor(private readonly socket: UdpSocket) {
    socket.on('message', (reply) => {
      const type = /"\*?([A-Z]+)"/.exec(reply.toString('latin1'));
      this.replies.push(type ? (type[1] as string) : '?');
      this.sizes.push(reply.byteLength);
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

  /** Sends `frame` `times` times at once and gives the replies that come within `ms`. */
  async burst(frame: Buffer, times: number, ms = 1_500): Promise<string[]> {
    const before = this.replies.length;
    for (let i = 0; i < times; i++) this.socket.send(frame, gateway.dc09.udpPort, '127.0.0.1');
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

const metricSum = (name: string) => metricSumAt(gateway.url, name);

const storedEvents = () => eventsIn(nc, n.streams.events);

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-replay-test', logger });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ ...streamConfigs(n).events, duplicate_window: DUPLICATE_WINDOW_S * 1e9 });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of ['5E11', '5E12', '5E13']) await accounts.put(account, JSON.stringify(entry(account)));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_WINDOW_BEHIND_S: String(WINDOW_BEHIND_S),
        // Each forged frame here is NAKed, all from one address.
        DC09_NAK_BURST: '100',
        // Answers over UDP per source address: a burst of 5, then one a minute.
        DC09_UDP_REPLY_BURST: '5',
        DC09_UDP_REPLIES_PER_MINUTE: '1',
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

  it('a recorded press sent again under another sequence number (NAKed) or message type (both in clear) is not stored again', async () => {
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
    // Under another number it may be a genuine second sending of the same second (a panel sending
    // what it queued): NAKed, so that a panel sends it again stamped anew; a recording stores nothing.
    const resequenced = [21, 22, 23, 9999, 0].map((seq) => resequence(press, seq));
    const retyped = [retype(press, 'NULL'), retype(press, 'SIA-DCS')];
    const [renumbered, typed] = await Promise.all([
      Promise.all(resequenced.map((frame) => send(frame))),
      Promise.all(retyped.map((frame) => send(frame))),
    ]);
    expect(renumbered).toEqual(resequenced.map(() => 'NAK'));
    for (const reply of typed) expect(['ACK', 'DUH']).toContain(reply);
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
    // One is stored and ACKed; the others wait for it, then are NAKed as another number's.
    const replies = await Promise.all(frames.map((frame) => send(frame)));
    expect(replies.filter((reply) => reply === 'ACK')).toHaveLength(1);
    expect(replies.filter((reply) => reply === 'NAK')).toHaveLength(frames.length - 1);
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

  it('a frame repeated from the panel’s own address (or a forgery in it) is stored once, and answered no more than the address’s budget', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const panel = await Datagrams.bind('127.0.0.31');
    const frame = press(46, '046');
    const silenced = await metricSum('gateway_dc09_silenced_total{reason="udp-rate"');
    const replies = await panel.burst(frame, 30);
    // The first ACK and its copies' ACKs, up to the burst; the rest unanswered and counted.
    expect(replies).toEqual(['ACK', 'ACK', 'ACK', 'ACK', 'ACK']);
    expect(await metricSum('gateway_dc09_silenced_total{reason="udp-rate"')).toBe(silenced + 25);
    const stored = (await storedEvents()).filter(
      (e) => e.subject === 'REPLAY-5E11' && Date.parse(e.receivedat) >= start,
    );
    expect(stored.map((e) => e.type).sort()).toEqual(['heartbeat', 'pendant.pressed']);
    // Every answer no larger than the frame it answers.
    for (const size of panel.sizes) expect(size).toBeLessThanOrEqual(frame.byteLength);
    await panel.close();
  });

  it('an answer that would be larger than the datagram it answers is not sent, and counted', async () => {
    const sender = await Datagrams.bind('127.0.0.32');
    const silenced = await metricSum('gateway_dc09_silenced_total{reason="larger-than-frame"');
    // A sound frame of no account: its NAK (with our time) is larger than it.
    const small = dc09Frame('"NULL"0000L0#9999[]');
    expect(await sender.exchange(small)).toEqual([]);
    // Nor to a shorter one in a known account's name (plain, where the account has a key).
    const tiny = dc09Frame('"X"0001#5E11[]');
    expect(await sender.exchange(tiny)).toEqual([]);
    expect(await metricSum('gateway_dc09_silenced_total{reason="larger-than-frame"')).toBe(silenced + 2);
    await sender.close();
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

describe('encrypted frames changed without the key: bit-flipped, spliced, cut or lengthened', () => {
  // AES-CBC without a MAC: flipping bits of a ciphertext block flips the same bits of the next
  // block's plaintext and garbles the block itself; blocks of two frames put together, or added, or
  // taken away, decrypt to what they were where their neighbours are theirs and to random bytes
  // where they meet. Anyone who has seen an account's frames can make such frames without its key.
  const key = dialerKey(KEY, 'hex');
  const BLOCK = 16;
  const seen: SecurityEvent[] = [];
  let sub: Subscription | undefined;

  beforeAll(async () => {
    sub = nc.subscribe(n.subjects.securityEvents);
    void (async () => {
      for await (const message of sub as Subscription) seen.push(SecurityEvent.parse(message.json()));
    })();
    await nc.flush();
  });
  afterAll(() => sub?.unsubscribe());

  /** The frame's head up to its `[`, and its ciphertext in 16-byte blocks. */
  const cipherOf = (frame: Buffer) => {
    const body = frame.toString('latin1').slice(9, -1);
    const at = body.indexOf('[') + 1;
    const bytes = Buffer.from(body.slice(at), 'hex');
    const blocks = Array.from({ length: bytes.length / BLOCK }, (_, i) =>
      Buffer.from(bytes.subarray(i * BLOCK, (i + 1) * BLOCK)),
    );
    return { head: body.slice(0, at), blocks };
  };
  const assemble = (head: string, blocks: readonly Buffer[]) =>
    dc09Frame(`${head}${Buffer.concat(blocks).toString('hex').toUpperCase()}`);
  /** What the panel encrypted: the test holds the key, whoever changes the frame does not. */
  const plainOf = (blocks: readonly Buffer[]) => {
    const decipher = createDecipheriv('aes-128-cbc', key, Buffer.alloc(BLOCK)).setAutoPadding(false);
    return Buffer.concat([decipher.update(Buffer.concat(blocks)), decipher.final()]);
  };
  /** The blocks with the plaintext byte at `at` xor `delta`: the block before it is changed (and garbled). */
  const flip = (blocks: readonly Buffer[], at: number, delta: number) => {
    const out = blocks.map((block) => Buffer.from(block));
    const before = out[Math.floor(at / BLOCK) - 1] as Buffer;
    before[at % BLOCK] = (before[at % BLOCK] as number) ^ delta;
    return out;
  };
  const press = (seq: number, zone: string) =>
    encodeDc09Message({
      type: 'ADM-CID',
      seq,
      account: '5E11',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone }],
      at: new Date(clock.now()),
      key,
    });
  const storedSince = async (start: number) =>
    (await storedEvents()).filter((e) => e.subject === 'REPLAY-5E11' && Date.parse(e.receivedat) >= start);
  const forgedEvents = () =>
    seen.filter((e) => e.service === 'gateway-dc09' && e.kind === 'dc09-frame-forged');

  const securityStored = async () =>
    (await (await jetstreamManager(nc)).streams.info(n.streams.security)).state.messages;

  /** Sends each forged frame: every one is refused (NAK), stores nothing and raises a security event. */
  async function refusedEach(forged: readonly Buffer[], start: number): Promise<void> {
    const before = await storedSince(start);
    const events = forgedEvents().length;
    const counted = await metricSum('gateway_dc09_forged_total');
    const storedBefore = await securityStored();
    for (const frame of forged) expect(await send(frame)).toBe('NAK');
    expect(await storedSince(start)).toHaveLength(before.length);
    await waitFor(() => forgedEvents().length >= events + forged.length, {
      what: 'a security event per frame',
    });
    expect(forgedEvents().slice(events)).toEqual(
      forged.map(() =>
        expect.objectContaining({
          id: null,
          userId: null,
          caseId: null,
          detail: expect.objectContaining({ account: '5E11', transport: 'tcp' }),
        }),
      ),
    );
    expect(await metricSum('gateway_dc09_forged_total')).toBe(counted + forged.length);
    // Each is stored on SECURITY too, once, for the helpline's list (told once is not enough).
    await waitFor(
      async () => ((await securityStored()) === storedBefore + forged.length ? true : undefined),
      { what: 'every forged frame’s security event stored on SECURITY', timeoutMs: 5_000, intervalMs: 50 },
    );
  }

  it('a bit flip that turns a press into its cancel, or moves its timestamp, is refused', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const genuine = press(60, '060');
    expect(await send(genuine)).toBe('ACK');
    const { head, blocks } = cipherOf(genuine);
    const plain = plainOf(blocks).toString('latin1');
    const event = plain.indexOf('1101 01 060');
    expect(event).toBeGreaterThanOrEqual(BLOCK);
    // Q=1 (new) to Q=3 (restore): the pendant's alarm.cancelled, under the press's own header.
    const cancel = flip(blocks, event, '1'.charCodeAt(0) ^ '3'.charCodeAt(0));
    // The seconds of the timestamp, one off: a new message by its time, were it read.
    const later = flip(blocks, plain.length - 12, 0x01);
    // The zone, and the account in the data.
    const zone = flip(blocks, event + 10, 0x01);
    await refusedEach([assemble(head, cancel), assemble(head, later), assemble(head, zone)], start);
    const stored = await storedSince(start);
    expect(stored.filter((e) => e.type === 'alarm.cancelled')).toEqual([]);
    expect(stored.filter((e) => e.type === 'pendant.pressed')).toHaveLength(1);
  });

  it('blocks of two genuine frames put together, a frame cut short or lengthened, are refused', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const x = press(61, '061');
    const y = press(62, '062');
    expect(await send(x)).toBe('ACK');
    expect(await send(y)).toBe('ACK');
    const a = cipherOf(x);
    const b = cipherOf(y);
    expect(a.blocks).toHaveLength(b.blocks.length);
    const [a0, ...aRest] = a.blocks as [Buffer, ...Buffer[]];
    const [b0, ...bRest] = b.blocks as [Buffer, ...Buffer[]];
    await refusedEach(
      [
        assemble(a.head, [a0, ...bRest]),
        assemble(b.head, [b0, ...aRest]),
        assemble(a.head, [...a.blocks.slice(0, -1), b.blocks.at(-1) as Buffer]),
        assemble(a.head, a.blocks.slice(0, -1)),
        assemble(a.head, [...a.blocks, b.blocks.at(-1) as Buffer]),
        assemble(a.head, [...a.blocks, a0]),
        assemble(a.head, a.blocks.slice(1)),
      ],
      start,
    );
    const stored = await storedSince(start);
    expect(
      stored
        .filter((e) => e.type === 'pendant.pressed')
        .map((e) => e.data.zone)
        .sort(),
    ).toEqual(['061', '062']);
  });

  it('a first block garbled so that the second says a cancel: refused once the account has shown its pad style', async () => {
    clock.advance(60_000);
    const start = clock.now();
    // A panel that pads with letters and digits up to the next block, as most do.
    const press = (seq: number) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq,
        account: '5E13',
        events: [{ kind: 'cid', qualifier: 1, code: '101', zone: String(seq).padStart(3, '0') }],
        at: new Date(clock.now()),
        key,
        pad: { bytes: 'printable', fullBlock: false },
      });
    // Frames it sent and the gateway accepted: 9 bytes of pad each.
    for (const seq of [80, 81, 82, 83]) expect(await send(press(seq))).toBe('ACK');
    // The next press is held back on the path. Its second block is guessed from what such a press
    // says (account, code, zone, hour); its first is flipped so the second reads a medical cancel.
    const held = press(84);
    const { head, blocks } = cipherOf(held);
    expect(blocks).toHaveLength(3);
    const hour = String(new Date(clock.now()).getUTCHours()).padStart(2, '0');
    const guessed = Buffer.from(`1101 01 084]_${hour}:`, 'latin1');
    expect(plainOf(blocks).subarray(BLOCK, 2 * BLOCK)).toEqual(guessed);
    // As the forger finds it, by trying: a cancel whose garbled first block holds no | [ ] (most do).
    let forged: Buffer | undefined;
    for (const zone of ['1', '2', '3', '4', '5', '6', '7', '8', '9']) {
      const wanted = Buffer.from(`|#5E13|NMH${zone}]_${hour}:`, 'latin1');
      const out = blocks.map((block) => Buffer.from(block));
      for (let i = 0; i < BLOCK; i++)
        (out[0] as Buffer)[i] =
          ((out[0] as Buffer)[i] as number) ^ (guessed[i] as number) ^ (wanted[i] as number);
      const garbled = plainOf(out).subarray(0, BLOCK);
      if (!garbled.includes(0x7c) && !garbled.includes(0x5b) && !garbled.includes(0x5d)) {
        forged = retype(assemble(head, out), 'SIA-DCS');
        break;
      }
    }
    if (!forged) throw new Error('no cancel found whose garbled block holds no | [ ]');
    const events = forgedEvents().length;
    expect(await send(forged)).toBe('NAK');
    await waitFor(() => forgedEvents().length > events, { what: 'the forged frame’s security event' });
    expect(forgedEvents().at(-1)?.detail).toMatchObject({ account: '5E13', reason: 'pad' });
    // Counted for the account's installer to see; what was learned is shared and kept in the bucket.
    expect(await metricSum('gateway_dc09_pad_refused_total{account="5E13"')).toBe(1);
    const profile = await (await new Kvm(nc).open(n.kv.dc09Clocks)).get('pad.5E13');
    expect(profile?.json()).toMatchObject({ frames: 3, high: false, shortest: 9, longest: 9 });
    const stored = (await storedEvents()).filter(
      (e) => e.subject === 'REPLAY-5E13' && Date.parse(e.receivedat) >= start,
    );
    expect(stored.filter((e) => e.type === 'alarm.cancelled')).toEqual([]);
    expect(stored.filter((e) => e.type === 'pendant.pressed')).toHaveLength(4);
  });

  it('a bit flip inside a long zone name, the garbled block still text: refused as the same account, sequence and timestamp with other content', async () => {
    clock.advance(60_000);
    const start = clock.now();
    const text = 'Pull cord in the front bedroom by the window';
    const genuine = encodeDc09Message({
      type: 'SIA-DCS',
      seq: 70,
      account: '5E11',
      events: [{ kind: 'sia', code: 'MA', zone: '70', text }],
      at: new Date(clock.now()),
      key,
    });
    expect(await send(genuine)).toBe('ACK');
    const { head, blocks } = cipherOf(genuine);
    const plain = plainOf(blocks);
    const textAt = plain.indexOf(`^${text}^`) + 1;
    // Found as the forger finds it, by trying: a change whose garbled block holds no control byte and
    // no ^ [ ] | reads as text (8-bit text is allowed there), about one try in twelve.
    let forged: Buffer[] | undefined;
    for (let at = textAt + BLOCK; at < textAt + text.length && !forged; at++) {
      const garbled = Math.floor(at / BLOCK) - 1;
      if (garbled * BLOCK < textAt || (garbled + 1) * BLOCK > textAt + text.length) continue;
      for (const delta of [0x20, 0x01, 0x02, 0x03, 0x04, 0x08, 0x10, 0x06, 0x05, 0x07]) {
        const candidate = flip(blocks, at, delta);
        const changed = plainOf(candidate).subarray(garbled * BLOCK, (garbled + 1) * BLOCK);
        const next = plainOf(candidate)[at] as number;
        if (next < 0x20 || next >= 0x7f || '^[]|'.includes(String.fromCharCode(next))) continue;
        if ([...changed].every((c) => c >= 0x20 && c !== 0x7f && !'^[]|'.includes(String.fromCharCode(c)))) {
          forged = candidate;
          break;
        }
      }
    }
    if (!forged) throw new Error('no flip found that leaves the garbled block text');
    // The same header, and the same encrypted part under another clear sequence number.
    await refusedEach([assemble(head, forged), resequence(assemble(head, forged), 71)], start);
    const stored = await storedSince(start);
    expect(stored.filter((e) => e.type === 'pendant.pressed')).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ text }) }),
    ]);
  });
});

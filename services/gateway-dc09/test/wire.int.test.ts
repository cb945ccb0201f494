import { createCipheriv } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { type Dc09AccountEntry, names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import {
  type DialerEvent,
  decodeReply,
  dialerKey,
  encodeDc09Message,
  dc09Frame as frameOf,
} from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16Arc } from '../src/crc.ts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { testAccount } from './support.ts';

/**
 * What real panels and IP dispersers put on the wire, byte for byte: frames run together or cut
 * into pieces, CR LF endings, line noise, a header that leaves the account to the data, 8-bit zone
 * names inside encrypted data. Each is sent over a raw socket to the gateway on real NATS, and
 * every ACK is checked against what JetStream holds when it arrives.
 */

const ns = uniqueNamespace('gwdc09wire');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const KEY = '00112233445566778899AABBCCDDEEFF';
const FRAME_DEADLINE_S = 1;
/** NAKs one address may have in all: small, and never refilled, so a refusal spent on nothing shows. */
const NAK_BURST = 3;
/** The UDP budget test speaks from its own loopback address, so no other test spends its NAKs. */
const UDP_SOURCE = '127.0.0.3';

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;
const open: Array<{ close(): void }> = [];

const entry = (account: string, overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry =>
  testAccount(account, { serial: `WIRE-${account}`, ...overrides });

/** A raw TCP sender: writes bytes as given and reads replies frame by frame (LF … CR). */
class Wire {
  readonly socket: Socket;
  #buffer = '';
  readonly #replies: string[] = [];
  #wake: (() => void) | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString('latin1');
      for (let cr = this.#buffer.indexOf('\r'); cr >= 0; cr = this.#buffer.indexOf('\r')) {
        this.#replies.push(this.#buffer.slice(0, cr + 1));
        this.#buffer = this.#buffer.slice(cr + 1);
      }
      this.#wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(): Promise<Wire> {
    const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort, noDelay: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    const wire = new Wire(socket);
    open.push({ close: () => socket.destroy() });
    return wire;
  }

  write(bytes: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** The next `count` replies, as sent (LF … CR), or fewer if none comes within `timeoutMs`. */
  async replies(count: number, timeoutMs = 5_000): Promise<string[]> {
    const until = Date.now() + timeoutMs;
    while (this.#replies.length < count && !this.closed && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until - Date.now());
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.#replies.splice(0, count);
  }
}

/**
 * Closes a test's connection and waits until the gateway has let it go: the later tests open many
 * at once, within the per-source cap.
 */
async function hangUp(wire: Wire): Promise<void> {
  const port = wire.socket.localPort;
  wire.socket.destroy();
  await waitFor(() => !gateway.connections().some((c) => c.remotePort === port), {
    what: 'the gateway to let the connection go',
  });
}

/** A UDP sender bound to `address`: one reply per datagram frame, or none within `timeoutMs`. */
class Datagrams {
  readonly #replies: Buffer[] = [];
  #wake: (() => void) | undefined;
  private constructor(readonly socket: UdpSocket) {
    socket.on('message', (msg) => {
      this.#replies.push(msg);
      this.#wake?.();
    });
  }

  static async bind(address: string): Promise<Datagrams> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
    open.push({ close: () => socket.close() });
    return new Datagrams(socket);
  }

  send(bytes: Uint8Array): void {
    this.socket.send(bytes, gateway.dc09.udpPort, '127.0.0.1');
  }

  async replies(count: number, timeoutMs = 5_000): Promise<Buffer[]> {
    const until = Date.now() + timeoutMs;
    while (this.#replies.length < count && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until - Date.now());
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.#replies.splice(0, count);
  }
}

async function eventsOf(serial: string, withHeartbeats = false): Promise<TelecareEvent[]> {
  const info = await jsm.streams.info(n.streams.events);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    const event = m ? TelecareEvent.parse(m.json()) : undefined;
    if (event?.subject !== serial) continue;
    if (withHeartbeats || event.type !== 'heartbeat' || event.sourcecode !== undefined) out.push(event);
  }
  return out;
}

const cid = (seq: number, account: string, code: string, zone = '001', at: Date | undefined = new Date()) =>
  encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events: [{ kind: 'cid', qualifier: 1, code, zone } satisfies DialerEvent],
    ...(at ? { at } : {}),
  });
const poll = (seq: number, account: string) => encodeDc09Message({ type: 'NULL', seq, account, events: [] });
const typeOf = (reply: string | Buffer | undefined, key?: Buffer): ReturnType<typeof decodeReply> =>
  reply === undefined ? undefined : decodeReply(Buffer.from(reply as string, 'latin1'), key);
const crlf = (frame: Buffer) => Buffer.concat([frame, Buffer.from('\n')]);
/** `_HH:MM:SS,MM-DD-YYYY` of now, as a panel with a good clock stamps its frames. */
const stamp = (at = new Date()) => {
  const p = (v: number) => String(v).padStart(2, '0');
  return `_${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())},${p(at.getUTCMonth() + 1)}-${p(at.getUTCDate())}-${at.getUTCFullYear()}`;
};
/** A frame whose CRC is its two bytes (LF, CRC high, CRC low, 0LLL, body, CR), as TRIKDIS E16 sends. */
const binaryFrame = (body: string) => {
  const bytes = Buffer.from(body, 'latin1');
  const crc = crc16Arc(bytes);
  return Buffer.concat([
    Buffer.from([0x0a, crc >> 8, crc & 0xff]),
    Buffer.from(bytes.length.toString(16).toUpperCase().padStart(4, '0'), 'latin1'),
    bytes,
    Buffer.from('\r'),
  ]);
};

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-wire-test', logger });
  jsm = await jetstreamManager(nc);
  const accounts = await openDc09Accounts(nc, n);
  for (const account of [
    'C001',
    'C002',
    'C003',
    'C004',
    'C005',
    'C006',
    '006969',
    'C008',
    'C010',
    'C011',
    'C012',
    'C013',
    'C015',
    'C016',
    'C017',
    'C018',
    'C019',
  ]) {
    await accounts.put(account, JSON.stringify(entry(account)));
  }
  // Keyed before the gateway starts: a key put while it runs reaches it through a watch, a moment
  // after the put, and a frame sent in that moment is refused as encrypted for an account without one.
  for (const account of ['C009', 'C014'])
    await accounts.put(account, JSON.stringify(entry(account, { key: KEY })));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_FRAME_DEADLINE_S: String(FRAME_DEADLINE_S),
        DC09_NAK_BURST: String(NAK_BURST),
        DC09_NAK_PER_MINUTE: '0',
      }),
    ),
    { logger },
  );
});

afterAll(async () => {
  for (const socket of open) socket.close();
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('gateway-dc09: frames as they arrive on the wire', () => {
  it('several frames in one TCP write are answered in order, each after its event is stored', async () => {
    const wire = await Wire.open();
    await wire.write(Buffer.concat([cid(1, 'C001', '101'), cid(2, 'C001', '301'), cid(3, 'C001', '602')]));
    const replies = await wire.replies(3);
    expect(replies.map((r) => [typeOf(r)?.type, typeOf(r)?.seq])).toEqual([
      ['ACK', '0001'],
      ['ACK', '0002'],
      ['ACK', '0003'],
    ]);
    // The last ACK came after the last store: every event is there the moment it arrives.
    expect((await eventsOf('WIRE-C001')).map((e) => e.sourcecode)).toEqual([
      'CID 1101',
      'CID 1301',
      'CID 1602',
    ]);
  });

  it('a frame sent one byte at a time is answered once, when its CR arrives', async () => {
    const wire = await Wire.open();
    for (const byte of cid(1, 'C002', '101')) await wire.write(Buffer.from([byte]));
    const [reply] = await wire.replies(1);
    expect(typeOf(reply)).toMatchObject({ type: 'ACK', seq: '0001' });
    expect((await eventsOf('WIRE-C002')).map((e) => e.type)).toEqual(['pendant.pressed']);
  });

  it('frames ended by CR LF are each ACKed, and the LF left over does not start the frame deadline', async () => {
    const wire = await Wire.open();
    await wire.write(crlf(cid(1, 'C003', '101')));
    await wire.write(crlf(cid(2, 'C003', '301')));
    expect((await wire.replies(2)).map((r) => typeOf(r)?.type)).toEqual(['ACK', 'ACK']);
    // A panel that keeps its line open polls now and then: the LF after its last CR is no frame
    // begun, and the connection outlives the frame deadline.
    await new Promise((resolve) => setTimeout(resolve, (FRAME_DEADLINE_S + 1.5) * 1000));
    expect(wire.closed).toBe(false);
    await wire.write(crlf(poll(0, 'C003')));
    expect(typeOf((await wire.replies(1))[0])?.type).toBe('ACK');
    expect((await eventsOf('WIRE-C003')).map((e) => e.sourcecode)).toEqual(['CID 1101', 'CID 1301', 'NULL']);
  });

  it('line noise before a frame costs neither that frame nor a NAK', async () => {
    const wire = await Wire.open();
    await wire.write(
      Buffer.concat([
        Buffer.from('\u0000\u00ff+++ATH0 noise', 'latin1'),
        cid(1, 'C004', '101'),
        Buffer.from('\n\n\nhalf a fr', 'latin1'),
        cid(2, 'C004', '154'),
      ]),
    );
    const replies = await wire.replies(2);
    expect(replies.map((r) => [typeOf(r)?.type, typeOf(r)?.seq])).toEqual([
      ['ACK', '0001'],
      ['ACK', '0002'],
    ]);
    expect((await eventsOf('WIRE-C004')).map((e) => e.type)).toEqual(['pendant.pressed', 'flood.detected']);
  });

  it('UDP: CR LF frames in one datagram are each answered, and the LF left over spends no NAK', async () => {
    const udp = await Datagrams.bind(UDP_SOURCE);
    udp.send(Buffer.concat([crlf(cid(1, 'C005', '101')), crlf(cid(2, 'C005', '301'))]));
    expect((await udp.replies(2)).map((r) => typeOf(r)?.type)).toEqual(['ACK', 'ACK']);
    for (let seq = 3; seq < 3 + NAK_BURST + 1; seq++) {
      udp.send(crlf(cid(seq, 'C005', '602', String(seq).padStart(3, '0'))));
      expect(typeOf((await udp.replies(1))[0])?.type).toBe('ACK');
    }
    // The source has spent no NAK: a stale message (no life-critical alarm, which would be taken
    // late) still hears NAK with our time.
    udp.send(cid(9, 'C005', '301', '009', new Date(Date.now() - 10 * 60_000)));
    const [nak] = await udp.replies(1);
    expect(typeOf(nak)).toMatchObject({ type: 'NAK' });
  });

  it('UDP: bytes after the frame that no LF opens (a buffer sent whole) are noise: no NAK spent, nothing dead-lettered', async () => {
    const udp = await Datagrams.bind('127.0.0.7');
    const deadLetters = async () => (await jsm.streams.info(n.streams.deadletter)).state.messages;
    const before = await deadLetters();
    for (let seq = 1; seq <= NAK_BURST + 1; seq++) {
      // What a panel's fixed-size send buffer holds after its frame: the end of a longer message
      // sent before it, and filler.
      const leftover = Buffer.from(`01 004]_12:00:00,11-22-2026\r\u00ff\u00ff  `, 'latin1');
      udp.send(Buffer.concat([cid(seq, 'C017', '602', String(seq).padStart(3, '0')), leftover]));
      expect(typeOf((await udp.replies(1))[0])?.type).toBe('ACK');
    }
    // The source has spent no NAK: a stale message past the burst still hears NAK with our time.
    udp.send(cid(9, 'C017', '301', '009', new Date(Date.now() - 10 * 60_000)));
    expect(typeOf((await udp.replies(1))[0])?.type).toBe('NAK');
    expect(await eventsOf('WIRE-C017')).toHaveLength(NAK_BURST + 1);
    // Only the stale message is dead-lettered.
    await waitFor(async () => (await deadLetters()) >= before + 1, { what: 'the NAK’s dead letter' });
    expect(await deadLetters()).toBe(before + 1);
  });

  it("TCP: bytes after a frame that no LF opens and that hold no id (a send buffer's rest) are noise: one answer per frame, none to the rest", async () => {
    const wire = await Wire.open();
    const deadLetters = async () => (await jsm.streams.info(n.streams.deadletter)).state.messages;
    const before = await deadLetters();
    // A panel on a persistent connection: each frame followed by the rest of its fixed-size send
    // buffer (the end of a longer message sent before, a CR in it). An answer to that rest would be
    // read by the panel as the answer to its next message.
    for (let seq = 1; seq <= 3; seq++) {
      const leftover = Buffer.from(`01 004]_12:00:00,11-22-2026\r\u00ff\u00ff  `, 'latin1');
      await wire.write(Buffer.concat([cid(seq, 'C018', '602', String(seq).padStart(3, '0')), leftover]));
      const [reply] = await wire.replies(1);
      expect(typeOf(reply)).toMatchObject({ type: 'ACK', seq: String(seq).padStart(4, '0') });
    }
    // Nothing else comes: no NAK for any of the leftovers.
    expect(await wire.replies(1, 500)).toEqual([]);
    expect(await eventsOf('WIRE-C018')).toHaveLength(3);
    expect(await deadLetters()).toBe(before);
  });

  it('TCP: a frame that lost its LF (its id where a frame has it) is still answered NAK, for its sender to send it again', async () => {
    const wire = await Wire.open();
    await wire.write(cid(1, 'C019', '101'));
    expect(typeOf((await wire.replies(1))[0])?.type).toBe('ACK');
    await wire.write(cid(2, 'C019', '101', '002').subarray(1));
    expect(typeOf((await wire.replies(1))[0])?.type).toBe('NAK');
  });

  it('a header that leaves the account to the data (captured from a panel) is ACKed with the account', async () => {
    const wire = await Wire.open();
    await wire.write(frameOf('"SIA-DCS"4738R0001L0001[#006969|Nri04/OP001NM]'));
    const [reply] = await wire.replies(1);
    expect(reply).toBe(frameOf('"ACK"4738R0001L0001#006969[]').toString('latin1'));
    expect((await eventsOf('WIRE-006969')).map((e) => [e.sourcecode, e.data.area, e.data.zone])).toEqual([
      ['SIA OP', '04', '001'],
      ['SIA NM', '04', ''],
    ]);
  });

  it('an account in the data without its # is read as the account', async () => {
    const wire = await Wire.open();
    await wire.write(frameOf('"ADM-CID"0001L0#C008[C008|1101 01 004]'));
    expect(typeOf((await wire.replies(1))[0])?.type).toBe('ACK');
    expect((await eventsOf('WIRE-C008')).map((e) => [e.type, e.data.zone])).toEqual([
      ['pendant.pressed', '004'],
    ]);
  });

  it('an encrypted message with a zone name in 8-bit text (UTF-8 or Latin-1) is ACKed and the name kept', async () => {
    const key = dialerKey(KEY, 'hex');
    const wire = await Wire.open();
    for (const [seq, text] of [
      [1, Buffer.from('Küche', 'utf8').toString('latin1')],
      [2, 'Küche'],
    ] as const) {
      await wire.write(
        encodeDc09Message({
          type: 'SIA-DCS',
          seq,
          account: 'C009',
          events: [{ kind: 'sia', code: 'FA', zone: String(seq), text }],
          at: new Date(),
          key,
        }),
      );
      expect(typeOf((await wire.replies(1))[0], key)).toMatchObject({ type: 'ACK', seq: `000${seq}` });
    }
    expect((await eventsOf('WIRE-C009')).map((e) => [e.type, e.data.text])).toEqual([
      ['smoke.detected', 'Küche'],
      ['smoke.detected', 'Küche'],
    ]);
  });

  it('a sender that half-closes after its frames still hears every reply, then the connection closes', async () => {
    const wire = await Wire.open();
    await wire.write(
      Buffer.concat([cid(1, 'C010', '101'), cid(2, 'C010', '301'), Buffer.from('\nhalf a fr')]),
    );
    // As a replay tool or a connect-per-event sender does: done writing, still reading.
    wire.socket.end();
    expect((await wire.replies(2)).map((r) => [typeOf(r)?.type, typeOf(r)?.seq])).toEqual([
      ['ACK', '0001'],
      ['ACK', '0002'],
    ]);
    expect((await eventsOf('WIRE-C010')).map((e) => e.type)).toEqual(['pendant.pressed', 'mains.lost']);
    await waitFor(() => wire.closed, { what: 'the gateway to close the connection once it has answered' });
  });

  it('frames ended CR NUL (a G90B-PLUS) are each ACKed, and the NUL neither starts the frame deadline nor spends a NAK', async () => {
    // schmupu/ioBroker.sia #19: `78FC003B"SIA-DCS"0001L#22334455[#22334455|NCQ1]_…` then CR, NUL.
    const g90b = (seq: number) =>
      Buffer.concat([frameOf(`"SIA-DCS"000${seq}L#C011[#C011|NCQ1]${stamp()}`), Buffer.from([0])]);
    const wire = await Wire.open();
    await wire.write(g90b(1));
    const [first] = await wire.replies(1);
    expect(first).toBe(frameOf('"ACK"0001L#C011[]').toString('latin1'));
    await new Promise((resolve) => setTimeout(resolve, (FRAME_DEADLINE_S + 1.5) * 1000));
    expect(wire.closed).toBe(false);
    await wire.write(g90b(2));
    expect((await wire.replies(1)).map((r) => typeOf(r)?.type)).toEqual(['ACK']);
    // UDP from an address whose NAK budget nothing else spends: the NUL of every datagram is no
    // unit of its own, so a stale message past the burst still hears NAK with our time.
    const udp = await Datagrams.bind('127.0.0.5');
    for (let seq = 3; seq < 3 + NAK_BURST + 1; seq++) {
      udp.send(g90b(seq));
      expect(typeOf((await udp.replies(1))[0])?.type).toBe('ACK');
    }
    udp.send(cid(9, 'C011', '301', '009', new Date(Date.now() - 10 * 60_000)));
    expect(typeOf((await udp.replies(1))[0])?.type).toBe('NAK');
    expect((await eventsOf('WIRE-C011')).map((e) => e.sourcecode)).toEqual(
      Array.from({ length: 2 + NAK_BURST + 1 }, () => 'SIA CQ'),
    );
    await hangUp(wire);
  });

  it('frames ended CR LF NUL (a C string sent whole) are each ACKed; the line end starts no frame deadline and spends no NAK', async () => {
    const ended = (seq: number) =>
      Buffer.concat([
        cid(seq, 'C016', '602', String(seq).padStart(3, '0')),
        Buffer.from('\n\u0000', 'latin1'),
      ]);
    const wire = await Wire.open();
    await wire.write(ended(1));
    expect(typeOf((await wire.replies(1))[0])?.type).toBe('ACK');
    // A panel that keeps its line open stays quiet until its next message.
    await new Promise((resolve) => setTimeout(resolve, (FRAME_DEADLINE_S + 1.5) * 1000));
    expect(wire.closed).toBe(false);
    await wire.write(ended(2));
    expect(typeOf((await wire.replies(1))[0])?.type).toBe('ACK');
    // UDP from an address whose NAK budget nothing else spends: the LF and NUL after each CR are no
    // unit of their own, so a stale message past the burst still hears NAK with our time.
    const udp = await Datagrams.bind('127.0.0.6');
    for (let seq = 3; seq < 3 + NAK_BURST + 1; seq++) {
      udp.send(ended(seq));
      expect(typeOf((await udp.replies(1))[0])?.type).toBe('ACK');
    }
    udp.send(cid(9, 'C016', '301', '009', new Date(Date.now() - 10 * 60_000)));
    expect(typeOf((await udp.replies(1))[0])?.type).toBe('NAK');
    expect(await eventsOf('WIRE-C016')).toHaveLength(2 + NAK_BURST + 1);
    await hangUp(wire);
  });

  it('a binary CRC (TRIKDIS E16) is ACKed with a binary CRC after its event is stored', async () => {
    // pysiaalarm #52: `<0xDA><0xEB>003D"ADM-CID"0001R1L1#9413[#9413|1700 99 999]_…`.
    const wire = await Wire.open();
    await wire.write(binaryFrame(`"ADM-CID"0001R1L1#C012[#C012|1101 01 004]${stamp()}`));
    const [reply] = await wire.replies(1);
    const bytes = Buffer.from(reply ?? '', 'latin1');
    const body = bytes.subarray(7, bytes.length - 1);
    expect(body.toString('latin1')).toBe('"ACK"0001R1L1#C012[]');
    expect(bytes.readUInt16BE(1)).toBe(crc16Arc(body));
    expect((await eventsOf('WIRE-C012')).map((e) => [e.type, e.data.zone])).toEqual([
      ['pendant.pressed', '004'],
    ]);
    await hangUp(wire);
  });

  it('a binary CRC holding a CR, sent a byte at a time (a serial-to-IP bridge), is ACKed once', async () => {
    // The sequence number is moved on until the CRC's high byte is a CR: read from the head alone,
    // that CR ended the frame two bytes after its LF, and the press was refused.
    const at = stamp();
    let frame: Buffer | undefined;
    for (let seq = 1; seq < 10_000 && !frame; seq++) {
      const candidate = binaryFrame(
        `"ADM-CID"${String(seq).padStart(4, '0')}R1L1#C015[#C015|1101 01 004]${at}`,
      );
      if (candidate[1] === 0x0d) frame = candidate;
    }
    if (!frame) throw new Error('no sequence number gives a CRC with a CR');
    const wire = await Wire.open();
    // Paced, so that each byte of the head is a read of its own (loopback runs quick writes together).
    for (const byte of frame.subarray(0, 10)) {
      await wire.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const byte of frame.subarray(10)) await wire.write(Buffer.from([byte]));
    const replies = await wire.replies(2, 1_500);
    expect(replies.map((r) => Buffer.from(r, 'latin1').subarray(7, -1).toString('latin1'))).toEqual([
      `"ACK"${frame.subarray(16, 20).toString('latin1')}R1L1#C015[]`,
    ]);
    expect((await eventsOf('WIRE-C015')).map((e) => [e.type, e.data.zone])).toEqual([
      ['pendant.pressed', '004'],
    ]);
    await hangUp(wire);
  });

  it('ELDES: a length and CRC that count the CR, the frame ended CR CR, is ACKed once', async () => {
    // sia-ha #3: `F19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]`, then CR, CR.
    const body = '"ADM-CID"0056L9999#C013[#C013|1101 00 001]';
    const counted = Buffer.from(`${body}\r`, 'latin1');
    const head = `${crc16Arc(counted).toString(16).toUpperCase().padStart(4, '0')}${counted.length.toString(16).toUpperCase().padStart(4, '0')}`;
    const wire = await Wire.open();
    await wire.write(Buffer.from(`\n${head}${body}\r\r`, 'latin1'));
    const replies = await wire.replies(2, 1_500);
    expect(replies).toEqual([frameOf('"ACK"0056L9999#C013[]').toString('latin1')]);
    expect((await eventsOf('WIRE-C013')).map((e) => e.type)).toEqual(['pendant.pressed']);
    await hangUp(wire);
  });

  it('a Hikvision hub: an encrypted poll with no | after its pad is ACKed', async () => {
    // eavanvalkenburg/sia #17: the poll decrypts to `ppppppppppp]_18:24:52,07-05-2020`.
    const key = dialerKey(KEY, 'hex');
    const cipher = createCipheriv('aes-128-cbc', key, Buffer.alloc(16)).setAutoPadding(false);
    const hex = Buffer.concat([cipher.update(`ppppppppppp]${stamp()}`, 'latin1'), cipher.final()])
      .toString('hex')
      .toUpperCase();
    const wire = await Wire.open();
    await wire.write(frameOf(`"*NULL"0000R0L0#C014[${hex}`));
    expect(typeOf((await wire.replies(1))[0], key)).toMatchObject({ type: 'ACK', seq: '0000' });
    expect((await eventsOf('WIRE-C014', true)).map((e) => [e.type, e.sourcecode])).toEqual([
      ['heartbeat', 'NULL'],
    ]);
    await hangUp(wire);
  });

  it('many connections at once are each answered', async () => {
    const wires = await Promise.all(Array.from({ length: 24 }, () => Wire.open()));
    await Promise.all(
      wires.map((wire, i) => wire.write(cid(i + 1, 'C006', '602', String(i).padStart(3, '0')))),
    );
    const replies = await Promise.all(wires.map(async (wire) => typeOf((await wire.replies(1))[0])?.type));
    expect(replies).toEqual(wires.map(() => 'ACK'));
    expect(await eventsOf('WIRE-C006')).toHaveLength(24);
  });
});

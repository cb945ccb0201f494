import { createCipheriv, createDecipheriv } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { type Dc09AccountEntry, type Names, TelecareEvent } from '@telecare/contracts';
import type { JetStreamManager, KV } from '@telecare/platform';
import { dc09Frame, decodeReply, dialerKey, encodeDc09Message } from '@telecare/simulators';

/**
 * A registry entry for a DC-09 account, as the tests register one: installed, keyless, no code
 * overrides, hourly supervision, its serial and resident derived from the account unless given.
 */
export function testAccount(account: string, overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry {
  return {
    account,
    serial: `DC09-${account}`,
    residentId: `res_${account.toLowerCase()}`,
    key: null,
    keyEncoding: 'hex',
    codeOverrides: {},
    supervisionIntervalS: 3600,
    state: 'installed',
    testMode: false,
    postcodeDistrict: 'GL1',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

/**
 * An encrypted press of `account` cut short by its last block, as anyone who saw one can make
 * without the key (hex): refused as changed, and raised as `dc09-frame-forged`.
 */
export function forgedFrame(account: string, key: string, seq: number): Buffer {
  const genuine = encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events: [{ kind: 'cid', qualifier: 1, code: '101', zone: String(seq).padStart(3, '0') }],
    at: new Date(),
    key: dialerKey(key, 'hex'),
  });
  const body = genuine.toString('latin1').slice(9, -1);
  return dc09Frame(body.slice(0, -32));
}

/** The sum of a service's metric lines that start with `name` (labels may follow), at `url`. */
export async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/**
 * Sends one encrypted pendant press (Contact ID 1101) of `account` over UDP to `port`, stamped `at`
 * on the panel's clock, and reads the reply's type (undefined: no answer within 5 s).
 */
export function sendPress(
  port: number,
  key: string,
  account: string,
  seq: number,
  at: Date,
): Promise<string | undefined> {
  const bytes = encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
    at,
    key: dialerKey(key, 'hex'),
  });
  return sendEncrypted(port, key, bytes);
}

/** Sends a frame encrypted with `key` over UDP to `port` and reads the reply's type (undefined: none within 5 s). */
export async function sendEncrypted(port: number, key: string, bytes: Buffer): Promise<string | undefined> {
  const socket = createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    socket.send(bytes, port, '127.0.0.1');
    const answered = await Promise.race([
      reply,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000)),
    ]);
    return answered && decodeReply(answered, dialerKey(key, 'hex'))?.type;
  } finally {
    socket.close();
  }
}

/**
 * As whoever holds an encrypted press of three blocks back on the path makes it: its first block
 * flipped so that the second reads `|#ACCT|NOC<z>]_HH:` (a cancel report) from what the press's
 * second block said (guessed by the forger; read here with `key`, which the forger does not hold),
 * its type set to SIA-DCS (in clear). The first zone whose garbled block holds no `|`, `[` or `]`.
 */
export function forgeCancel(genuine: Buffer, key: Buffer, account: string): Buffer {
  const BLOCK = 16;
  const body = genuine.toString('latin1').slice(9, -1);
  const at = body.indexOf('[') + 1;
  const cipher = Buffer.from(body.slice(at), 'hex');
  if (cipher.length !== 3 * BLOCK) throw new Error('a press of three blocks is forged here');
  const plainOf = (bytes: Buffer) => {
    const decipher = createDecipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(BLOCK));
    decipher.setAutoPadding(false);
    return Buffer.concat([decipher.update(bytes), decipher.final()]);
  };
  const guessed = plainOf(cipher).subarray(BLOCK, 2 * BLOCK);
  const hour = guessed.toString('latin1').slice(-3, -1);
  for (const zone of '123456789') {
    const wanted = Buffer.from(`|#${account}|NOC${zone}]_${hour}:`, 'latin1');
    if (wanted.length !== BLOCK) throw new Error('an account of four digits is forged here');
    const forged = Buffer.from(cipher);
    for (let i = 0; i < BLOCK; i++)
      forged[i] = (forged[i] as number) ^ (guessed[i] as number) ^ (wanted[i] as number);
    const garbled = plainOf(forged).subarray(0, BLOCK);
    if ([0x7c, 0x5b, 0x5d].some((byte) => garbled.includes(byte))) continue;
    const head = body.slice(0, at).replace(/^"\*[A-Z-]+"/, '"*SIA-DCS"');
    return dc09Frame(`${head}${forged.toString('hex').toUpperCase()}`);
  }
  throw new Error('no cancel whose garbled block holds no | [ ]');
}

/**
 * `genuine` (encrypted with `key`) as a panel whose new firmware pads with any byte sends it: the
 * same content under a pad as long, its first byte 8-bit, encrypted anew.
 */
export function newFirmware(genuine: Buffer, key: Buffer): Buffer {
  const BLOCK = 16;
  const body = genuine.toString('latin1').slice(9, -1);
  const at = body.indexOf('[') + 1;
  const cipher = `aes-${key.length * 8}-cbc`;
  const decipher = createDecipheriv(cipher, key, Buffer.alloc(BLOCK)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(Buffer.from(body.slice(at), 'hex')), decipher.final()]);
  const length = plain.indexOf(0x7c);
  if (length < 1) throw new Error('a frame with a pad is sent again with another');
  const pad = Buffer.from(`\xe9${'k'.repeat(length - 1)}`, 'latin1');
  const encrypt = createCipheriv(cipher, key, Buffer.alloc(BLOCK)).setAutoPadding(false);
  const next = Buffer.concat([encrypt.update(Buffer.concat([pad, plain.subarray(length)])), encrypt.final()]);
  return dc09Frame(`${body.slice(0, at)}${next.toString('hex').toUpperCase()}`);
}

/** Every message of `stream`, read with `parse`, in the order stored. */
export async function streamMessages<T>(
  jsm: JetStreamManager,
  stream: string,
  parse: (value: unknown) => T,
): Promise<T[]> {
  const info = await jsm.streams.info(stream);
  const out: T[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push(parse(m.json()));
  }
  return out;
}

/** The presses stored in EVENTS for a test account (`testAccount`'s serial), in the order stored. */
export async function storedPresses(
  jsm: JetStreamManager,
  n: Names,
  account: string,
): Promise<TelecareEvent[]> {
  return (await streamMessages(jsm, n.streams.events, (v) => TelecareEvent.parse(v))).filter(
    (event) => event.subject === `DC09-${account}` && event.type === 'pendant.pressed',
  );
}

/**
 * A KV bucket in memory that counts its writes; `down` fails every call, `silent` never answers a
 * read. Its entries were written at the epoch (`created`).
 */
export function memoryBucket(held: Record<string, unknown> = {}) {
  const state = { writes: [] as [string, unknown][], down: false, silent: false };
  const kv: Pick<KV, 'get' | 'put'> = {
    get: (async (key: string) => {
      if (state.silent) return new Promise(() => {});
      if (state.down) throw new Error('bucket down');
      const value = held[key];
      return value === undefined
        ? null
        : { operation: 'PUT', created: new Date(0), string: () => JSON.stringify(value) };
    }) as unknown as KV['get'],
    put: (async (key: string, value: string) => {
      if (state.down) throw new Error('bucket down');
      held[key] = JSON.parse(value);
      state.writes.push([key, JSON.parse(value)]);
      return state.writes.length;
    }) as unknown as KV['put'],
  };
  return { kv, state, held };
}

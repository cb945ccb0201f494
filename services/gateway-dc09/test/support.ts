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
export async function sendPress(
  port: number,
  key: string,
  account: string,
  seq: number,
  at: Date,
): Promise<string | undefined> {
  const socket = createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    const bytes = encodeDc09Message({
      type: 'ADM-CID',
      seq,
      account,
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
      at,
      key: dialerKey(key, 'hex'),
    });
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

/** The presses stored in EVENTS for a test account (`testAccount`'s serial), in the order stored. */
export async function storedPresses(
  jsm: JetStreamManager,
  n: Names,
  account: string,
): Promise<TelecareEvent[]> {
  const info = await jsm.streams.info(n.streams.events);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    const event = m && TelecareEvent.parse(m.json());
    if (event?.subject === `DC09-${account}` && event.type === 'pendant.pressed') out.push(event);
  }
  return out;
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

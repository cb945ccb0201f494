import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { names } from '@telecare/contracts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '@telecare/gateway-dc09';
import { connectNats, createLogger, ManualClock, type NatsConnection } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { dialerKey, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dc09Account } from '../support/homes.ts';

/**
 * DC-09 accounts cannot be enumerated or spoken for in clear, and the receiver cannot be used to
 * flood anyone: keyless accounts are refused at registration and answered as unknown ones, a UDP
 * datagram that is not a frame gets nothing back, and NAKs are rationed per source address.
 * Every service here runs with the production defaults for these limits unless a test says so.
 */

const ns = uniqueNamespace('dc09sec');
const n = names(ns);
const logger = createLogger('dc09-security-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const KEY = '000102030405060708090A0B0C0D0E0F';
const NAK_BURST = 5;
/** Dead letters of refusals from any address at once (the tests before the flood spend a few). */
const DEAD_LETTER_BURST = 40;
/** Addresses the flood comes from: one frame each, well inside each one's NAK budget. */
const FLOOD_SOURCES = 120;
const clock = new ManualClock(Date.UTC(2026, 10, 22, 12, 0, 0));

let nc: NatsConnection;
let registry: RegistryHandle;
let gateway: GatewayDc09Handle;
const production = { DC09_KEYLESS: 'refuse', REGISTRY_DC09_KEYLESS: 'refuse' };

const entry = (account: string, key: string | null) =>
  dc09Account(account, { serial: `SEC-${account}`, key });

/** Sends bytes on a new TCP connection (from `localAddress`) and collects what comes back within `ms`. */
function tcpExchange(bytes: Buffer[], ms: number, localAddress = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort, localAddress });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      for (const b of bytes) socket.write(b);
      setTimeout(() => {
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }, ms);
    });
  });
}

function udpExchange(datagram: Buffer, ms: number, localAddress = '127.0.0.5'): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const replies: Buffer[] = [];
    socket.on('message', (msg) => replies.push(msg));
    socket.bind(0, localAddress, () => {
      socket.send(datagram, gateway.dc09.udpPort, '127.0.0.1');
      setTimeout(() => socket.close(() => resolve(replies)), ms);
    });
  });
}

const repliesIn = (bytes: Buffer) =>
  bytes
    .toString('latin1')
    .split('\r')
    .filter((r) => r.includes('"'));

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-security-test', logger });
  registry = await startRegistry(
    loadRegistryConfig(
      serviceEnv(ns, {
        ...production,
        REGISTRY_PORT: '0',
        REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
      }),
    ),
    { logger },
  );
  // Written after the registry's start-up resync, which would remove them. The keyless entry is
  // one an older registry might have published: the gateway must not trust it.
  const accounts = await openDc09Accounts(nc, n);
  await accounts.put('5E01', JSON.stringify(entry('5E01', null)));
  await accounts.put('5E02', JSON.stringify(entry('5E02', KEY)));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        ...production,
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_NAK_BURST: String(NAK_BURST),
        DC09_NAK_PER_MINUTE: '1',
        DC09_DEAD_LETTER_BURST: String(DEAD_LETTER_BURST),
        DC09_DEAD_LETTERS_PER_MINUTE: '1',
      }),
    ),
    { logger, clock },
  );
});

afterAll(async () => {
  await gateway?.close();
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('DC-09 accounts and answers', () => {
  it('the registry refuses a DC-09 account without a key, and takes one with a key', async () => {
    const token = serviceEnv(ns).TELECARE_ADMIN_TOKEN as string;
    const call = async (path: string, body: unknown) => {
      const res = await fetch(new URL(path, registry.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const resident = await call('/api/residents', { name: 'Keys', address: '1 Way', postcode: 'GL1 2AB' });
    const base = {
      kind: 'home-unit',
      residentId: resident.body.id,
      protocol: 'dc09',
      location: 'hall',
      supervisionIntervalS: 3600,
    };
    const keyless = await call('/api/devices', { ...base, serial: 'SEC-HUB-1', dc09Account: '5EA1' });
    expect(keyless.status).toBe(400);
    expect(JSON.stringify(keyless.body)).toContain('dc09Key');
    const keyed = await call('/api/devices', {
      ...base,
      serial: 'SEC-HUB-2',
      dc09Account: '5EA2',
      dc09Key: KEY,
    });
    expect(keyed.status).toBe(201);

    const removeKey = await fetch(new URL('/api/devices/SEC-HUB-2', registry.url), {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dc09Key: null }),
    });
    expect(removeKey.status).toBe(400);
    expect(await removeKey.text()).toContain('dc09Key');

    const imported = await call('/api/import', {
      devices: `serial,kind,resident,protocol,dc09Account\nSEC-HUB-3,home-unit,${resident.body.id},dc09,5EA3\n`,
    });
    expect(imported.body.imported).toBeFalsy();
    expect(JSON.stringify(imported.body)).toContain('dc09Key');
  });

  it('an unknown account, a keyless one and a keyed one sent in clear get the same bytes back', async () => {
    const press = (account: string) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq: 1,
        account,
        events: [{ kind: 'cid', qualifier: 1, code: '101' }],
        at: new Date(clock.now()),
      });
    const unknown = await tcpExchange([press('5E99')], 700);
    const keyless = await tcpExchange([press('5E01')], 700);
    const keyed = await tcpExchange([press('5E02')], 700);
    expect(repliesIn(unknown)).toHaveLength(1);
    expect(keyless).toEqual(unknown);
    expect(keyed).toEqual(unknown);
  });

  it('a UDP datagram that cannot be a frame gets no answer; a frame does', async () => {
    expect(await udpExchange(Buffer.from('GET / HTTP/1.0\r\n\r\n'), 700)).toEqual([]);
    expect(await udpExchange(Buffer.from('\n0000001F"SIA-DCS"0001L0#5E99[]\r'), 700)).toEqual([]);
    // Stamped: over UDP no answer is larger than the frame it answers, and a NAK (with our time)
    // outgrows a bare poll.
    const poll = encodeDc09Message({ type: 'NULL', seq: 0, account: '5E99', events: [], at: new Date() });
    const answered = await udpExchange(poll, 700);
    expect(answered.map((r) => r.toString('latin1'))).toEqual([expect.stringContaining('"NAK"')]);
  });

  it(`NAKs are rationed per source: ${NAK_BURST} at once, then silence; another address still gets its NAK`, async () => {
    const junk = Array.from({ length: 3 * NAK_BURST }, () =>
      Buffer.from('\n0000001F"SIA-DCS"0001L0#5E99[]\r'),
    );
    const flood = await tcpExchange(junk, 1_500, '127.0.0.3');
    expect(repliesIn(flood)).toHaveLength(NAK_BURST);
    const other = await tcpExchange(junk.slice(0, 1), 700, '127.0.0.4');
    expect(repliesIn(other)).toHaveLength(1);
    const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(metrics).toMatch(/gateway_dc09_silenced_total\{[^}]*reason="nak-rate"[^}]*\} (\d+)/);
  });

  it(`refusals from ${FLOOD_SOURCES} addresses, one each: every one NAKed, but the dead-letter stream takes a bounded share`, async () => {
    // UDP source addresses cost nothing to vary (or to forge): the per-address NAK budget alone
    // would let such a flood write a dead letter for every datagram, as fast as we could store them.
    // Stamped, so that its NAK is no larger than it (over UDP, a larger answer is not sent).
    const frame = encodeDc09Message({ type: 'NULL', seq: 0, account: '5E98', events: [], at: new Date() });
    const sources = Array.from(
      { length: FLOOD_SOURCES },
      (_, i) => `127.0.${10 + (i >> 8)}.${(i % 250) + 1}`,
    );
    const answered = await Promise.all(sources.map((source) => udpExchange(frame, 3_000, source)));
    expect(answered.filter((replies) => replies.length === 1)).toHaveLength(FLOOD_SOURCES);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(n.streams.deadletter);
    const fromFlood = await countDeadLetters(sources);
    expect(info.state.messages).toBeLessThanOrEqual(DEAD_LETTER_BURST + 2);
    expect(fromFlood).toBeLessThan(FLOOD_SOURCES / 2);
    const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(metrics).toMatch(/gateway_dc09_dead_letters_dropped_total\{[^}]*\} [1-9]\d*/);
  });

  it('UDP datagrams forged in a TCP panel’s address do not spend its NAKs: its clock is still corrected', async () => {
    // A UDP source address costs nothing to forge, a TCP one cannot be: datagrams in a panel's
    // address drained the budget its own NAKs came from, and a panel whose clock had drifted out of
    // the window then heard nothing, never learnt our time, and had every press refused unheard.
    const panel = '127.0.0.6';
    const refused = encodeDc09Message({ type: 'NULL', seq: 0, account: '5E97', events: [] });
    for (let i = 0; i < 3 * NAK_BURST; i++) await udpExchange(refused, 50, panel);
    const drifted = encodeDc09Message({
      type: 'ADM-CID',
      seq: 3,
      account: '5E02',
      // Mains lost: a life-critical alarm this far behind would be taken late, not NAKed.
      events: [{ kind: 'cid', qualifier: 1, code: '301' }],
      at: new Date(clock.now() - 10 * 60_000),
      key: dialerKey(KEY, 'hex'),
    });
    const answer = repliesIn(await tcpExchange([drifted], 1_000, panel));
    expect(answer).toHaveLength(1);
    expect(answer[0]).toContain('"NAK"');
  });
});

/** Dead letters whose origin is one of `sources`. */
async function countDeadLetters(sources: string[]): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.deadletter);
  const from = new Set(sources);
  let count = 0;
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(n.streams.deadletter, { seq }).catch(() => null);
    const origin = m ? String((m.json() as { origin?: string }).origin ?? '') : '';
    if (from.has(origin.split(':')[1] ?? '')) count++;
  }
  return count;
}

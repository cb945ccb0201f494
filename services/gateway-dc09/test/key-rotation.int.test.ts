import { type Dc09AccountEntry, DeadLetter, names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type KV,
  type NatsConnection,
} from '@telecare/platform';
import { Dc09Dialler, DialFailedError } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { streamMessages, testAccount } from './support.ts';

// A panel re-keyed in the registry keeps sending with its old key until the installer re-programs
// it on site: within the grace the registry gives the old key, its alarms are stored and ACKed.
const ns = uniqueNamespace('gwdc09key');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const OLD_KEY = '00112233445566778899AABBCCDDEEFF';
const NEW_KEY = 'FFEEDDCCBBAA99887766554433221100';
const ASCII_OLD = 'telecare-dc09-k1';

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let accounts: KV;
const diallers: Dc09Dialler[] = [];

async function dialler(account: string, key: { value: string; encoding: 'hex' | 'ascii' }) {
  const d = new Dc09Dialler({
    host: '127.0.0.1',
    port: gateway.dc09.tcpPort,
    transport: 'tcp',
    account,
    key,
    answerTimeoutMs: 1_500,
    maxAttempts: 1,
  });
  await d.connect();
  diallers.push(d);
  return d;
}

const read = <T>(stream: string, parse: (v: unknown) => T): Promise<T[]> =>
  streamMessages(jsm, stream, parse);
const eventsOf = async (serial: string) =>
  (await read(n.streams.events, (v) => TelecareEvent.parse(v))).filter((e) => e.subject === serial);
const deadLettersOf = async (account: string) =>
  (await read(n.streams.deadletter, (v) => DeadLetter.parse(v))).filter((d) => d.account === account);

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .join('\n');
}

/**
 * Writes the account and waits until the gateway holds that very entry (its `updatedAt`), read
 * from the gateway's own view: no frame is spent to learn it, so no NAK budget either.
 */
let tick = 0;
async function registerAs(entry: Dc09AccountEntry): Promise<Dc09AccountEntry> {
  const written = { ...entry, updatedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, ++tick)).toISOString() };
  await accounts.put(entry.account, JSON.stringify(written));
  await waitFor(() => gateway.account(entry.account)?.updatedAt === written.updatedAt, {
    timeoutMs: 5_000,
  });
  return written;
}

const inHours = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-key-test', logger });
  accounts = await openDc09Accounts(nc, n);
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0' })),
    { logger },
  );
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  for (const d of diallers) await d.close();
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('a DC-09 account whose key was changed', () => {
  it('stores and ACKs (encrypted with the old key) an alarm sent with the previous key within its grace', async () => {
    await registerAs(testAccount('B001', { key: OLD_KEY }));
    const panel = await dialler('B001', { value: OLD_KEY, encoding: 'hex' });
    await expect(
      panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]),
    ).resolves.toMatchObject({
      reply: 'ACK',
    });
    // The installer rotates the key in the registry; the panel on site still has the old one.
    await registerAs(
      testAccount('B001', {
        key: NEW_KEY,
        previousKey: { key: OLD_KEY, keyEncoding: 'hex', until: inHours(72) },
      }),
    );
    // The dialler reads only an ACK encrypted with its own key: the ACK used the frame's key.
    const result = await panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '002' }]);
    expect(result).toMatchObject({ reply: 'ACK', attempts: 1, naks: 0 });
    const presses = (await eventsOf('DC09-B001')).filter((e) => e.type === 'pendant.pressed');
    expect(presses.map((e) => e.data.zone)).toEqual(['001', '002']);
    // Marked, so the registry can tell the installer the panel is not re-keyed yet.
    expect(presses[0]?.dc09key).toBeUndefined();
    expect(presses[1]?.dc09key).toBe('previous');
    expect(await metric('gateway_dc09_previous_key_frames_total')).toMatch(
      /gateway_dc09_previous_key_frames_total\{account="B001"[^}]*\} 1$/m,
    );
    // Once re-keyed, the panel's frames decrypt with the new key and carry no mark. The re-keyed
    // panel numbers from 1 again, a second later at least: the same account, sequence and timestamp
    // with other content is no sender's, and refused.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const rekeyed = await dialler('B001', { value: NEW_KEY, encoding: 'hex' });
    await expect(
      rekeyed.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '003' }]),
    ).resolves.toMatchObject({ reply: 'ACK' });
    const third = (await eventsOf('DC09-B001')).find(
      (e) => e.type === 'pendant.pressed' && e.data.zone === '003',
    );
    expect(third?.dc09key).toBeUndefined();
    expect(await deadLettersOf('B001')).toEqual([]);
  });

  it('takes a previous key written its own way (ascii before, hex now)', async () => {
    await registerAs(
      testAccount('B002', {
        key: NEW_KEY,
        previousKey: { key: ASCII_OLD, keyEncoding: 'ascii', until: inHours(1) },
      }),
    );
    const panel = await dialler('B002', { value: ASCII_OLD, encoding: 'ascii' });
    await expect(
      panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]),
    ).resolves.toMatchObject({
      reply: 'ACK',
    });
  });

  it('refuses the old key at once when the rotation gave no grace (a revoked key)', async () => {
    await registerAs(testAccount('B003', { key: NEW_KEY, previousKey: null }));
    const panel = await dialler('B003', { value: OLD_KEY, encoding: 'hex' });
    await expect(
      panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]),
    ).rejects.toBeInstanceOf(DialFailedError);
    expect((await eventsOf('DC09-B003')).filter((e) => e.type === 'pendant.pressed')).toEqual([]);
    await waitFor(async () => (await deadLettersOf('B003')).length === 1);
    expect((await deadLettersOf('B003'))[0]?.detail).toMatch(/cannot decrypt/);
  });

  it('refuses the old key once its grace is over', async () => {
    await registerAs(
      testAccount('B004', {
        key: NEW_KEY,
        previousKey: { key: OLD_KEY, keyEncoding: 'hex', until: new Date(Date.now() - 1_000).toISOString() },
      }),
    );
    const panel = await dialler('B004', { value: OLD_KEY, encoding: 'hex' });
    await expect(
      panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]),
    ).rejects.toBeInstanceOf(DialFailedError);
    expect((await eventsOf('DC09-B004')).filter((e) => e.type === 'pendant.pressed')).toEqual([]);
  });

  it('refuses the old key when the grace ends while the panel is still sending with it', async () => {
    await registerAs(
      testAccount('B005', {
        key: NEW_KEY,
        previousKey: { key: OLD_KEY, keyEncoding: 'hex', until: new Date(Date.now() + 1_500).toISOString() },
      }),
    );
    const panel = await dialler('B005', { value: OLD_KEY, encoding: 'hex' });
    await expect(
      panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]),
    ).resolves.toMatchObject({
      reply: 'ACK',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    await expect(
      panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '002' }]),
    ).rejects.toBeInstanceOf(DialFailedError);
    const zones = (await eventsOf('DC09-B005'))
      .filter((e) => e.type === 'pendant.pressed')
      .map((e) => e.data.zone);
    expect(zones).toEqual(['001']);
  });
});

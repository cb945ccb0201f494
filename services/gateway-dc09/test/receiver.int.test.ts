import { createCipheriv } from 'node:crypto';
import { createConnection } from 'node:net';
import { DeadLetter, names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type KV,
  type NatsConnection,
} from '@telecare/platform';
import { Dc09Dialler, DialFailedError, encodeDc09Message, dc09Frame as frameOf } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { metricSum, testAccount } from './support.ts';

const ns = uniqueNamespace('gwdc09');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const HEX_KEY = '00112233445566778899AABBCCDDEEFF';
const ASCII_KEY = 'telecare-dc09-k1telecare-dc09-k2';

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let accounts: KV;
const diallers: Dc09Dialler[] = [];

async function dialler(account: string, options: Partial<ConstructorParameters<typeof Dc09Dialler>[0]> = {}) {
  const d = new Dc09Dialler({
    host: '127.0.0.1',
    port: options.transport === 'udp' ? gateway.dc09.udpPort : gateway.dc09.tcpPort,
    transport: 'tcp',
    account,
    answerTimeoutMs: 1_500,
    ...options,
  });
  await d.connect();
  diallers.push(d);
  return d;
}

/** Every message on a subject filter of a stream, parsed. */
async function read<T>(stream: string, filter: string, parse: (v: unknown) => T): Promise<T[]> {
  const info = await jsm.streams.info(stream);
  const out: T[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue;
    const subjectMatches = filter.endsWith('>')
      ? m.subject.startsWith(filter.slice(0, -1))
      : m.subject === filter;
    if (subjectMatches) out.push(parse(m.json()));
  }
  return out;
}
const allEventsOf = async (serial: string) =>
  (await read(n.streams.events, n.subjects.allEvents, (v) => TelecareEvent.parse(v))).filter(
    (e) => e.subject === serial,
  );
/** What the sender coded, without the heartbeat every accepted frame adds for supervision. */
const eventsOf = async (serial: string) =>
  (await allEventsOf(serial)).filter((e) => e.type !== 'heartbeat' || e.sourcecode !== undefined);
const deadLetters = async () =>
  read(n.streams.deadletter, n.subjects.allDeadletters, (v) => DeadLetter.parse(v));

/** The one dead letter since the `before`th: `account`'s report timed in stock, nobody's. */
async function refusedInStock(before: number, account: string, inStock: Date): Promise<DeadLetter> {
  const letters = (await deadLetters()).slice(before);
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({ service: 'gateway-dc09', reason: 'unknown-device', account });
  expect(letters[0]?.detail).toContain(`timed ${inStock.toISOString()}, while the device was in stock`);
  return letters[0] as DeadLetter;
}

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-test', logger });
  accounts = await openDc09Accounts(nc, n);
  await accounts.put('A001', JSON.stringify(testAccount('A001')));
  await accounts.put('A002', JSON.stringify(testAccount('A002', { key: HEX_KEY })));
  await accounts.put('A003', JSON.stringify(testAccount('A003', { key: ASCII_KEY, keyEncoding: 'ascii' })));
  await accounts.put(
    'A004',
    JSON.stringify(testAccount('A004', { codeOverrides: { 'CID 120': 'fall.detected' } })),
  );
  await accounts.put('A005', JSON.stringify(testAccount('A005')));
  await accounts.put('A006', JSON.stringify(testAccount('A006')));
  await accounts.put(
    'A007',
    JSON.stringify(testAccount('A007', { codeOverrides: { 'CID 150': 'medication.missed' } })),
  );
  await accounts.put('A008', JSON.stringify(testAccount('A008', { key: `${HEX_KEY}0011223344556677` })));
  await accounts.put('A009', JSON.stringify(testAccount('A009')));
  await accounts.put('A00A', JSON.stringify(testAccount('A00A')));
  await accounts.put('A00B', JSON.stringify(testAccount('A00B')));
  await accounts.put('A00C', JSON.stringify(testAccount('A00C', { key: HEX_KEY })));
  await accounts.put('A00D', JSON.stringify(testAccount('A00D', { kind: 'smoke-detector' })));
  await accounts.put('A00E', JSON.stringify(testAccount('A00E', { kind: 'smoke-detector' })));
  await accounts.put('A00F', JSON.stringify(testAccount('A00F', { key: HEX_KEY })));
  await accounts.put('A010', JSON.stringify(testAccount('A010', { key: HEX_KEY })));
  // A panel paired here yesterday, moved from another home it had been in for a month.
  const day = 24 * 3600_000;
  await accounts.put(
    'A011',
    JSON.stringify(
      testAccount('A011', {
        pairedAt: new Date(Date.now() - day).toISOString(),
        previousPairing: {
          residentId: 'res_a011prev',
          pairedAt: new Date(Date.now() - 30 * day).toISOString(),
          endedAt: new Date(Date.now() - 2 * day).toISOString(),
        },
      }),
    ),
  );
  await accounts.put('A013', JSON.stringify(testAccount('A013')));
  await accounts.put('A014', JSON.stringify(testAccount('A014')));
  // Paired yesterday, new: no pairing before.
  await accounts.put(
    'A012',
    JSON.stringify(testAccount('A012', { pairedAt: new Date(Date.now() - day).toISOString() })),
  );
  // Back from a home three to five days ago, in stock since, paired here yesterday.
  await accounts.put(
    'A015',
    JSON.stringify(
      testAccount('A015', {
        pairedAt: new Date(Date.now() - day).toISOString(),
        previousPairing: {
          residentId: 'res_a015prev',
          pairedAt: new Date(Date.now() - 5 * day).toISOString(),
          endedAt: new Date(Date.now() - 3 * day).toISOString(),
        },
      }),
    ),
  );
  // Registered into stock five days ago, paired here yesterday: its first home.
  await accounts.put(
    'A016',
    JSON.stringify(
      testAccount('A016', {
        pairedAt: new Date(Date.now() - day).toISOString(),
        stockedAt: new Date(Date.now() - 5 * day).toISOString(),
      }),
    ),
  );
  // A panel whose clock is an hour ahead of UTC all year (set so by its installer), and one on UTC.
  await accounts.put('A017', JSON.stringify(testAccount('A017', { key: HEX_KEY, clockZone: 'Etc/GMT-1' })));
  await accounts.put('A018', JSON.stringify(testAccount('A018', { key: HEX_KEY })));
  // Set to a zone an hour ahead whose panel in fact sends UTC.
  await accounts.put('A019', JSON.stringify(testAccount('A019', { key: HEX_KEY, clockZone: 'Etc/GMT-1' })));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0', TELECARE_PARTITIONS: '4' }),
    ),
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

describe('gateway-dc09 against NATS JetStream', () => {
  it('stores several events from one ADM-CID message over TCP, then ACKs', async () => {
    const d = await dialler('A001');
    const result = await d.sendCid([
      { kind: 'cid', qualifier: 1, code: '101', zone: '003' },
      { kind: 'cid', qualifier: 1, code: '301' },
    ]);
    expect(result).toMatchObject({ reply: 'ACK', attempts: 1 });
    // The ACK came after the store: the events are there the moment it arrives.
    const events = await eventsOf('DC09-A001');
    expect(events.map((e) => [e.type, e.sourcecode])).toEqual([
      ['pendant.pressed', 'CID 1101'],
      ['mains.lost', 'CID 1301'],
    ]);
    expect(events[0]).toMatchObject({
      source: '/gateway-dc09',
      residentid: 'res_a001',
      data: { zone: '003' },
    });
  });

  it('decrypts AES-128 (hex key) and AES-256 (ascii key) over UDP and TCP, with encrypted ACKs', async () => {
    const hex = await dialler('A002', { transport: 'udp', key: { value: HEX_KEY, encoding: 'hex' } });
    expect((await hex.sendSia([{ kind: 'sia', code: 'QA', zone: '01', area: '1' }])).reply).toBe('ACK');
    const ascii = await dialler('A003', { key: { value: ASCII_KEY, encoding: 'ascii' } });
    expect((await ascii.sendSia([{ kind: 'sia', code: 'FA', zone: '02' }])).reply).toBe('ACK');
    expect((await eventsOf('DC09-A002')).map((e) => e.sourcecode)).toEqual(['SIA QA']);
    expect((await eventsOf('DC09-A003')).map((e) => e.type)).toEqual(['smoke.detected']);
  });

  it('NAKs the wrong key and stores nothing', async () => {
    const before = (await deadLetters()).length;
    const d = await dialler('A002', {
      key: { value: 'FFEEDDCCBBAA99887766554433221100', encoding: 'hex' },
      maxAttempts: 2,
    });
    const failed = await d.sendCid([{ kind: 'cid', qualifier: 1, code: '101' }]).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(DialFailedError);
    expect((failed as DialFailedError).context.naks).toBe(2);
    expect((await eventsOf('DC09-A002')).map((e) => e.sourcecode)).toEqual(['SIA QA']);
    const letters = (await deadLetters()).slice(before);
    expect(letters.map((l) => l.reason)).toEqual(['bad-frame', 'bad-frame']);
    expect(letters[0]?.detail).toMatch(/decrypt/);
    // The account the frame named, for the registry to show in that device's test call.
    expect(letters.map((l) => l.account)).toEqual(['A002', 'A002']);
  });

  it('NAKs a replay outside the time window with our time; the dialler corrects its clock and is stored', async () => {
    // A low battery: a life-critical alarm behind the window is taken late (`src/late.test.ts`).
    const stale = encodeDc09Message({
      type: 'ADM-CID',
      seq: 42,
      account: 'A005',
      events: [{ kind: 'cid', qualifier: 1, code: '302' }],
      at: new Date(Date.now() - 5 * 60_000),
    });
    const d = await dialler('A005');
    const reply = await d.sendRaw(stale);
    expect(reply?.type).toBe('NAK');
    expect(Math.abs((reply?.at?.getTime() ?? 0) - Date.now())).toBeLessThan(2_000);
    expect(await eventsOf('DC09-A005')).toEqual([]);

    const drifted = await dialler('A005', { clockOffsetMs: -10 * 60_000 });
    const result = await drifted.sendCid([{ kind: 'cid', qualifier: 1, code: '302' }]);
    expect(result).toMatchObject({ reply: 'ACK', attempts: 2, naks: 1 });
    expect(Math.abs(drifted.clockOffsetMs)).toBeLessThan(2_000);
    expect((await eventsOf('DC09-A005')).map((e) => e.type)).toEqual(['battery.low']);
  });

  it('a panel clock an hour ahead: taken at once on an account set to its zone, its time kept; NAKed with the hour named on a UTC account', async () => {
    const HOUR = 3600_000;
    const key = { value: HEX_KEY, encoding: 'hex' as const };
    const local = await dialler('A017', { key, clockOffsetMs: HOUR, maxAttempts: 1 });
    const before = Date.now();
    expect(await local.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).toMatchObject({
      reply: 'ACK',
      naks: 0,
    });
    const [press] = await waitFor(async () => {
      const found = await eventsOf('DC09-A017');
      return found.length ? found : undefined;
    });
    // Stored at the instant the panel meant, not an hour on.
    expect(Math.abs(Date.parse(press?.time ?? '') - before)).toBeLessThan(5_000);
    // A NAK would have moved it to UTC; the ACK's time leaves it on its own clock.
    expect(Math.abs(local.clockOffsetMs - HOUR)).toBeLessThan(5_000);

    const letters = (await deadLetters()).length;
    const utc = await dialler('A018', { key, clockOffsetMs: HOUR, maxAttempts: 1 });
    await expect(utc.sendCid([{ kind: 'cid', qualifier: 1, code: '602', zone: '000' }])).rejects.toThrow(
      DialFailedError,
    );
    expect(await eventsOf('DC09-A018')).toEqual([]);
    const refused = await waitFor(async () =>
      (await deadLetters()).slice(letters).find((l) => l.account === 'A018'),
    );
    expect(refused.detail).toMatch(/1 h ahead of UTC.*clockZone/);
    expect(await metricSum(gateway.url, 'gateway_dc09_local_clock_frames_total{account="A018"')).toBe(1);
  });

  it('an account set to a zone whose panel sends UTC: its press stored at once at its UTC time (not an hour early), named and counted; a test NAKed', async () => {
    const key = { value: HEX_KEY, encoding: 'hex' as const };
    const letters = (await deadLetters()).length;
    const utc = await dialler('A019', { key, maxAttempts: 1 });
    const before = Date.now();
    expect(await utc.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).toMatchObject({
      reply: 'ACK',
      naks: 0,
    });
    const [press] = await eventsOf('DC09-A019');
    expect(press?.type).toBe('pendant.pressed');
    expect(Math.abs(Date.parse(press?.time ?? '') - before)).toBeLessThan(5_000);
    const named = await waitFor(async () =>
      (await deadLetters()).slice(letters).find((l) => l.account === 'A019'),
    );
    expect(named.detail).toMatch(/read on Etc\/GMT-1 is 1 h behind ours.*a panel clock on UTC\?/);

    const test = await dialler('A019', { key, maxAttempts: 1 });
    await expect(test.sendCid([{ kind: 'cid', qualifier: 1, code: '602', zone: '000' }])).rejects.toThrow(
      DialFailedError,
    );
    expect((await eventsOf('DC09-A019')).map((e) => e.type)).toEqual(['pendant.pressed']);
    await waitFor(async () =>
      (await metricSum(gateway.url, 'gateway_dc09_utc_clock_frames_total{account="A019"')) === 2
        ? true
        : undefined,
    );
  });

  it('an account whose device is a smoke detector: its own codes stored, a cancel or mains restore not, a press stored all the same; ACKed, dead-lettered, counted', async () => {
    const d = await dialler('A00E');
    const result = await d.sendSia([
      { kind: 'sia', code: 'FA', zone: '01' },
      { kind: 'sia', code: 'OC', zone: '01' },
      { kind: 'sia', code: 'AR', zone: '01' },
      { kind: 'sia', code: 'QA', zone: '01' },
      { kind: 'sia', code: 'FH', zone: '01' },
    ]);
    // ACKed: a sender that retries on anything else would hold back every alarm queued behind it.
    expect(result.reply).toBe('ACK');
    const stored = await eventsOf('DC09-A00E');
    expect(stored.map((e) => e.type)).toEqual(['smoke.detected', 'pendant.pressed', 'smoke.restored']);
    // The press is marked as from a kind that does not send it (triage keeps it apart); its own codes not.
    expect(stored.map((e) => e.unexpectedkind)).toEqual([undefined, true, undefined]);
    const letter = await waitFor(async () => (await deadLetters()).find((l) => l.account === 'A00E'), {
      what: 'the refused codes dead-lettered',
    });
    expect(letter).toMatchObject({
      service: 'gateway-dc09',
      reason: 'type-not-for-kind',
      detail: 'a smoke-detector does not report alarm.cancelled, mains.restored',
    });
    const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(metrics).toMatch(
      /^gateway_dc09_kind_mismatch_total\{[^}]*type="alarm.cancelled"[^}]*disposition="refused"[^}]*\} 1$/m,
    );
    expect(metrics).toMatch(
      /^gateway_dc09_kind_mismatch_total\{[^}]*type="pendant.pressed"[^}]*disposition="stored"[^}]*\} 1$/m,
    );
  });

  it('ACKs a valid code outside the table and records it as code.unmapped; DUHs unreadable data, dead-letters it and still keeps supervision', async () => {
    const d = await dialler('A006');
    const result = await d.sendCid([{ kind: 'cid', qualifier: 1, code: '999' }]);
    expect(result.reply).toBe('ACK');
    const [unmapped] = await eventsOf('DC09-A006');
    expect(unmapped).toMatchObject({
      type: 'code.unmapped',
      sourcecode: 'CID 1999',
      data: { note: 'unmapped code from account A006: unknown code CID 1999' },
    });
    const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(metrics).toMatch(
      /gateway_dc09_unmapped_codes_total\{[^}]*account="A006"[^}]*code="CID 1999"[^}]*\} 1/,
    );

    const before = (await deadLetters()).length;
    const garbled = encodeDc09Message({
      type: 'ADM-CID',
      seq: 5,
      account: 'A006',
      events: [],
      at: new Date(),
    });
    const text = garbled.toString('latin1').replace('[]', '[#A006|hello]');
    const body = text.slice(9, -1);
    const reply = await d.sendRaw(frameOf(body));
    expect(reply?.type).toBe('DUH');
    const letters = (await deadLetters()).slice(before);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ service: 'gateway-dc09', reason: 'bad-frame' });
    expect(Buffer.from(letters[0]?.rawBase64 ?? '', 'base64').toString('latin1')).toContain('hello');
    expect((await allEventsOf('DC09-A006')).map((e) => e.type)).toEqual([
      'code.unmapped',
      'heartbeat',
      'heartbeat',
    ]);
  });

  it('an alarm followed by a field it cannot read is stored and ACKed (not DUH, which would lose it), the frame dead-lettered', async () => {
    const d = await dialler('A00F', { key: { value: HEX_KEY, encoding: 'hex' } });
    const p = (v: number) => String(v).padStart(2, '0');
    const now = new Date();
    const stamp = `_${p(now.getUTCHours())}:${p(now.getUTCMinutes())}:${p(now.getUTCSeconds())},${p(now.getUTCMonth() + 1)}-${p(now.getUTCDate())}-${now.getUTCFullYear()}`;
    // What an ATS panel's frames carry after the event (pysiaalarm #49), encrypted as a keyed panel sends it.
    const content = `#A00F|Nri1/FA003*''NM]${stamp}`;
    const pad = 'p'.repeat((16 - ((content.length + 1) % 16)) % 16);
    const cipher = createCipheriv(
      'aes-128-cbc',
      Buffer.from(HEX_KEY, 'hex'),
      Buffer.alloc(16),
    ).setAutoPadding(false);
    const hex = Buffer.concat([cipher.update(`${pad}|${content}`, 'latin1'), cipher.final()])
      .toString('hex')
      .toUpperCase();
    const before = (await deadLetters()).length;
    const reply = await d.sendRaw(frameOf(`"*SIA-DCS"0007L0#A00F[${hex}`));
    expect(reply).toMatchObject({ type: 'ACK', seq: '0007' });
    expect((await eventsOf('DC09-A00F')).map((e) => [e.type, e.sourcecode, e.data.zone])).toEqual([
      ['smoke.detected', 'SIA FA', '003'],
    ]);
    const letters = (await deadLetters()).slice(before);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      reason: 'bad-frame',
      account: 'A00F',
      detail:
        'SIA block 1, character 11: neither a modifier nor an event; the 1 event(s) before it were stored',
    });
  });

  it('records restores with no taxonomy restore type, records one that maps to nothing as unmapped, and takes SIA ti/da as the event time', async () => {
    const d = await dialler('A007');
    const restores = await d.sendCid([
      { kind: 'cid', qualifier: 3, code: '641' },
      { kind: 'cid', qualifier: 3, code: '602' },
    ]);
    expect(restores.reply).toBe('ACK');
    expect(
      (await eventsOf('DC09-A007')).map((e) => [e.type, e.sourcecode, e.data.condition, e.devicekind]),
    ).toEqual([
      ['motion', 'CID 3641', 'restore', 'home-unit'],
      ['test.periodic', 'CID 3602', 'restore', 'home-unit'],
    ]);

    expect((await d.sendCid([{ kind: 'cid', qualifier: 3, code: '150' }])).reply).toBe('ACK');
    const unmapped = (await eventsOf('DC09-A007')).find((e) => e.type === 'code.unmapped');
    expect(unmapped?.data.note).toBe(
      'unmapped code from account A007: CID 3150: medication.missed has no restore type',
    );

    // A smoke detector dialling in itself: its kind is carried on its events.
    const detector = await dialler('A00D');
    const happened = new Date(Math.floor((Date.now() - 5 * 60_000) / 1000) * 1000);
    expect((await detector.sendSia([{ kind: 'sia', code: 'FA', zone: '02', at: happened }])).reply).toBe(
      'ACK',
    );
    const smoke = (await eventsOf('DC09-A00D')).find((e) => e.type === 'smoke.detected');
    expect(smoke?.devicekind).toBe('smoke-detector');
    expect(smoke?.time).toBe(happened.toISOString());
    expect(Date.parse(smoke?.receivedat ?? '') - happened.getTime()).toBeGreaterThanOrEqual(5 * 60_000);
  });

  it('a panel moved from another home: a press it held from there (SIA ti/da before its pairing here) is the previous resident’s; one before any pairing is a wrong clock', async () => {
    const day = 24 * 3600_000;
    const whole = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
    const atOldHome = whole(Date.now() - 3 * day);
    const here = whole(Date.now() - 60_000);
    const moved = await dialler('A011');
    expect(
      (
        await moved.sendSia([
          { kind: 'sia', code: 'MA', zone: '01', at: atOldHome },
          { kind: 'sia', code: 'MA', zone: '02', at: here },
        ])
      ).reply,
    ).toBe('ACK');
    const presses = (await eventsOf('DC09-A011')).filter((e) => e.type === 'pendant.pressed');
    const old = presses.find((e) => e.data.zone === '01');
    expect(old).toMatchObject({
      residentid: 'res_a011prev',
      time: atOldHome.toISOString(),
      testmode: false,
    });
    // When the panel left that home (its previous pairing's end, two days ago).
    expect(Math.abs(Date.parse(old?.movedat ?? '') - (Date.now() - 2 * day))).toBeLessThan(5 * 60_000);
    expect(old).not.toHaveProperty('postcodedistrict');
    expect(old).not.toHaveProperty('devicetime');
    const now = presses.find((e) => e.data.zone === '02');
    expect(now).toMatchObject({ residentid: 'res_a011', time: here.toISOString(), postcodedistrict: 'GL1' });
    expect(now).not.toHaveProperty('movedat');

    // A new panel paired yesterday cannot hold a press from three days ago: its clock is wrong.
    const fresh = await dialler('A012');
    expect((await fresh.sendSia([{ kind: 'sia', code: 'MA', zone: '01', at: atOldHome }])).reply).toBe('ACK');
    const [dated] = (await eventsOf('DC09-A012')).filter((e) => e.type === 'pendant.pressed');
    expect(dated).toMatchObject({ residentid: 'res_a012', devicetime: atOldHome.toISOString() });
    expect(dated?.time).toBe(dated?.receivedat);
    expect(dated).not.toHaveProperty('movedat');
  });

  it('a panel that sat in stock between two homes: a report timed in stock is neither home’s, the frame ACKed and dead-lettered; a press so timed is the current home’s, on receipt', async () => {
    const day = 24 * 3600_000;
    const whole = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
    const inStock = whole(Date.now() - 2 * day);
    const atOldHome = whole(Date.now() - 4 * day);
    const here = whole(Date.now() - 60_000);
    const before = (await deadLetters()).length;
    const panel = await dialler('A015');
    expect(
      (
        await panel.sendSia([
          { kind: 'sia', code: 'YT', zone: '01', at: inStock },
          { kind: 'sia', code: 'MA', zone: '02', at: atOldHome },
          { kind: 'sia', code: 'MA', zone: '03', at: here },
          // Its clock stood still while it was without power in the cupboard: a press made now.
          { kind: 'sia', code: 'MA', zone: '04', at: inStock },
        ])
      ).reply,
    ).toBe('ACK');
    const events = await eventsOf('DC09-A015');
    expect(events.filter((e) => e.type === 'battery.low')).toEqual([]);
    const presses = events.filter((e) => e.type === 'pendant.pressed');
    expect(presses.map((e) => [e.data.zone, e.residentid])).toEqual([
      ['02', 'res_a015prev'],
      ['03', 'res_a015'],
      ['04', 'res_a015'],
    ]);
    const stoodStill = presses.find((e) => e.data.zone === '04');
    expect(stoodStill?.devicetime).toBe(inStock.toISOString());
    expect(Date.parse(stoodStill?.time ?? '')).toBeGreaterThan(here.getTime());
    expect((await refusedInStock(before, 'A015', inStock)).detail).not.toContain('res_a015');
  });

  it('a panel paired for the first time after a spell in stock: a report timed in stock is nobody’s, dead-lettered; a press so timed, or a time before it was registered, is the home’s on receipt', async () => {
    const day = 24 * 3600_000;
    const whole = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
    const inStock = whole(Date.now() - 3 * day);
    const unregistered = whole(Date.now() - 6 * day);
    const before = (await deadLetters()).length;
    const panel = await dialler('A016');
    expect(
      (
        await panel.sendSia([
          { kind: 'sia', code: 'YT', zone: '01', at: inStock },
          { kind: 'sia', code: 'YT', zone: '02', at: unregistered },
          { kind: 'sia', code: 'MA', zone: '03', at: inStock },
        ])
      ).reply,
    ).toBe('ACK');
    const events = await eventsOf('DC09-A016');
    const battery = events.filter((e) => e.type === 'battery.low');
    expect(battery.map((e) => [e.data.zone, e.residentid, e.devicetime])).toEqual([
      ['02', 'res_a016', unregistered.toISOString()],
    ]);
    const press = events.find((e) => e.type === 'pendant.pressed');
    expect(press).toMatchObject({ residentid: 'res_a016', devicetime: inStock.toISOString() });
    await refusedInStock(before, 'A016', inStock);
  });

  it('takes what real panels send: binary and full-block pads, compact SIA with every modifier, |A text, codes outside the table, plain polls', async () => {
    for (const transport of ['tcp', 'udp'] as const) {
      // Two diallers of one account, each starting at sequence 1: a second apart, for the same
      // account, sequence and timestamp with other content is no sender's (a frame changed without
      // the key), and refused.
      if (transport === 'udp') await new Promise((resolve) => setTimeout(resolve, 1_000));
      const panel = await dialler('A008', {
        transport,
        key: { value: `${HEX_KEY}0011223344556677`, encoding: 'hex' },
        pad: { bytes: 'binary', fullBlock: true },
        sia: 'compact',
      });
      const happened = new Date(Math.floor((Date.now() - 60_000) / 1000) * 1000);
      const result = await panel.sendSia([
        // The zone differs by transport: the same sequence and content in the same second would
        // be a retransmission, and stored once.
        {
          kind: 'sia',
          code: 'MA',
          zone: transport === 'tcp' ? '1' : '2',
          area: '1',
          user: '3',
          text: 'Lounge',
          at: happened,
        },
        { kind: 'sia', code: 'BA', zone: '4', ascii: 'rear door' },
        { kind: 'sia', code: 'FA', zone: '12', area: '2', peripheral: '0006' },
      ]);
      expect(result).toMatchObject({ reply: 'ACK', attempts: 1 });
      expect(
        (
          await panel.sendCid([
            { kind: 'cid', qualifier: 1, code: '130', zone: transport === 'tcp' ? '004' : '005' },
          ])
        ).reply,
      ).toBe('ACK');
    }
    const events = await eventsOf('DC09-A008');
    expect(events.map((e) => [e.type, e.sourcecode])).toEqual(
      [0, 1].flatMap(() => [
        ['pendant.pressed', 'SIA MA'],
        ['code.unmapped', 'SIA BA'],
        ['smoke.detected', 'SIA FA'],
        ['code.unmapped', 'CID 1130'],
      ]),
    );
    expect(events[0]?.data).toMatchObject({ area: '1', zone: '1', text: 'Lounge', modifiers: { id: '3' } });
    expect(events[1]?.data).toMatchObject({ zone: '4', ascii: 'rear door' });
    expect(events[2]?.data).toMatchObject({ area: '2', modifiers: { pi: '0006' } });

    const poller = await dialler('A009', { transport: 'udp', plainPolls: true });
    for (let i = 0; i < 3; i++) expect((await poller.poll()).reply).toBe('ACK');
    // The same plain poll (no timestamp) again within the window behind is a copy: ACKed, one heartbeat.
    const polls = (await allEventsOf('DC09-A009')).filter((e) => e.sourcecode === 'NULL');
    expect(polls).toHaveLength(1);
  });

  it('a NULL poll is ACKed after a heartbeat for the account device is stored', async () => {
    const d = await dialler('A004', { transport: 'udp' });
    expect((await d.poll()).reply).toBe('ACK');
    const [heartbeat] = await allEventsOf('DC09-A004');
    expect(heartbeat).toMatchObject({ type: 'heartbeat', sourcecode: 'NULL', residentid: 'res_a004' });
  });

  it('applies per-account overrides', async () => {
    const d = await dialler('A004');
    await d.sendCid([{ kind: 'cid', qualifier: 1, code: '120' }]);
    expect((await eventsOf('DC09-A004')).map((e) => e.type)).toContain('fall.detected');
  });

  it('a retransmission of the same message is stored once', async () => {
    const frame = encodeDc09Message({
      type: 'ADM-CID',
      seq: 77,
      account: 'A001',
      events: [{ kind: 'cid', qualifier: 1, code: '602' }],
      at: new Date(),
    });
    const d = await dialler('A001');
    expect((await d.sendRaw(frame))?.type).toBe('ACK');
    expect((await d.sendRaw(frame))?.type).toBe('ACK');
    expect((await eventsOf('DC09-A001')).filter((e) => e.type === 'test.periodic')).toHaveLength(1);
  });

  it('a plain frame without a timestamp sent again after another message of its account is a resend: ACKed as the first, one event', async () => {
    // A pendant press with no timestamp (many plain senders send none). The panel hears no ACK for
    // it, sends its next message, then the press again: the same sequence number and content. One
    // alarm, one event (it was two, and two presses at the helpline).
    const press = encodeDc09Message({
      type: 'ADM-CID',
      seq: 1,
      account: 'A00A',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
    });
    const mains = encodeDc09Message({
      type: 'ADM-CID',
      seq: 2,
      account: 'A00A',
      events: [{ kind: 'cid', qualifier: 1, code: '301' }],
    });
    const d = await dialler('A00A');
    const first = await d.sendRaw(press);
    expect(first?.type).toBe('ACK');
    expect((await d.sendRaw(mains))?.type).toBe('ACK');
    const again = await d.sendRaw(press);
    // What the panel waits for: the ACK of its message, the same as the first sending's.
    expect(again).toEqual(first);
    expect(again).toMatchObject({ type: 'ACK', seq: '0001', account: 'A00A' });
    expect((await d.sendRaw(mains))?.type).toBe('ACK');
    const stored = await eventsOf('DC09-A00A');
    expect(stored.map((e) => e.type).sort()).toEqual(['mains.lost', 'pendant.pressed']);
  });

  it('a different message under a sequence number already used (a counter that wrapped or stands still) is a new event', async () => {
    // A sender that sends one number always: press, its restore, and the pendant pressed again.
    const message = (qualifier: 1 | 3) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq: 7,
        account: 'A013',
        events: [{ kind: 'cid', qualifier, code: '101', zone: '001' }],
      });
    const d = await dialler('A013');
    expect((await d.sendRaw(message(1)))?.type).toBe('ACK');
    expect((await d.sendRaw(message(3)))?.type).toBe('ACK');
    expect((await d.sendRaw(message(1)))?.type).toBe('ACK');
    const presses = async () =>
      (await eventsOf('DC09-A013')).filter(
        (e) => e.type === 'pendant.pressed' && e.data.condition === undefined,
      );
    await waitFor(async () => (await presses()).length === 2, { what: 'both presses stored' });
    expect(new Set((await presses()).map((e) => e.id)).size).toBe(2);
  });

  it('a copy of a frame answered DUH is answered DUH, as the first was', async () => {
    // The sender hears what its message is worth: not an ACK for data we could not read.
    const unreadable = frameOf('"ADM-CID"0003L0#A014[#A014|11O1 01 001]');
    const d = await dialler('A014');
    const first = await d.sendRaw(unreadable);
    expect(first?.type).toBe('DUH');
    expect(await d.sendRaw(unreadable)).toEqual(first);
    const letters = (await deadLetters()).filter((l) => l.account === 'A014');
    expect(letters).toHaveLength(1);
    expect(await allEventsOf('DC09-A014')).toHaveLength(1);
  });

  it('a plain frame without a timestamp sent again before anything else is a retransmission, stored once', async () => {
    const press = encodeDc09Message({
      type: 'ADM-CID',
      seq: 5,
      account: 'A00B',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
    });
    const d = await dialler('A00B');
    expect((await d.sendRaw(press))?.type).toBe('ACK');
    expect((await d.sendRaw(press))?.type).toBe('ACK');
    expect((await d.sendRaw(press))?.type).toBe('ACK');
    const all = await allEventsOf('DC09-A00B');
    expect(all.filter((e) => e.type === 'pendant.pressed')).toHaveLength(1);
    // The copies are copies of the frame, as a timestamped frame's are: no heartbeat of their own
    // (one per copy kept a silent account looking alive for anyone resending one frame).
    expect(all.filter((e) => e.type === 'heartbeat')).toHaveLength(1);
    const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(
      Number(/^gateway_dc09_duplicates_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(2);
  });

  it('an encrypted panel reusing one sequence number for two messages in the same second (a restart) has both stored; the first again is a copy', async () => {
    const key = Buffer.from(HEX_KEY, 'hex');
    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    const message = (code: string, zone: string) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq: 1,
        account: 'A010',
        events: [{ kind: 'cid', qualifier: 1, code, zone }],
        at,
        key,
      });
    const press = message('101', '001');
    const d = await dialler('A010', { key: { value: HEX_KEY, encoding: 'hex' } });
    expect((await d.sendRaw(press))?.type).toBe('ACK');
    // Its own pad and encryption: no block of it is the first's, so it is no change of that frame.
    expect((await d.sendRaw(message('301', '000')))?.type).toBe('ACK');
    expect((await d.sendRaw(press))?.type).toBe('ACK');
    const stored = await eventsOf('DC09-A010');
    expect(stored.map((e) => e.type).sort()).toEqual(['mains.lost', 'pendant.pressed']);
    expect((await deadLetters()).filter((l) => l.account === 'A010')).toEqual([]);
  });

  it('a retransmission stamped anew by its sender is stored once; the same message after another one is new', async () => {
    // Encrypted senders must stamp every message, and one retried after our window would be
    // refused with its first time: real senders stamp each attempt anew.
    const key = Buffer.from(HEX_KEY, 'hex');
    const pressAt = (seq: number, at: Date) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq,
        account: 'A00C',
        events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
        at,
        key,
      });
    const d = await dialler('A00C', { key: { value: HEX_KEY, encoding: 'hex' } });
    const t0 = Date.now();
    expect((await d.sendRaw(pressAt(9, new Date(t0))))?.type).toBe('ACK');
    expect((await d.sendRaw(pressAt(9, new Date(t0 + 3_000))))?.type).toBe('ACK');
    const presses = async () => (await eventsOf('DC09-A00C')).filter((e) => e.type === 'pendant.pressed');
    expect(await presses()).toHaveLength(1);
    expect((await presses())[0]?.time).toBe(new Date(Math.floor(t0 / 1000) * 1000).toISOString());
    // The next message, then the first one's bytes again under a new stamp (a sequence that
    // restarted): a new press.
    expect(
      (
        await d.sendRaw(
          encodeDc09Message({
            type: 'ADM-CID',
            seq: 10,
            account: 'A00C',
            events: [{ kind: 'cid', qualifier: 3, code: '101', zone: '001' }],
            at: new Date(t0 + 4_000),
            key,
          }),
        )
      )?.type,
    ).toBe('ACK');
    expect((await d.sendRaw(pressAt(9, new Date(t0 + 5_000))))?.type).toBe('ACK');
    expect(await presses()).toHaveLength(2);
  });

  it('unknown accounts and broken frames get NAK and a dead-letter; nothing reaches EVENTS', async () => {
    const before = (await deadLetters()).length;
    const stranger = await dialler('BEEF');
    expect(
      (await stranger.sendRaw(encodeDc09Message({ type: 'NULL', seq: 1, account: 'BEEF', events: [] })))
        ?.type,
    ).toBe('NAK');
    expect((await stranger.sendRaw(Buffer.from('\n0000001C"SIA-DCS"0001L0#A001[]\r')))?.type).toBe('NAK');
    const letters = (await deadLetters()).slice(before);
    expect(letters.map((l) => l.reason).sort()).toEqual(['bad-frame', 'unknown-device']);
    // An unknown account is still named; a frame broken before its header is read names none.
    expect(letters.map((l) => [l.reason, l.account]).sort()).toEqual([
      ['bad-frame', undefined],
      ['unknown-device', 'BEEF'],
    ]);
    expect(await eventsOf('DC09-BEEF')).toEqual([]);
  });

  it('a sender that never ends its frame cannot stall others, and is answered NAK', async () => {
    const before = (await deadLetters()).length;
    const hog = createConnection({ host: '127.0.0.1', port: gateway.dc09.tcpPort });
    const replies: Buffer[] = [];
    hog.on('data', (chunk) => replies.push(chunk));
    await new Promise((resolve) => hog.once('connect', resolve));
    hog.write(Buffer.concat([Buffer.from('\n'), Buffer.alloc(20_000, 0x41)]));
    const d = await dialler('A001');
    expect((await d.poll()).reply).toBe('ACK');
    await waitFor(() => replies.length > 0, { what: 'the hog to hear NAK' });
    expect(Buffer.concat(replies).toString('latin1')).toContain('"NAK"');
    hog.destroy();
    const letters = (await deadLetters()).slice(before);
    expect(letters[0]?.detail).toMatch(/truncated/);
  });
});

import { Kvm } from '@nats-io/kv';
import { DeadLetter, names, SecurityEvent, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { dialerKey, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import {
  forgeCancel,
  metricSum,
  newFirmware,
  sendEncrypted,
  sendPress,
  storedPresses,
  streamMessages,
  testAccount,
} from './support.ts';

/**
 * What a gateway saw of a zoned account's panel clock is shared through a KV bucket: a panel that
 * reconnects to another instance behind a balancer (or to one restarted) has its next stamp read as
 * the first instance had learned, not as with nothing known. So is how an account's panel pads: a
 * forgery sent to another instance is held to what the first learned. Two gateway instances on real
 * NATS.
 */

const ns = uniqueNamespace('gwdc09clk');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const KEY = '00112233445566778899AABBCCDDEEFF';
const HOUR = 3600_000;
/** Summer in London: a clock there shows an hour more than UTC. */
const SUMMER = new Date('2026-07-15T12:00:00Z');
const onLondonClock = (at: Date) => new Date(at.getTime() + HOUR);

const clockA = new ManualClock(SUMMER);
const clockB = new ManualClock(SUMMER);
let first: GatewayDc09Handle;
let second: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;

const start = (clock: ManualClock) =>
  startGatewayDc09(loadGatewayDc09Config(serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0' })), {
    logger,
    clock,
  });

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-clocks-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of ['C001', 'C002', 'C003'])
    await accounts.put(
      account,
      JSON.stringify(testAccount(account, { key: KEY, clockZone: 'Europe/London' })),
    );
  for (const account of ['D001', 'D002', 'D003'])
    await accounts.put(account, JSON.stringify(testAccount(account, { key: KEY })));
  first = await start(clockA);
  second = await start(clockB);
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await first?.close();
  await second?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

const send = (gateway: GatewayDc09Handle, account: string, seq: number, at: Date) =>
  sendPress(gateway.dc09.udpPort, KEY, account, seq, at);
const presses = (account: string) => storedPresses(jsm, n, account);

const pressNumber = async (account: string, count: number) =>
  (
    await waitFor(async () => {
      const found = await presses(account);
      return found.length === count ? found : undefined;
    })
  ).at(-1);

/** A press of a panel that pads with letters and digits up to the next block (9 bytes here). */
const padded = (account: string, seq: number, at: Date) =>
  encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events: [{ kind: 'cid', qualifier: 1, code: '101', zone: String(seq).padStart(3, '0') }],
    at,
    key: dialerKey(KEY, 'hex'),
    pad: { bytes: 'printable', fullBlock: false },
  });
const sendFrame = (gateway: GatewayDc09Handle, frame: Buffer) =>
  sendEncrypted(gateway.dc09.udpPort, KEY, frame);
const forged = (account: string, seq: number, at: Date) =>
  forgeCancel(padded(account, seq, at), dialerKey(KEY, 'hex'), account);

describe('how a panel pads, shared by the gateway instances', () => {
  it('a forgery sent to another instance is refused by what the first learned', async () => {
    for (const seq of [1, 2, 3, 4]) expect(await sendFrame(first, padded('D001', seq, SUMMER))).toBe('ACK');
    const bucket = await new Kvm(nc).open(n.kv.dc09Clocks);
    await waitFor(async () => {
      const held = (await bucket.get('pad.D001'))?.json<{ frames: number; bytes: number }>();
      return (held && held.frames === 3 && held.bytes >= 32) || undefined;
    });
    // The next press held back on the path, sent as a cancel to the other instance: its first frame
    // of the account there.
    expect(await sendFrame(second, forged('D001', 5, SUMMER))).toBe('NAK');
    expect(await metricSum(second.url, 'gateway_dc09_pad_refused_total{account="D001"')).toBe(1);
    expect(await metricSum(second.url, 'gateway_dc09_forged_total{reason="pad"')).toBe(1);
    // The panel's own frames are taken there.
    expect(await sendFrame(second, padded('D001', 6, SUMMER))).toBe('ACK');
    expect(await storedPresses(jsm, n, 'D001')).toHaveLength(5);
  });
});

describe('a panel whose firmware changed how it pads', () => {
  const repadded = (frame: Buffer) => newFirmware(frame, dialerKey(KEY, 'hex'));
  const poll = (seq: number, at: Date) =>
    encodeDc09Message({
      type: 'NULL',
      seq,
      account: 'D003',
      events: [],
      at,
      key: dialerKey(KEY, 'hex'),
      pad: { bytes: 'printable', fullBlock: true },
    });
  const refusedAsPad = async () =>
    (await streamMessages(jsm, n.streams.security, (v) => SecurityEvent.parse(v))).filter(
      (e) => e.kind === 'dc09-frame-forged' && e.detail.account === 'D003' && e.detail.reason === 'pad',
    );

  it('its press is ACKed and stored, marked, the frame dead-lettered and raised as breaking the pad style; its poll is still refused', async () => {
    const at = () => new Date(clockA.now());
    for (const seq of [1, 2, 3, 4]) expect(await sendFrame(first, padded('D003', seq, at()))).toBe('ACK');
    await pressNumber('D003', 4);
    // A fall or fire alarm after a firmware update was NAKed, retried, and lost on site.
    expect(await sendFrame(first, repadded(padded('D003', 5, at())))).toBe('ACK');
    expect((await pressNumber('D003', 5))?.data.padBroken).toMatch(/^an 8-bit byte in the pad/);
    const letter = await waitFor(async () =>
      (await streamMessages(jsm, n.streams.deadletter, (v) => DeadLetter.parse(v))).find(
        (l) => l.account === 'D003',
      ),
    );
    expect(letter).toMatchObject({ reason: 'bad-frame' });
    expect(letter.detail).toMatch(/8-bit byte in the pad.*taken for its life-critical alarm/);
    await waitFor(async () => ((await refusedAsPad()).length === 1 ? true : undefined));
    expect(await metricSum(first.url, 'gateway_dc09_pad_refused_total{account="D003"')).toBe(1);
    // Its poll carries no alarm: refused as before, until the account is saved again.
    expect(await sendFrame(first, repadded(poll(6, at())))).toBe('NAK');
    await waitFor(async () => ((await refusedAsPad()).length === 2 ? true : undefined));
    expect(await storedPresses(jsm, n, 'D003')).toHaveLength(5);
    // Stored with its press, a heartbeat would be there by now: the frames before it stored one each.
    const beats = (await streamMessages(jsm, n.streams.events, (v) => TelecareEvent.parse(v))).filter(
      (e) => e.subject === 'DC09-D003' && e.type === 'heartbeat',
    );
    expect(beats).toHaveLength(4);
  });
});

describe('what a panel clock was seen on, shared by the gateway instances', () => {
  it('a panel moving to another instance has its stamp read as the first instance learned it', async () => {
    // Both panels right on London time, at the first instance.
    expect(await send(first, 'C001', 6, onLondonClock(SUMMER))).toBe('ACK');
    expect(await send(first, 'C002', 6, onLondonClock(SUMMER))).toBe('ACK');
    // Written at once: the clock each was seen on is new.
    const bucket = await new Kvm(nc).open(n.kv.dc09Clocks);
    await waitFor(async () => {
      const held = await Promise.all(['C001', 'C002'].map((account) => bucket.get(account)));
      return held.every((entry) => entry?.json<{ clock?: string }>().clock === 'zone') || undefined;
    });

    // Ten minutes on, both reconnect to the second instance with a press stamped in UTC (2 s fast):
    // read in London an hour behind, read as UTC inside the window.
    const now = new Date(SUMMER.getTime() + 10 * 60_000);
    clockA.set(now);
    clockB.set(now);
    const utcStamp = new Date(now.getTime() + 2_000);

    // C001's press is numbered just after the frame taken at 12:00 UTC: it cannot be from an hour
    // before it, so it is the UTC reading, not in doubt. Read with nothing known, it was marked
    // ambiguous (`alttime` the London reading).
    expect(await send(second, 'C001', 7, utcStamp)).toBe('ACK');
    const c001 = await pressNumber('C001', 2);
    expect(c001?.time).toBe(utcStamp.toISOString());
    expect(c001?.alttime).toBeUndefined();

    // C002's is numbered out of order; its panel was last seen on London time: its buffered alarm,
    // taken late at the London reading, the UTC reading kept as the other. Read with nothing known,
    // it was taken at the UTC reading.
    expect(await send(second, 'C002', 60, utcStamp)).toBe('ACK');
    const c002 = await pressNumber('C002', 2);
    expect(c002?.time).toBe(new Date(utcStamp.getTime() - HOUR).toISOString());
    expect(c002?.alttime).toBe(utcStamp.toISOString());
  });

  it('an instance restarted reads what the one before it held back until it stopped, and reads the next stamp by it', async () => {
    // C002's frames at the second instance: the first written at once (a new clock here), the next
    // within the minute held back, and written when the instance stops.
    const now = new Date(clockB.now() + 60_000);
    clockB.set(now);
    expect(await send(second, 'C002', 61, onLondonClock(now))).toBe('ACK');
    expect(await send(second, 'C002', 62, onLondonClock(new Date(now.getTime() + 1_000)))).toBe('ACK');
    await pressNumber('C002', 4);
    await second.close();
    const bucket = await new Kvm(nc).open(n.kv.dc09Clocks);
    expect((await bucket.get('C002'))?.json()).toEqual({
      clock: 'zone',
      taken: { seq: 62, at: now.getTime() + 1_000 },
    });
    second = await start(clockB);
    // Numbered just after 62, taken a moment ago: a press stamped in UTC cannot be from an hour
    // before it. Read with 60 as the last frame taken (an hour's stamp earlier), it was that hour's.
    const utcStamp = new Date(now.getTime() + 5_000);
    clockB.set(utcStamp);
    expect(await send(second, 'C002', 63, utcStamp)).toBe('ACK');
    const press = await pressNumber('C002', 5);
    expect(press?.time).toBe(utcStamp.toISOString());
    expect(press?.alttime).toBeUndefined();
  });

  it('a bucket that is gone delays no frame: its first frame at an instance is read with what it knows, and counted', async () => {
    await (await new Kvm(nc).open(n.kv.dc09Clocks)).destroy();
    const before = await metricSum(second.url, 'gateway_dc09_panel_clocks_unavailable_total{op="read"');
    const sent = performance.now();
    expect(await send(second, 'C003', 6, onLondonClock(new Date(clockB.now())))).toBe('ACK');
    expect(performance.now() - sent).toBeLessThan(3_000);
    await pressNumber('C003', 1);
    expect(
      await metricSum(second.url, 'gateway_dc09_panel_clocks_unavailable_total{op="read"'),
    ).toBeGreaterThan(before);
    // Nor is a genuine frame of an account the instance knows nothing of refused (its pad profile
    // read from the bucket gone, or made again meanwhile as the platform does within seconds: the
    // unit tests count the failure); an account an instance learned (the first: the second was
    // restarted) it still holds to.
    expect(await sendFrame(second, padded('D002', 1, new Date(clockB.now())))).toBe('ACK');
    expect(await sendFrame(first, forged('D001', 7, new Date(clockA.now())))).toBe('NAK');
  });
});

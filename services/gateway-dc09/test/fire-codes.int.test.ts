import { DeadLetter, names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { Dc09Dialler } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { testAccount } from './support.ts';

/**
 * A sprinkler flowing, a near alarm and a fire detector's fault, sent by the simulators' dialler
 * to the gateway on real NATS: each is in EVENTS as the type triage raises, with its source code,
 * when the ACK arrives. A fire trouble is the detector's own fault (`device.fault`), which a
 * smoke detector that dials in itself may report.
 */

const ns = uniqueNamespace('gwdc09fire');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;
const diallers: Dc09Dialler[] = [];

async function dialler(account: string): Promise<Dc09Dialler> {
  const d = new Dc09Dialler({
    host: '127.0.0.1',
    port: gateway.dc09.tcpPort,
    transport: 'tcp',
    account,
    answerTimeoutMs: 1_500,
  });
  await d.connect();
  diallers.push(d);
  return d;
}

/** The coded events of `serial` in EVENTS (not the heartbeat every accepted frame adds), as `type sourcecode`. */
async function eventsOf(serial: string): Promise<string[]> {
  const info = await jsm.streams.info(n.streams.events);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (!m) continue;
    const e = TelecareEvent.parse(m.json());
    if (e.subject === serial && e.sourcecode !== undefined) out.push(`${e.type} ${e.sourcecode}`);
  }
  return out;
}

const deadLetters = async (): Promise<DeadLetter[]> => {
  const info = await jsm.streams.info(n.streams.deadletter);
  const out: DeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.deadletter, { seq }).catch(() => null);
    if (m) out.push(DeadLetter.parse(m.json()));
  }
  return out;
};

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-fire-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  await accounts.put('F001', JSON.stringify(testAccount('F001')));
  await accounts.put('F002', JSON.stringify(testAccount('F002')));
  await accounts.put('F003', JSON.stringify(testAccount('F003', { kind: 'smoke-detector' })));
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

describe('fire codes through the gateway', () => {
  it('a sprinkler flowing (CID 1113) and a near alarm (CID 1118) are stored as fires before the ACK; the restore as a restore', async () => {
    const d = await dialler('F001');
    expect(await d.sendCid([{ kind: 'cid', qualifier: 1, code: '113', zone: '004' }])).toMatchObject({
      reply: 'ACK',
    });
    // The ACK came after the store: the event is there the moment it arrives.
    expect(await eventsOf('DC09-F001')).toEqual(['smoke.detected CID 1113']);
    expect(await d.sendCid([{ kind: 'cid', qualifier: 1, code: '118', zone: '005' }])).toMatchObject({
      reply: 'ACK',
    });
    expect(await d.sendCid([{ kind: 'cid', qualifier: 3, code: '113', zone: '004' }])).toMatchObject({
      reply: 'ACK',
    });
    expect(await eventsOf('DC09-F001')).toEqual([
      'smoke.detected CID 1113',
      'smoke.detected CID 1118',
      'smoke.restored CID 3113',
    ]);
  });

  it('SIA SA (sprinkler) is a fire, FT (fire trouble) a fault, FJ its restore', async () => {
    const d = await dialler('F002');
    const result = await d.sendSia([
      { kind: 'sia', code: 'SA', zone: '04' },
      { kind: 'sia', code: 'FT', zone: '05' },
      { kind: 'sia', code: 'FJ', zone: '05' },
    ]);
    expect(result.reply).toBe('ACK');
    expect(await eventsOf('DC09-F002')).toEqual([
      'smoke.detected SIA SA',
      'device.fault SIA FT',
      'fault.restored SIA FJ',
    ]);
  });

  it("a smoke detector's own account: its fire troubles and their restores are stored, not refused as another kind's", async () => {
    const d = await dialler('F003');
    expect(await d.sendCid([{ kind: 'cid', qualifier: 1, code: '373', zone: '001' }])).toMatchObject({
      reply: 'ACK',
    });
    expect(await d.sendCid([{ kind: 'cid', qualifier: 3, code: '373', zone: '001' }])).toMatchObject({
      reply: 'ACK',
    });
    // Last, a code a smoke detector does not report: its refusal shows what the frames before it left.
    const result = await d.sendSia([
      { kind: 'sia', code: 'FT', zone: '01' },
      { kind: 'sia', code: 'FJ', zone: '01' },
      { kind: 'sia', code: 'OC', zone: '01' },
    ]);
    expect(result.reply).toBe('ACK');
    expect(await eventsOf('DC09-F003')).toEqual([
      'device.fault CID 1373',
      'fault.restored CID 3373',
      'device.fault SIA FT',
      'fault.restored SIA FJ',
    ]);
    const letters = await waitFor(
      async () => {
        const mine = (await deadLetters()).filter((l) => l.account === 'F003');
        return mine.some((l) => l.detail.includes('alarm.cancelled')) ? mine : undefined;
      },
      { what: "the cancel refused as not the smoke detector's", timeoutMs: 10_000 },
    );
    // The cancel alone: before, each fire trouble was refused as `line.fault` too.
    expect(letters.map((l) => [l.reason, l.detail])).toEqual([
      ['type-not-for-kind', 'a smoke-detector does not report alarm.cancelled'],
    ]);
  });
});

import { names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
  startTracing,
  type Tracing,
} from '@telecare/platform';
import { Dc09Dialler, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { testAccount } from './support.ts';

// What a stored event carries on its NATS message, with the process tracing (a file of its own:
// the tracer provider is the process's).
const ns = uniqueNamespace('gwdc09st');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let tracing: Tracing;
let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;
const diallers: Dc09Dialler[] = [];

interface Stored {
  readonly event: TelecareEvent;
  readonly msgId: string | undefined;
  readonly traceparent: string | undefined;
}

async function storedOf(serial: string): Promise<Stored[]> {
  const info = await jsm.streams.info(n.streams.events);
  const out: Stored[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (!m) continue;
    const event = TelecareEvent.parse(m.json());
    if (event.subject !== serial) continue;
    out.push({
      event,
      msgId: m.header?.get('Nats-Msg-Id') || undefined,
      traceparent: m.header?.get('traceparent') || undefined,
    });
  }
  return out;
}

beforeAll(async () => {
  tracing = await startTracing({
    serviceName: 'gateway-dc09-test',
    exporter: { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} },
  });
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-store-test', logger });
  jsm = await jetstreamManager(nc);
  const accounts = await openDc09Accounts(nc, n);
  await accounts.put('D001', JSON.stringify(testAccount('D001')));
  await accounts.put('D002', JSON.stringify(testAccount('D002')));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0' })),
    { logger },
  );
});

afterAll(async () => {
  for (const d of diallers) await d.close();
  await gateway?.close();
  await nc?.close();
  await tracing?.shutdown();
  await cleanupNamespace(ns);
});

async function dialler(account: string): Promise<Dc09Dialler> {
  const d = new Dc09Dialler({
    host: '127.0.0.1',
    port: gateway.dc09.tcpPort,
    transport: 'tcp',
    account,
    answerTimeoutMs: 2_000,
  });
  await d.connect();
  diallers.push(d);
  return d;
}

describe('gateway-dc09 stores', () => {
  it('each event of a frame with its own id as Nats-Msg-Id and the frame’s trace in its header', async () => {
    const d = await dialler('D001');
    const sent = await d.sendCid([
      { kind: 'cid', qualifier: 1, code: '101', zone: '003' },
      { kind: 'cid', qualifier: 1, code: '301' },
      { kind: 'cid', qualifier: 1, code: '384', zone: '007' },
    ]);
    expect(sent.reply).toBe('ACK');
    // The ACK came after every store: all of them are there when it arrives.
    const stored = await storedOf('DC09-D001');
    // Three coded events and the supervision heartbeat of the frame.
    expect(stored).toHaveLength(4);
    for (const s of stored) expect(s.msgId).toBe(s.event.id);
    expect(new Set(stored.map((s) => s.event.id)).size).toBe(4);
    const traceparent = stored[0]?.event.traceparent;
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    for (const s of stored) {
      expect(s.event.traceparent).toBe(traceparent);
      expect(s.traceparent).toBe(traceparent);
    }
  });

  it('a retransmission is ACKed and JetStream keeps the first copy only', async () => {
    const frame = encodeDc09Message({
      type: 'ADM-CID',
      seq: 12,
      account: 'D002',
      events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
      at: new Date(),
    });
    const d = await dialler('D002');
    expect((await d.sendRaw(frame))?.type).toBe('ACK');
    expect((await d.sendRaw(frame))?.type).toBe('ACK');
    const coded = (await storedOf('DC09-D002')).filter((s) => s.event.type === 'pendant.pressed');
    expect(coded).toHaveLength(1);
    const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(metrics).toMatch(/gateway_dc09_duplicates_total\S* [1-9]/);
  });
});

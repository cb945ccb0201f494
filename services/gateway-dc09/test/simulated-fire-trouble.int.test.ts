import { names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { buildScenario, DisperserSink, SCENARIOS, viaDisperser } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { testAccount } from './support.ts';

/**
 * The fire troubles of the simulators' technical scenario, sent by a home's simulated disperser
 * (`DisperserSink`, as a scenario run sends them) to the gateway on real NATS: each is in EVENTS
 * as the type triage raises, the trouble a detector's own fault, its restore the fault cleared.
 */

const ns = uniqueNamespace('gwdc09simfire');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ACCOUNT = 'F1A1';

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;

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

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-sim-fire-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  await accounts.put(ACCOUNT, JSON.stringify(testAccount(ACCOUNT, { kind: 'home-unit' })));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0', TELECARE_PARTITIONS: '4' }),
    ),
    { logger },
  );
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe("a simulated disperser's fire trouble", () => {
  it('arrives as the detector fault (CID 1373) and, cleared, as its restore (CID 3373)', async () => {
    const spec = SCENARIOS.technical;
    if (!spec) throw new Error('no technical scenario');
    const dc09 = new Set(spec.homes.filter((h) => h.via === 'dc09').map((h) => h.key));
    const troubles = viaDisperser(buildScenario(spec).events, dc09).filter(
      (e) => e.via === 'dc09' && e.incident !== undefined && e.device === 'smoke',
    );
    expect(troubles.map((e) => e.type)).toEqual(['device.fault', 'fault.restored']);

    const sink = new DisperserSink({ host: '127.0.0.1', port: gateway.dc09.tcpPort, account: ACCOUNT });
    for (const [i, e] of troubles.entries()) {
      // Stamped now: the scenario's own day is far outside the gateway's window.
      const payload = JSON.stringify({
        id: `fire-${i}`,
        type: e.type,
        at: new Date().toISOString(),
        seq: i,
        data: e.data,
      });
      await sink.send(`DC09-${ACCOUNT}`, `fire-${i}`, payload);
    }
    // Each was ACKed once stored.
    expect(await eventsOf(`DC09-${ACCOUNT}`)).toEqual(['device.fault CID 1373', 'fault.restored CID 3373']);
  });
});

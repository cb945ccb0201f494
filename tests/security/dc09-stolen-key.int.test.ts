import { names } from '@telecare/contracts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '@telecare/gateway-dc09';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import { type DialerEvent, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsIn, metricSumAt, sendDc09 } from '../support/dc09.ts';
import { dc09Account } from '../support/homes.ts';

/**
 * Attack replay: someone has read one panel's DC-09 key out of the panel (account 7A01). With the
 * key they make whole frames, not only replays: they try to speak for the neighbour's account
 * (7B01, a key of its own) in its header and its data — a press in its name, a cancel or a restore
 * to close its alarms, NULL polls to keep it looking alive while its line is cut. Each must be
 * refused and store nothing for the neighbour, while the same frames under the stolen account are
 * taken (they are well made: the key is the only thing wrong).
 */

const ns = uniqueNamespace('dc09stolen');
const n = names(ns);
const logger = createLogger('dc09-stolen-key-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const STOLEN = '7A01';
const NEIGHBOUR = '7B01';
const STOLEN_KEY = '00112233445566778899AABBCCDDEEFF';
const NEIGHBOUR_KEY = 'F0E1D2C3B4A5968778695A4B3C2D1E0F';

let nc: NatsConnection;
let gateway: GatewayDc09Handle;
let seq = 1;

const serialOf = (account: string) => `STOLEN-${account}`;

/** A frame as the attacker makes it: any account in header and data, encrypted with the stolen key. */
const forged = (account: string, type: 'SIA-DCS' | 'NULL', events: DialerEvent[]) =>
  encodeDc09Message({
    type,
    seq: seq++,
    account,
    events,
    at: new Date(),
    key: dialerKey(STOLEN_KEY, 'hex'),
  });

const attempts: [string, 'SIA-DCS' | 'NULL', DialerEvent[]][] = [
  ['a press', 'SIA-DCS', [{ kind: 'sia', code: 'MA', zone: '001' }]],
  ['a cancel', 'SIA-DCS', [{ kind: 'sia', code: 'OC', zone: '001' }]],
  ['a mains restore', 'SIA-DCS', [{ kind: 'sia', code: 'AR', zone: '001' }]],
  ['a NULL poll', 'NULL', []],
];

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-stolen-key-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  for (const [account, key] of [
    [STOLEN, STOLEN_KEY],
    [NEIGHBOUR, NEIGHBOUR_KEY],
  ] as const) {
    await accounts.put(
      account,
      JSON.stringify(dc09Account(account, { serial: serialOf(account), key, residentId: `res_${account}` })),
    );
  }
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0', DC09_NAK_BURST: '100' })),
    { logger },
  );
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('one DC-09 account’s key, read out of its panel', () => {
  it('makes no frame the neighbour’s account takes: press, cancel, restore and poll each NAKed, nothing stored for it', async () => {
    for (const [what, type, events] of attempts) {
      expect(await sendDc09(gateway.dc09.tcpPort, forged(NEIGHBOUR, type, events)), what).toBe('NAK');
    }
    // The same frames under the stolen account are taken: what was wrong was the key alone.
    for (const [what, type, events] of attempts) {
      expect(await sendDc09(gateway.dc09.tcpPort, forged(STOLEN, type, events)), what).toBe('ACK');
    }
    const stored = await eventsIn(nc, n.streams.events);
    expect(stored.filter((e) => e.subject === serialOf(NEIGHBOUR))).toEqual([]);
    expect(
      stored
        .filter((e) => e.subject === serialOf(STOLEN))
        .map((e) => e.type)
        .sort(),
    ).toEqual(expect.arrayContaining(['alarm.cancelled', 'heartbeat', 'mains.restored', 'pendant.pressed']));
    // A wrong key is not taken for a frame changed without its key: no forgery raised.
    expect(await metricSumAt(gateway.url, 'gateway_dc09_forged_total')).toBe(0);
  });
});

import { jetstreamManager } from '@nats-io/jetstream';
import { names } from '@telecare/contracts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '@telecare/gateway-dc09';
import {
  connectNats,
  createLogger,
  ManualClock,
  type NatsConnection,
  streamConfigs,
} from '@telecare/platform';
import { type DialerEvent, dialerKey, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsIn, metricSumAt, sendDc09 } from '../support/dc09.ts';
import { dc09Account } from '../support/homes.ts';

/**
 * A panel that lost its line sends its buffered fire alarm, once the line is back, with its first
 * timestamp, 25 minutes behind: taken late and stored at its own time. A recording of it sent again
 * is a copy; a restore behind the window is refused as before.
 */

const ns = uniqueNamespace('dc09late');
const n = names(ns);
const logger = createLogger('dc09-late-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const KEY = '000102030405060708090A0B0C0D0E0F';
const ACCOUNT = '1A7E';
/** An account whose panel sends a backlog of alarms late, past its rate. */
const BACKLOG = '1A7F';
const MINUTE = 60_000;
const clock = new ManualClock(Date.UTC(2026, 11, 6, 12, 0, 0));
/** EVENTS' duplicate window here: 2 s, so that a copy after it is the gateway's to recognise. */
const DUPLICATE_WINDOW_S = 2;

let nc: NatsConnection;
let gateway: GatewayDc09Handle;

/** Sends one frame on a new TCP connection and returns the reply's message type. */
const send = (frame: Buffer) => sendDc09(gateway.dc09.tcpPort, frame, 10_000);

const frame = (seq: number, events: DialerEvent[], behindMs: number, account = ACCOUNT) =>
  encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events,
    at: new Date(clock.now() - behindMs),
    key: dialerKey(KEY, 'hex'),
  });

const metricSum = (name: string) => metricSumAt(gateway.url, name);

const storedEvents = () => eventsIn(nc, n.streams.events);

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-late-test', logger });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ ...streamConfigs(n).events, duplicate_window: DUPLICATE_WINDOW_S * 1e9 });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of [ACCOUNT, BACKLOG])
    await accounts.put(
      account,
      JSON.stringify(dc09Account(account, { serial: `LATE-${account}`, key: KEY })),
    );
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_NAK_BURST: '100',
        // Two events an account, then one more from the alarm reserve, neither refilling in the test.
        DC09_ACCOUNT_BURST: '2',
        DC09_ACCOUNT_RATE: '0.001',
        DC09_ACCOUNT_ALARM_BURST: '1',
        DC09_ACCOUNT_ALARM_RATE: '0.001',
      }),
    ),
    { logger, clock },
  );
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('a buffered alarm sent late with its first timestamp', () => {
  it('a fire alarm 25 min behind is ACKed and stored at its own time; sent again, a copy', async () => {
    const at = new Date(clock.now() - 25 * MINUTE);
    const fire = frame(3, [{ kind: 'cid', qualifier: 1, code: '110', zone: '003' }], 25 * MINUTE);
    expect(await send(fire)).toBe('ACK');
    const first = (await storedEvents()).filter((e) => e.type === 'smoke.detected');
    expect(first).toHaveLength(1);
    // Dated when it happened, received now: triage marks the alert late.
    expect(first[0]).toMatchObject({
      time: at.toISOString(),
      receivedat: new Date(clock.now()).toISOString(),
    });
    expect(await metricSum('gateway_dc09_late_alarms_total')).toBe(1);
    const stored = (await storedEvents()).length;

    // A recording of it sent again after EVENTS' duplicate window, and later still within the bound.
    await new Promise((resolve) => setTimeout(resolve, (DUPLICATE_WINDOW_S + 1) * 1000));
    expect(await send(fire)).toBe('ACK');
    clock.advance(30 * MINUTE);
    expect(await send(fire)).toBe('ACK');
    expect((await storedEvents()).length).toBe(stored);
    expect(await metricSum('gateway_dc09_duplicates_total')).toBeGreaterThanOrEqual(2);
  });

  it('a restore, an opening or a poll 25 min behind is still NAKed; an alarm 2 h behind too', async () => {
    const before = (await storedEvents()).length;
    const restore = frame(4, [{ kind: 'cid', qualifier: 3, code: '110', zone: '003' }], 25 * MINUTE);
    const opening = frame(5, [{ kind: 'cid', qualifier: 1, code: '401', zone: '001' }], 25 * MINUTE);
    const poll = encodeDc09Message({
      type: 'NULL',
      seq: 6,
      account: ACCOUNT,
      events: [],
      at: new Date(clock.now() - 25 * MINUTE),
      key: dialerKey(KEY, 'hex'),
    });
    const old = frame(7, [{ kind: 'cid', qualifier: 1, code: '110', zone: '003' }], 120 * MINUTE);
    for (const refused of [restore, opening, poll, old]) expect(await send(refused)).toBe('NAK');
    expect((await storedEvents()).length).toBe(before);
    expect(await metricSum('gateway_dc09_late_alarms_total')).toBe(1);
  });

  it("late alarms spend their account's rate and alarm reserve as others do: past both, unanswered", async () => {
    const backlog = [1, 2, 3, 4].map((seq) =>
      frame(
        seq,
        [{ kind: 'cid', qualifier: 1, code: '101', zone: `00${seq}` }],
        (30 - seq) * MINUTE,
        BACKLOG,
      ),
    );
    // Two within the account's rate, the third from its alarm reserve.
    for (const late of backlog.slice(0, 3)) expect(await send(late)).toBe('ACK');
    const limited = await metricSum('gateway_dc09_rate_limited_total');
    // The fourth is left for the panel to send again later, nothing stored.
    await expect(sendDc09(gateway.dc09.tcpPort, backlog[3] as Buffer, 1_500)).rejects.toThrow('no reply');
    await waitFor(async () => (await metricSum('gateway_dc09_rate_limited_total')) === limited + 1, {
      what: 'the fourth late alarm counted past its rate',
    });
    const presses = (await storedEvents()).filter(
      (e) => e.subject === `LATE-${BACKLOG}` && e.type === 'pendant.pressed',
    );
    expect(presses.map((e) => e.data.zone)).toEqual(['001', '002', '003']);
  });
});

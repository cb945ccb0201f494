import { names } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { sendPress, storedPresses, testAccount } from './support.ts';

/**
 * Buffered alarms from the hour repeated when the clocks go back, sent late over real NATS: the
 * gateway reads the panel's stamp with what it saw of the account before (its last frame taken,
 * and that frame's sequence number), and where nothing rules a reading out, marks the event's time
 * ambiguous (`alttime`). Its clock is a manual one set to the night of the change.
 */

const ns = uniqueNamespace('gwdc09dst');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const KEY = '00112233445566778899AABBCCDDEEFF';
/** 25 October 2026 in London: 01:00–01:59 is shown at 00:00–00:59 UTC, then at 01:00–01:59 UTC. */
const wall = (hhmm: string) => new Date(`2026-10-25T${hhmm}:00Z`);
const clock = new ManualClock(new Date('2026-10-25T00:30:05Z'));

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-dst-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of ['B001', 'B002'])
    await accounts.put(
      account,
      JSON.stringify(testAccount(account, { key: KEY, clockZone: 'Europe/London' })),
    );
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      // Two hours: both readings of a stamp in the repeated hour can be taken late.
      serviceEnv(ns, { GATEWAY_DC09_PORT: '0', DC09_PORT: '0', DC09_LATE_ALARM_S: '7200' }),
    ),
    { logger, clock },
  );
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

const send = (account: string, seq: number, at: Date) =>
  sendPress(gateway.dc09.udpPort, KEY, account, seq, at);
const presses = (account: string) => storedPresses(jsm, n, account);

describe('a buffered alarm stamped in the repeated hour (Europe/London, 25 October 2026)', () => {
  it('after a frame taken at 00:30 UTC, the next press stamped 01:10 is the second 01:10; with nothing known, marked ambiguous', async () => {
    // B001's last frame before its line went down, at 01:30 BST (00:30 UTC).
    expect(await send('B001', 6, wall('01:30'))).toBe('ACK');
    expect(await presses('B001')).toHaveLength(1);

    // Twenty minutes into the second pass its line is back: the press it held, stamped 01:10.
    clock.set(new Date('2026-10-25T01:50:00Z'));
    expect(await send('B001', 7, wall('01:10'))).toBe('ACK');
    const [, held] = await waitFor(async () => {
      const found = await presses('B001');
      return found.length === 2 ? found : undefined;
    });
    // Numbered after the frame of 00:30 UTC, it cannot be the first 01:10 (00:10 UTC).
    expect(held).toMatchObject({ time: '2026-10-25T01:10:00.000Z', receivedat: '2026-10-25T01:50:00.000Z' });
    expect(held?.alttime).toBeUndefined();

    // B002 sent nothing before: either 01:10 can be its press. The later is taken, the other kept.
    expect(await send('B002', 7, wall('01:10'))).toBe('ACK');
    const [alone] = await waitFor(async () => {
      const found = await presses('B002');
      return found.length ? found : undefined;
    });
    expect(alone).toMatchObject({ time: '2026-10-25T01:10:00.000Z', alttime: '2026-10-25T00:10:00.000Z' });
  });
});

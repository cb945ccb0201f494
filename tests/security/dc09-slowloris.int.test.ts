import { connect, type Socket } from 'node:net';
import { names } from '@telecare/contracts';
import {
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '@telecare/gateway-dc09';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import { Dc09Dialler } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dc09Account } from '../support/homes.ts';

/**
 * DC-09 slowloris: many connections from one address, each trickling bytes that never make a
 * frame, must not keep a genuine panel out. Sized for CI: the connection limit is lowered so a few
 * hundred slow connections would fill it, and the frame deadline is short so the test is quick.
 */

const ns = uniqueNamespace('slowloris');
const n = names(ns);
const logger = createLogger('slowloris-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** The attacker speaks from another loopback address than the panel: per-source limits apply to it alone. */
const ATTACKER = '127.0.0.2';
const ATTACK_CONNECTIONS = 300;
const MAX_CONNECTIONS = 200;
const PER_SOURCE = 16;
const FRAME_DEADLINE_S = 2;
const IDLE_S = 4;

let gateway: GatewayDc09Handle;
let nc: NatsConnection;
let stopped = false;
const attackers = new Set<Socket>();
const timers: NodeJS.Timeout[] = [];

const entry = (account: string) => dc09Account(account, { serial: `SLOW-${account}` });

/** One slow connection: opens a frame with LF, then one more byte every `everyMs`, never a CR. */
function slowConnection(everyMs: number, byte = '0'): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port: gateway.dc09.tcpPort,
      localAddress: ATTACKER,
    });
    attackers.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => attackers.delete(socket));
    socket.once('connect', () => {
      socket.write(byte.startsWith('\r') ? '\r' : '\n');
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write(byte);
      }, everyMs);
      timers.push(timer);
      socket.once('close', () => clearInterval(timer));
      resolve(socket);
    });
    socket.once('close', () => resolve(socket));
  });
}

/** What a slowloris attacker does: holds `count` slow connections, opening a new one for each closed. */
function attack(count: number): void {
  const keep = () => {
    if (stopped) return;
    void slowConnection(500).then((socket) => {
      if (socket.destroyed) setTimeout(keep, 100);
      else socket.once('close', () => setTimeout(keep, 100));
    });
  };
  for (let i = 0; i < count; i++) keep();
}

const closedWithin = (socket: Socket, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'slowloris-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  await accounts.put('5100', JSON.stringify(entry('5100')));
  gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_KEYLESS: 'allow',
        DC09_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        DC09_MAX_CONNECTIONS_PER_SOURCE: String(PER_SOURCE),
        DC09_FRAME_DEADLINE_S: String(FRAME_DEADLINE_S),
        DC09_IDLE_TIMEOUT_S: String(IDLE_S),
      }),
    ),
    { logger },
  );
});

afterAll(async () => {
  stopped = true;
  for (const timer of timers) clearInterval(timer);
  for (const socket of attackers) socket.destroy();
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('DC-09 slowloris', () => {
  it('a frame that does not finish within the deadline closes its connection', async () => {
    const socket = await slowConnection(300);
    expect(await closedWithin(socket, (FRAME_DEADLINE_S + 3) * 1000)).toBe(true);
  });

  it('bytes that never complete a frame (lone CRs) do not keep a connection open past the idle timeout', async () => {
    const socket = await slowConnection(300, '\r');
    expect(await closedWithin(socket, (IDLE_S + 3) * 1000)).toBe(true);
  });

  it('junk ended by CR (not a frame) does not keep a connection open past the idle timeout', async () => {
    const socket = await slowConnection(300, 'x\r\n');
    expect(await closedWithin(socket, (IDLE_S + 3) * 1000)).toBe(true);
  });

  it('a NUL flood (64 KiB every 100 ms, no LF) is closed by the idle timeout; after an LF, by the frame deadline', async () => {
    const flood = (opening: string) =>
      new Promise<Socket>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: gateway.dc09.tcpPort, localAddress: ATTACKER });
        attackers.add(socket);
        socket.on('error', () => undefined);
        socket.once('connect', () => {
          if (opening) socket.write(opening);
          const nuls = Buffer.alloc(64 * 1024);
          const timer = setInterval(() => {
            if (!socket.destroyed) socket.write(nuls);
          }, 100);
          timers.push(timer);
          socket.once('close', () => {
            clearInterval(timer);
            attackers.delete(socket);
          });
          resolve(socket);
        });
      });
    const replies: Buffer[] = [];
    const [bare, opened] = await Promise.all([flood(''), flood('\n')]);
    bare.on('data', (chunk) => replies.push(chunk));
    // The LF opens a frame: the NULs after it fill it past the limit (one NAK), the rest is dropped.
    expect(await closedWithin(opened, (FRAME_DEADLINE_S + 3) * 1000)).toBe(true);
    expect(await closedWithin(bare, (IDLE_S + 3) * 1000)).toBe(true);
    expect(replies).toEqual([]);
  });

  it(`${ATTACK_CONNECTIONS} slow connections from one address: a genuine panel's pendant press is still ACKed`, async () => {
    attack(ATTACK_CONNECTIONS);
    // Let the attack reach its peak before the panel calls.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const panel = new Dc09Dialler({
      host: '127.0.0.1',
      port: gateway.dc09.tcpPort,
      transport: 'tcp',
      account: '5100',
      // Generous for a loaded CI machine: starved, the panel would be refused on every attempt.
      answerTimeoutMs: 8_000,
      maxAttempts: 3,
    });
    try {
      await panel.connect();
      const result = await panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }]);
      expect(result.reply).toBe('ACK');
    } finally {
      await panel.close();
    }
    // The attacker never held more than its share of the receiver.
    const after = await (await fetch(new URL('/metrics', gateway.url))).text();
    expect(after).toMatch(/gateway_dc09_connections_refused_total\{[^}]*reason="per-source"[^}]*\} [1-9]/);
    const open = Number(/^gateway_dc09_connections\{[^}]*\} (\d+)$/m.exec(after)?.[1]);
    expect(open).toBeLessThanOrEqual(PER_SOURCE + 1);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { names, SecurityEvent } from '@telecare/contracts';
import { connectNats, createLogger, jetstreamManager, type NatsConnection } from '@telecare/platform';
import {
  freePort,
  OwnNatsServer,
  PortTakenError,
  type ServiceProcess,
  serviceEnv,
  spawnService,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDc09Accounts } from '../src/index.ts';
import { forgedFrame, metricSum, testAccount } from './support.ts';

// This file stops NATS, so it runs its own nats-server on a free port instead of the shared one.
const ns = uniqueNamespace('gwdc09state');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', 'silent');
const KEY = '000102030405060708090A0B0C0D0E0F';
const ACCOUNT = 'C001';
const FORGED = 5;

let nats: OwnNatsServer;
let nc: NatsConnection;
const running: ServiceProcess[] = [];
const sockets: Socket[] = [];
const folders: string[] = [];
const folder = (label: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), `telecare-gwdc09-${label}-`));
  folders.push(dir);
  return dir;
};

/** gateway-dc09 in a process of its own on `stateDir`, its log in `logDir`; resolves once ready. */
async function gateway(stateDir: string, logDir: string): Promise<ServiceProcess & { dc09Port: number }> {
  for (let attempt = 1; ; attempt++) {
    const dc09Port = await freePort();
    try {
      const started = await spawnService(
        'gateway-dc09',
        serviceEnv(ns, {
          NATS_URL: nats.url,
          DC09_PORT: String(dc09Port),
          DC09_RETRY_S: '1',
          GATEWAY_STATE_DIR: stateDir,
          LOG_LEVEL: 'info',
        }),
        logDir,
      );
      running.push(started);
      return Object.assign(started, { dc09Port });
    } catch (err) {
      // The receiver's port, found free, taken before the gateway bound it: another one.
      if (!(err instanceof PortTakenError) || attempt === 3) throw err;
    }
  }
}

const killed = async (service: ServiceProcess) => {
  const exited = new Promise((resolve) => service.child.once('exit', resolve));
  service.child.kill('SIGKILL');
  await exited;
};

beforeAll(async () => {
  nats = await OwnNatsServer.start(ns);
  nc = await connectNats({ url: nats.url, name: `${ns}-test`, logger });
  const accounts = await openDc09Accounts(nc, n);
  await accounts.put(ACCOUNT, JSON.stringify(testAccount(ACCOUNT, { key: KEY })));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const service of running) await service.close();
  await nc?.close();
  await nats?.destroy();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('gateway-dc09 with GATEWAY_STATE_DIR', () => {
  it('killed while NATS is down holding security events, stores each exactly once at its next start', async () => {
    const stateDir = folder('spool');
    const spool = path.join(stateDir, 'security-events.jsonl');
    const first = await gateway(stateDir, folder('log'));
    await nats.stop();
    for (let seq = 1; seq <= FORGED; seq++) {
      // One connection each: a refusal waits on its dead letter, which waits on NATS.
      const socket = connect(first.dc09Port, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
      socket.write(forgedFrame(ACCOUNT, KEY, seq));
    }
    const heldIds = () =>
      readFileSync(spool, 'utf8')
        .split('\n')
        .filter((line) => line.includes('dc09-frame-forged'))
        .map((line) => (JSON.parse(line) as { msgID: string }).msgID);
    await waitFor(() => heldIds().length >= FORGED, {
      timeoutMs: 20_000,
      what: 'a security event per forged frame in the state folder',
    });
    // Each left unanswered once its dead letter was tried for DC09_RETRY_S: one event each all the same.
    await waitFor(async () => (await metricSum(first.url, 'gateway_dc09_unanswered_total')) >= FORGED, {
      timeoutMs: 20_000,
      what: 'every forged frame given up on',
    });
    await killed(first);
    const held = heldIds();
    expect(held).toHaveLength(FORGED);

    await nats.start();
    await gateway(stateDir, folder('log'));
    await waitFor(() => readFileSync(spool, 'utf8') === '', {
      timeoutMs: 30_000,
      what: 'what the state folder held stored, and the folder emptied',
    });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(n.streams.security);
    // Each once: as many messages as events held, and every held id among them.
    expect(info.state.messages).toBe(held.length);
    const ids: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(n.streams.security, { seq });
      ids.push(m?.header.get('Nats-Msg-Id') ?? '');
      expect(SecurityEvent.parse(m?.json())).toMatchObject({
        service: 'gateway-dc09',
        kind: 'dc09-frame-forged',
        detail: { account: ACCOUNT, transport: 'tcp' },
      });
    }
    expect(ids.sort()).toEqual([...held].sort());
  }, 120_000);

  it('refuses to start on a folder another instance holds, naming it and that process; starts once it was killed', async () => {
    const stateDir = folder('lock');
    const first = await gateway(stateDir, folder('log'));
    const secondLogs = folder('log');
    await expect(gateway(stateDir, secondLogs)).rejects.toThrow(/exited \(1\)/);
    const said = readFileSync(path.join(secondLogs, 'gateway-dc09.log'), 'utf8');
    expect(said).toContain(
      `the state folder ${stateDir} is in use by another instance (process ${first.child.pid}`,
    );

    await killed(first);
    const third = await gateway(stateDir, folder('log'));
    expect((await fetch(`${third.url}/readyz`)).status).toBe(200);
  }, 120_000);
});

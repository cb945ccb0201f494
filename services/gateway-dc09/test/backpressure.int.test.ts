import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dc09AccountEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import { Dc09Dialler, dc09Frame, decodeReply, encodeDc09Message } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Dc09Connection,
  type GatewayDc09Handle,
  loadGatewayDc09Config,
  openDc09Accounts,
  startGatewayDc09,
} from '../src/index.ts';
import { testAccount } from './support.ts';

/**
 * A sender that writes frames and never reads its replies must not make the gateway hold them in
 * memory without end: past DC09_MAX_PENDING_OUTPUT_BYTES its connection is no longer read (nor its
 * frames already read answered) until it takes them, other senders are served meanwhile, and a
 * connection stuck so is still closed by the idle timeout.
 */

const ns = uniqueNamespace('gwdc09bp');
const n = names(ns);
const logger = createLogger('gateway-dc09-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const SENDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'unread-sender.py');
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0;
/** Small, so a few thousand polls fill it after the kernel's own buffers. */
const MAX_PENDING = 4096;
/** Polls sent without reading: several times what the kernel and the bound can hold together. */
const FRAMES = 4000;
const IDLE_S = 2;

let nc: NatsConnection;
const gateways: GatewayDc09Handle[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

const entry = (account: string, overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry =>
  testAccount(account, { serial: `BP-${account}`, ...overrides });

const poll = (seq: number, account: string) => encodeDc09Message({ type: 'NULL', seq, account, events: [] });

async function startGateway(env: Record<string, string>): Promise<GatewayDc09Handle> {
  const gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, {
        GATEWAY_DC09_PORT: '0',
        DC09_PORT: '0',
        DC09_MAX_PENDING_OUTPUT_BYTES: String(MAX_PENDING),
        // One account writes thousands of frames back to back here, far over an account's rate.
        DC09_ACCOUNT_RATE: '0',
        ...env,
      }),
    ),
    { logger },
  );
  gateways.push(gateway);
  return gateway;
}

/** The unread sender on `port`: its frames written (not yet read back), its replies as they come. */
async function unreadSender(port: number, frames: Buffer) {
  const child = spawn('python3', [SENDER, String(port)]);
  children.push(child);
  let out = Buffer.alloc(0);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    out = Buffer.concat([out, chunk]);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await waitFor(() => out.includes('\n') || exited, { what: 'the unread sender to connect' });
  const line = out.subarray(0, out.indexOf('\n')).toString();
  if (!/^\d+$/.test(line)) throw new Error(`the unread sender did not start: ${stderr || line}`);
  const localPort = Number(line);
  out = out.subarray(out.indexOf('\n') + 1);
  child.stdin.write(`${frames.toString('hex')}\n`);
  return {
    localPort,
    startReading: () => child.stdin.write('read\n'),
    /** Every reply received so far, LF … CR each. */
    replies: (): Buffer[] => {
      const replies: Buffer[] = [];
      let start = 0;
      for (let cr = out.indexOf(13); cr >= 0; cr = out.indexOf(13, start)) {
        replies.push(out.subarray(start, cr + 1));
        start = cr + 1;
      }
      return replies;
    },
  };
}

beforeAll(async () => {
  nc = await connectNats({ url: serviceEnv(ns).NATS_URL as string, name: 'dc09-bp-test', logger });
  const accounts = await openDc09Accounts(nc, n);
  for (const account of ['B001', 'B002', 'B003']) await accounts.put(account, JSON.stringify(entry(account)));
});

afterAll(async () => {
  for (const child of children) child.kill();
  for (const gateway of gateways) await gateway.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe.skipIf(!HAS_PYTHON)(
  'gateway-dc09: a TCP sender that does not read its replies (the unread sender needs python3)',
  () => {
    it('holds at most the bound plus one reply for it, serves others meanwhile, and answers every frame in order once it reads', async () => {
      // A frame deadline far off: a frame cut by the pause must not end the connection during the test.
      const gateway = await startGateway({ DC09_FRAME_DEADLINE_S: '120' });
      const frames = Array.from({ length: FRAMES }, (_, i) => poll(i + 1, 'B001'));
      const replySize = dc09Frame('"ACK"0001L0#B001[]').length;
      const sender = await unreadSender(gateway.dc09.tcpPort, Buffer.concat(frames));
      const mine = (): Dc09Connection | undefined =>
        gateway.connections().find((c) => c.remotePort === sender.localPort);

      let most = 0;
      const sample = () => {
        const c = mine();
        most = Math.max(most, c?.pendingOutputBytes ?? 0);
        return c;
      };
      // Until the gateway stops for it, or (without backpressure) its replies pile up past the bound.
      await waitFor(
        () => {
          const c = sample();
          return c?.waitingForReader === true || most > MAX_PENDING + replySize;
        },
        {
          what: 'the gateway to stop reading the sender that does not read',
          timeoutMs: 60_000,
          intervalMs: 5,
        },
      );
      expect(most).toBeLessThanOrEqual(MAX_PENDING + replySize);
      // Held there while it does not read: the frames already read wait, unanswered, rather than
      // becoming replies (the kernel may take a few more as its own buffers shift).
      for (let i = 0; i < 40; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        sample();
      }
      expect(most).toBeLessThanOrEqual(MAX_PENDING + replySize);
      expect(mine()?.queuedFrames).toBeGreaterThan(0);

      // Another sender is answered meanwhile.
      const panel = new Dc09Dialler({
        host: '127.0.0.1',
        port: gateway.dc09.tcpPort,
        transport: 'tcp',
        account: 'B002',
        answerTimeoutMs: 8_000,
        maxAttempts: 1,
      });
      try {
        await panel.connect();
        expect(await panel.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).toMatchObject({
          reply: 'ACK',
        });
      } finally {
        await panel.close();
      }

      // Once it reads, every frame is answered, in order.
      sender.startReading();
      await waitFor(() => sender.replies().length >= FRAMES, {
        what: `all ${FRAMES} replies`,
        timeoutMs: 120_000,
      });
      const replies = sender.replies().map((reply) => decodeReply(reply));
      expect(replies.map((r) => r?.type)).toEqual(frames.map(() => 'ACK'));
      expect(replies.map((r) => Number(r?.seq))).toEqual(frames.map((_, i) => i + 1));
    }, 240_000);

    it('a connection stuck so is still closed by the idle timeout', async () => {
      const gateway = await startGateway({ DC09_IDLE_TIMEOUT_S: String(IDLE_S) });
      const sender = await unreadSender(
        gateway.dc09.tcpPort,
        Buffer.concat(Array.from({ length: FRAMES }, (_, i) => poll(i + 1, 'B003'))),
      );
      const mine = () => gateway.connections().find((c) => c.remotePort === sender.localPort);
      await waitFor(() => mine()?.waitingForReader === true, {
        what: 'the gateway to stop reading the sender that does not read',
        timeoutMs: 60_000,
      });
      await waitFor(() => mine() === undefined, {
        what: 'the stuck connection to be closed',
        timeoutMs: (IDLE_S + 20) * 1000,
      });
      const metrics = await (await fetch(new URL('/metrics', gateway.url))).text();
      expect(metrics).toMatch(
        /gateway_dc09_connections_closed_total\{[^}]*reason="(idle|frame-deadline)"[^}]*\} [1-9]/,
      );
    }, 120_000);
  },
);

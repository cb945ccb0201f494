import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lockStateFolder } from '@telecare/platform';
import { serviceEnv, spawnService, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A gateway started on a state folder another live process holds (a second instance given the
 * same `GATEWAY_STATE_DIR`) must be refused before it connects anywhere: it used to connect to NATS
 * first, and so join the running one's servers (and, had NATS been unreachable, fail on that
 * instead of saying the folder is taken). Here the holder is this test's own process, and every
 * server address the gateway is given is a socket that only counts who connects.
 */

const ns = uniqueNamespace('secstatedir');
const folders: string[] = [];
const accepted: Socket[] = [];
let connections = 0;
let serverUrl: (scheme: string) => string;
const listener = createServer((socket) => {
  connections++;
  // Held open and silent: a client waits for the server's greeting.
  accepted.push(socket);
  socket.on('error', () => {});
});

beforeAll(async () => {
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as { port: number };
  serverUrl = (scheme) => `${scheme}://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => listener.close(resolve));
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe.each(['gateway-mqtt', 'gateway-dc09'] as const)('%s on a state folder in use', (name) => {
  it('exits 1 naming the process holding it, having connected to nothing', async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), `telecare-${name}-state-`));
    const logDir = mkdtempSync(path.join(tmpdir(), `telecare-${name}-log-`));
    folders.push(stateDir, logDir);
    const lock = lockStateFolder(stateDir);
    const before = connections;
    try {
      const started = performance.now();
      await expect(
        spawnService(
          name,
          serviceEnv(ns, {
            NATS_URL: serverUrl('nats'),
            MQTT_URL: serverUrl('mqtt'),
            DC09_PORT: '0',
            GATEWAY_STATE_DIR: stateDir,
            LOG_LEVEL: 'info',
          }),
          logDir,
        ),
      ).rejects.toThrow(/exited \(1\)/);
      const said = readFileSync(path.join(logDir, `${name}.log`), 'utf8');
      expect(said).toContain(
        `the state folder ${stateDir} is in use by another instance (process ${process.pid}`,
      );
      expect(connections - before).toBe(0);
      // Promptly: the process's start (tsx loading it) and no server's timeout.
      expect(performance.now() - started).toBeLessThan(30_000);
    } finally {
      lock.release();
    }
  }, 60_000);
});

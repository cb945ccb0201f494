/**
 * infra/servers.sh against real binaries: Redis, NATS and Mosquitto on free ports must be started
 * by the script under a private data dir and stopped again by `down`; PostgreSQL on the already
 * running 5432 must be reused (and the database created) and survive `down`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'servers.sh');
const HOST = '127.0.0.1';
const PG_PORT = 5432;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Sends `send` (if any) on a fresh connection and resolves with the first bytes that come back. */
function exchange(port: number, send?: Buffer | string, timeoutMs = 3_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      if (send !== undefined) socket.write(send);
    });
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** MQTT 3.1.1 CONNECT, clean session, keep-alive 30 s. */
function mqttConnect(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x1e]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remaining = variable.length + payload.length;
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, payload]);
}

const suffix = `${process.pid}_${Date.now().toString(36)}`;
const database = `telecare_servers_it_${suffix}`;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'telecare-servers-it-'));
let env: NodeJS.ProcessEnv = {};
const ports = { redis: 0, nats: 0, mqtt: 0 };

function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { env, timeout: 45_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function psql(sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      [`postgresql://postgres@${HOST}:${PG_PORT}/postgres`, '-XtAq', '-c', sql],
      { timeout: 10_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    );
  });
}

describe('infra/servers.sh', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    ports.redis = await freePort();
    ports.nats = await freePort();
    ports.mqtt = await freePort();
    env = {
      ...process.env,
      TELECARE_DATA_DIR: dataDir,
      REDIS_URL: `redis://${HOST}:${ports.redis}`,
      NATS_URL: `nats://${HOST}:${ports.nats}`,
      MQTT_URL: `mqtt://${HOST}:${ports.mqtt}`,
      DATABASE_URL: `postgresql://postgres@${HOST}:${PG_PORT}/${database}`,
    };
  }, 10_000);

  afterAll(async () => {
    // Whatever happened above, leave no daemon and no database behind.
    await run('down');
    await psql(`DROP DATABASE IF EXISTS "${database}"`).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('starts what does not answer and reuses what does', async () => {
    const up = await run('up');
    expect(up.code, up.stderr).toBe(0);

    const pong = await exchange(ports.redis, 'PING\r\n');
    expect(pong.toString()).toBe('+PONG\r\n');

    const info = (await exchange(ports.nats)).toString();
    expect(info.startsWith('INFO ')).toBe(true);
    const serverInfo = JSON.parse(info.slice(5, info.indexOf('\r\n'))) as {
      jetstream?: boolean;
      port?: number;
    };
    expect(serverInfo.jetstream).toBe(true);
    expect(serverInfo.port).toBe(ports.nats);

    // CONNACK, session present 0, return code 0 (accepted: anonymous allowed).
    const connack = await exchange(ports.mqtt, mqttConnect(`servers-it-${suffix}`));
    expect([...connack.subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00]);

    expect(await psql(`SELECT 1 FROM pg_database WHERE datname = '${database}'`)).toBe('1');
    expect(up.stderr).toContain(`created database '${database}'`);
  });

  it('status tells its own servers from external ones', async () => {
    const status = await run('status');
    expect(status.code, status.stderr).toBe(0);
    const lines = Object.fromEntries(
      status.stdout
        .trim()
        .split('\n')
        .map((line) => [line.split(/\s+/)[0], line] as const),
    );
    for (const name of ['redis', 'nats', 'mosquitto']) {
      expect(lines[name]).toMatch(/ ours \(pid \d+/);
      expect(lines[name]).toContain(path.join(dataDir, 'servers', name));
    }
    expect(lines.postgres).toMatch(/ external$/);
    expect(lines.redis).toContain(`redis://${HOST}:${ports.redis}`);
  });

  it('is idempotent', async () => {
    const again = await run('up');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/redis: ours, already running/);
    expect(again.stderr).not.toContain('created database');
  });

  it('down stops only its own servers', async () => {
    const down = await run('down');
    expect(down.code, down.stderr).toBe(0);
    expect(await answers(ports.redis)).toBe(false);
    expect(await answers(ports.nats)).toBe(false);
    expect(await answers(ports.mqtt)).toBe(false);
    expect(await answers(PG_PORT)).toBe(true);

    const status = await run('status');
    expect(status.code).not.toBe(0);
    expect(status.stdout).toMatch(/^redis\s.*\sdown$/m);
    expect(status.stdout).toMatch(/^postgres\s.*\sexternal$/m);
  });
});

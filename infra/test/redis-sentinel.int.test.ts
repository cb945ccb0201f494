/**
 * compose.yaml's Redis, run: its two servers and three Sentinels as compose starts them (the same
 * command lines and redis/*.conf files), on loopback ports of the test's own with the test's
 * certificates. The Sentinels find the primary, its replica and each other over TLS alone, and a
 * client given only the Sentinels (as triage is) writes to the primary; the primary killed, the
 * Sentinels promote the replica and the client writes there; the old primary, back, is made a
 * replica. Every compose name becomes `localhost`, which the certificate names, as redis.crt
 * names the compose hosts the Sentinels announce.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createLogger, createRedis, type Redis, readCaFile } from '../../packages/platform/src/index.ts';
import {
  freePort,
  makeTestCertificates,
  type TestCertificates,
  waitFor,
} from '../../packages/testkit/src/index.ts';

const infra = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PATIENCE_MS = 30_000;
const SERVERS = ['redis-1', 'redis-2'];
const SENTINELS = ['redis-sentinel-1', 'redis-sentinel-2', 'redis-sentinel-3'];
const PASSWORD = 'servers-password';
const SENTINEL_PASSWORD = 'sentinels-password';

let certs: TestCertificates;
let dir: string;
const ports = new Map<string, number>();
const processes = new Map<string, ChildProcess>();
let commands: Map<string, string[]>;
let client: Redis | undefined;
let master = '';

/** A compose service's command line, its `${VAR:?…}` given the test's passwords. */
function commandsOf(): Map<string, string[]> {
  const compose = parse(readFileSync(path.join(infra, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, { command?: string[] }>;
  };
  const secret = (arg: string) =>
    arg
      .replace(/\$\{REDIS_PASSWORD:\?[^}]*\}/g, PASSWORD)
      .replace(/\$\{REDIS_SENTINEL_PASSWORD:\?[^}]*\}/g, SENTINEL_PASSWORD);
  return new Map(
    [...SERVERS, ...SENTINELS].map((name) => [name, (compose.services[name]?.command ?? []).map(secret)]),
  );
}

/** The test's copy of a file compose mounts under /etc/redis, with the test's certificate files. */
function configCopy(file: string, into: string, replace: (text: string) => string = (text) => text): string {
  const text = readFileSync(path.join(infra, 'redis', file), 'utf8')
    .replaceAll('/etc/redis/certs/redis.crt', certs.cert)
    .replaceAll('/etc/redis/certs/redis.key', certs.key)
    .replaceAll('/etc/redis/certs/ca.crt', certs.ca);
  const copy = path.join(into, file);
  writeFileSync(copy, replace(text));
  return copy;
}

/** Starts a server or Sentinel as compose does, on its own port, names and files the test's. */
function start(name: string): void {
  const own = path.join(dir, name);
  mkdirSync(own, { recursive: true });
  const port = ports.get(name) as number;
  const args = (commands.get(name) ?? []).slice(1).map((arg, at, all) => {
    if (arg === '/etc/redis/redis.conf') return configCopy('redis.conf', own);
    // The Sentinel's own copy on its volume, made once (redis/sentinel-entrypoint.sh).
    if (arg === '/data/sentinel.conf') return path.join(own, 'sentinel.conf');
    if (SERVERS.includes(arg) || SENTINELS.includes(arg)) return 'localhost';
    // `--replicaof redis-1 6379`: the primary's port here.
    const before = all[at - 1] ?? '';
    if (arg === '6379' && SERVERS.includes(before)) return String(ports.get(before));
    return arg;
  });
  const child = spawn(
    'redis-server',
    [...args, '--tls-port', String(port), '--bind', '127.0.0.1', '-::1', '--daemonize', 'no'],
    { cwd: own, stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  processes.set(name, child);
}

function stop(name: string, signal: NodeJS.Signals): Promise<void> {
  const child = processes.get(name);
  processes.delete(name);
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  return exited;
}

/** A connection to one server or Sentinel over TLS, as the test's client (no Sentinel). */
async function direct(name: string, password: string): Promise<Redis> {
  return createRedis({
    url: `rediss://:${password}@localhost:${ports.get(name)}`,
    logger: createLogger('redis-sentinel-test', 'silent'),
    name: `test-${name}`,
    tls: readCaFile(certs.ca),
  });
}

const sentinelSays = async (name: string, ...args: string[]): Promise<unknown> => {
  const sentinel = await direct(name, SENTINEL_PASSWORD);
  try {
    return await sentinel.call('SENTINEL', ...args);
  } finally {
    sentinel.disconnect();
  }
};

/** What a Sentinel's `SENTINEL MASTER` reply says, field by field. */
async function masterAsSeenBy(name: string): Promise<Record<string, string>> {
  const reply = (await sentinelSays(name, 'MASTER', master)) as string[];
  return Object.fromEntries(
    reply.flatMap((value, at) => (at % 2 === 0 ? [[value, reply[at + 1] ?? '']] : [])),
  );
}

beforeAll(async () => {
  certs = makeTestCertificates(['DNS:localhost']);
  dir = mkdtempSync(path.join(tmpdir(), 'telecare-sentinel-'));
  commands = commandsOf();
  for (const name of [...SERVERS, ...SENTINELS]) ports.set(name, await freePort());
  const primaryPort = ports.get('redis-1') as number;
  for (const name of SENTINELS) {
    const own = path.join(dir, name);
    mkdirSync(own, { recursive: true });
    // The file a Sentinel starts from, its primary the test's, quicker to find it down and try again.
    const copy = configCopy('sentinel.conf', own, (text) =>
      text
        .replace(/^(sentinel monitor \S+) redis-1 6379 /m, `$1 localhost ${primaryPort} `)
        .replace(/^(sentinel down-after-milliseconds \S+) \d+$/m, '$1 1000')
        // A failover that stalls (votes split under load) is tried again after twice this.
        .replace(/^(sentinel failover-timeout \S+) \d+$/m, '$1 5000'),
    );
    master = /^sentinel monitor (\S+)/m.exec(readFileSync(copy, 'utf8'))?.[1] ?? '';
  }
  for (const name of [...SERVERS, ...SENTINELS]) start(name);
}, PATIENCE_MS);

afterAll(async () => {
  client?.disconnect();
  await Promise.all([...processes.keys()].map((name) => stop(name, 'SIGKILL')));
  if (dir) rmSync(dir, { recursive: true, force: true });
  certs?.remove();
});

describe("compose.yaml's Redis under Sentinel", () => {
  it(
    'has every Sentinel see the primary, its replica and the two other Sentinels, over TLS only',
    async () => {
      expect(master).not.toBe('');
      for (const name of SENTINELS)
        await waitFor(
          async () => {
            const seen = await masterAsSeenBy(name);
            return (
              seen.port === String(ports.get('redis-1')) &&
              seen['num-slaves'] === '1' &&
              seen['num-other-sentinels'] === '2' &&
              seen.flags === 'master'
            );
          },
          {
            timeoutMs: PATIENCE_MS,
            intervalMs: 250,
            what: `${name} to see the primary, the replica and the others`,
          },
        );
      // The replica copies the primary (over TLS: the servers take nothing else).
      const replica = await direct('redis-2', PASSWORD);
      try {
        await waitFor(async () => (await replica.info('replication')).includes('master_link_status:up'), {
          timeoutMs: PATIENCE_MS,
          what: 'the replica to copy the primary',
        });
      } finally {
        replica.disconnect();
      }
    },
    2 * PATIENCE_MS,
  );

  it(
    'fails over to the replica when the primary dies, and the client given the Sentinels follows',
    async () => {
      client = await createRedis({
        url: `rediss://:${PASSWORD}@localhost:${ports.get('redis-1')}`,
        sentinel: {
          sentinels: SENTINELS.map((name) => ({ host: 'localhost', port: ports.get(name) as number })),
          master,
          password: SENTINEL_PASSWORD,
        },
        logger: createLogger('redis-sentinel-test', 'silent'),
        name: 'test-client',
        tls: readCaFile(certs.ca),
      });
      await client.set('before', '1');
      expect(await client.call('ROLE').then((role) => (role as string[])[0])).toBe('master');

      await stop('redis-1', 'SIGKILL');
      await waitFor(
        async () => (await masterAsSeenBy('redis-sentinel-1')).port === String(ports.get('redis-2')),
        {
          timeoutMs: PATIENCE_MS,
          intervalMs: 250,
          what: 'the Sentinels to promote the replica',
        },
      );
      const taken = await waitFor(async () => (await client?.set('after', '1')) === 'OK', {
        timeoutMs: PATIENCE_MS,
        intervalMs: 250,
        what: 'the client to write to the promoted replica',
      });
      expect(taken).toBe(true);
      const promoted = await direct('redis-2', PASSWORD);
      try {
        expect(await promoted.get('after')).toBe('1');
      } finally {
        promoted.disconnect();
      }

      // The old primary, started again as compose does (no replicaof), is made the new one's replica.
      start('redis-1');
      const old = await waitFor(async () => direct('redis-1', PASSWORD), { timeoutMs: PATIENCE_MS });
      try {
        await waitFor(async () => ((await old.call('ROLE')) as string[])[0] === 'slave', {
          timeoutMs: PATIENCE_MS,
          intervalMs: 250,
          what: 'the old primary to be made a replica',
        });
      } finally {
        old.disconnect();
      }
    },
    3 * PATIENCE_MS,
  );
});

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  listening,
  makeTestCertificates,
  OwnServer,
  servers,
  type TestCertificates,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  commonEnv,
  connectMqtt,
  connectNats,
  createLogger,
  createPgClient,
  createPool,
  createRedis,
  loadConfig,
  migrate,
  type Pool,
  redisTarget,
} from '../src/index.ts';

/**
 * Every client reaches its server over TLS, verified against the deployment's own CA
 * (TELECARE_TLS_CA, or libpq's `sslrootcert`), the server's name checked: servers of the test's own
 * that take TLS only, with a certificate for 127.0.0.1 from a CA made here. A certificate from
 * another CA, or for another name (`localhost` reaches the same server but is not in its
 * certificate), is refused, and a TLS URL never falls back to plaintext.
 */
const logger = createLogger('tls-test', 'silent');
const migrations = fileURLToPath(new URL('./migrations', import.meta.url));
let certs: TestCertificates;
/** A certificate for `localhost` alone, from a CA of its own: nats.js checks names, not addresses. */
let named: TestCertificates;
const own: Partial<Record<'nats' | 'namedNats' | 'redis' | 'mosquitto' | 'postgres', OwnServer>> = {};
let sentinel: ChildProcess | undefined;
let sentinelDir: string | undefined;
let sentinelPort = 0;

const configOf = (env: Record<string, string>) => loadConfig('tls-test', commonEnv, env);
/** The CA setting as a service reads it. */
const ca = (file = certs.ca) => configOf({ TELECARE_TLS_CA: file }).TELECARE_TLS_CA;

const server = (name: keyof typeof own): OwnServer => own[name] as OwnServer;
const portOf = (name: keyof typeof own): number => server(name).port;

/** The config problem a bad environment gives (throws when there is none). */
function configProblem(env: Record<string, string>): string {
  try {
    configOf(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('the configuration was taken');
}

beforeAll(() => {
  certs = makeTestCertificates(['IP:127.0.0.1']);
  named = makeTestCertificates(['DNS:localhost']);
  const tls = { cert: certs.cert, key: certs.key, ca: certs.ca };
  return (async () => {
    own.namedNats = await OwnServer.start('nats', await freePort(), {
      tls: { cert: named.cert, key: named.key, ca: named.ca },
    });
    for (const name of ['nats', 'redis', 'mosquitto', 'postgres'] as const)
      own[name] = await OwnServer.start(name, await freePort(), { tls });
    // A Sentinel of the test's own that takes TLS only, and reaches the primary over TLS.
    sentinelDir = mkdtempSync(path.join(tmpdir(), 'telecare-tls-sentinel-'));
    sentinelPort = await freePort();
    const conf = path.join(sentinelDir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        'bind 127.0.0.1',
        'port 0',
        `tls-port ${sentinelPort}`,
        `tls-cert-file ${certs.cert}`,
        `tls-key-file ${certs.key}`,
        `tls-ca-cert-file ${certs.ca}`,
        'tls-auth-clients no',
        'tls-replication yes',
        `dir ${sentinelDir}`,
        `sentinel monitor tls-test 127.0.0.1 ${portOf('redis')} 1`,
        '',
      ].join('\n'),
    );
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await waitFor(() => listening(sentinelPort), { what: 'the Sentinel to listen', timeoutMs: 15_000 });
  })();
}, 60_000);

afterAll(() => {
  sentinel?.kill('SIGKILL');
  if (sentinelDir) rmSync(sentinelDir, { recursive: true, force: true });
  for (const one of Object.values(own)) one?.destroy();
  certs?.remove();
  named?.remove();
});

describe('TLS settings are checked at start-up, the setting named', () => {
  it('TELECARE_TLS_CA: a file that is missing, or not a PEM certificate', () => {
    expect(configProblem({ TELECARE_TLS_CA: path.join(tmpdir(), 'no-such-ca.crt') })).toMatch(
      /TELECARE_TLS_CA: cannot read/,
    );
    expect(configProblem({ TELECARE_TLS_CA: certs.key })).toMatch(/TELECARE_TLS_CA: .*PEM certificate/);
  });

  it('DATABASE_URL: an sslmode that would fall back to plaintext or skip verification, a CA file missing', () => {
    for (const mode of ['prefer', 'require', 'allow', 'verify-ca', 'no-verify'])
      expect(configProblem({ DATABASE_URL: `postgresql://u@db:5432/x?sslmode=${mode}` })).toMatch(
        new RegExp(`DATABASE_URL: sslmode=${mode} `),
      );
    expect(configProblem({ DATABASE_URL: 'postgresql://u@db/x?ssl=true' })).toMatch(
      /DATABASE_URL: .*sslmode/,
    );
    expect(
      configProblem({ DATABASE_URL: 'postgresql://u@db/x?sslmode=verify-full&sslrootcert=/no/such/ca.crt' }),
    ).toMatch(/DATABASE_URL: sslrootcert .*cannot read/);
    expect(
      configProblem({
        DATABASE_URL: `postgresql://u@db/x?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.key)}`,
      }),
    ).toMatch(/DATABASE_URL: sslrootcert .*PEM certificate/);
  });

  it('NATS_URL: servers of one list either all over TLS or none', () => {
    expect(configProblem({ NATS_URL: 'tls://n1:4222,nats://n2:4222' })).toMatch(/NATS_URL: .*tls:/);
  });
});

describe('NATS over TLS', () => {
  it('connects with the CA and carries a request and its reply', async () => {
    const url = `tls://localhost:${portOf('namedNats')}`;
    const nc = await connectNats({ url, name: 'tls-test', logger, tls: ca(named.ca) });
    try {
      const sub = nc.subscribe('tls.echo', { callback: (_err, msg) => void msg.respond(msg.data) });
      const reply = await nc.request('tls.echo', 'hello', { timeout: 5_000 });
      expect(reply.string()).toBe('hello');
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const url = `tls://localhost:${portOf('namedNats')}`;
    await expect(connectNats({ url, name: 'tls-test', logger, tls: ca(named.otherCa) })).rejects.toThrow(
      /certificate/,
    );
  });

  it('refuses a server whose certificate does not name the host it was reached by', async () => {
    await expect(
      connectNats({ url: `tls://localhost:${portOf('nats')}`, name: 'tls-test', logger, tls: ca() }),
    ).rejects.toThrow(/localhost/);
  });

  it('a tls:// URL never connects in plaintext to a server that offers no TLS', async () => {
    const plain = new URL(servers.natsUrl);
    await expect(
      connectNats({ url: `tls://localhost:${plain.port}`, name: 'tls-test', logger, tls: ca(named.ca) }),
    ).rejects.toThrow(/tls/);
  });

  it('refuses a tls:// server named by an IP address, whose name nats.js would not check', async () => {
    expect(configProblem({ NATS_URL: `tls://127.0.0.1:${portOf('nats')}` })).toMatch(/NATS_URL: .*DNS name/);
    await expect(
      connectNats({ url: `tls://127.0.0.1:${portOf('nats')}`, name: 'tls-test', logger, tls: ca() }),
    ).rejects.toThrow(/DNS name/);
  });
});

describe('Redis over TLS', () => {
  const url = () => `rediss://127.0.0.1:${portOf('redis')}`;

  it('connects with the CA and writes and reads a key', async () => {
    const redis = await createRedis({ url: url(), logger, name: 'tls-test', tls: ca() });
    try {
      await redis.set('tls-test:key', 'value');
      expect(await redis.get('tls-test:key')).toBe('value');
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a server whose certificate another CA signed', async () => {
    await expect(
      createRedis({ url: url(), logger, name: 'tls-test', tls: ca(certs.otherCa), connectTimeoutMs: 3_000 }),
    ).rejects.toThrow(/certificate/);
  });

  it('refuses a server whose certificate does not name the host it was reached by', async () => {
    await expect(
      createRedis({
        url: `rediss://localhost:${portOf('redis')}`,
        logger,
        name: 'tls-test',
        tls: ca(),
        connectTimeoutMs: 3_000,
      }),
    ).rejects.toThrow(/localhost/);
  });

  it('asks Sentinels that take TLS only for the primary, and reaches it over TLS', async () => {
    const config = configOf({
      REDIS_URL: 'rediss://127.0.0.1',
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_MASTER: 'tls-test',
      TELECARE_TLS_CA: certs.ca,
    });
    const redis = await createRedis({
      ...redisTarget(config),
      logger,
      name: 'tls-test',
      tls: config.TELECARE_TLS_CA,
      connectTimeoutMs: 5_000,
    });
    try {
      await redis.set('tls-test:sentinel', 'value');
      expect(await redis.get('tls-test:sentinel')).toBe('value');
    } finally {
      redis.disconnect();
    }
  });

  it('refuses Sentinels whose certificate another CA signed', async () => {
    await expect(
      createRedis({
        url: 'rediss://127.0.0.1',
        sentinel: { sentinels: [{ host: '127.0.0.1', port: sentinelPort }], master: 'tls-test' },
        logger,
        name: 'tls-test',
        tls: ca(certs.otherCa),
        connectTimeoutMs: 3_000,
      }),
    ).rejects.toThrow();
  });
});

describe('MQTT over TLS', () => {
  const url = () => `mqtts://127.0.0.1:${portOf('mosquitto')}`;

  it('connects with the CA and receives what it published', async () => {
    const client = await connectMqtt({ url: url(), clientId: 'tls-test', logger, tls: ca() });
    try {
      await client.subscribeAsync('tls-test/echo', { qos: 1 });
      const received = new Promise<string>((resolve) =>
        client.once('message', (_topic, payload) => resolve(payload.toString())),
      );
      await client.publishAsync('tls-test/echo', 'hello', { qos: 1 });
      expect(await received).toBe('hello');
    } finally {
      await client.endAsync();
    }
  });

  it('refuses a server whose certificate another CA signed', async () => {
    await expect(
      connectMqtt({ url: url(), clientId: 'tls-test', logger, tls: ca(certs.otherCa) }),
    ).rejects.toThrow(/certificate/);
  });

  it('refuses a server whose certificate does not name the host it was reached by', async () => {
    await expect(
      connectMqtt({
        url: `mqtts://localhost:${portOf('mosquitto')}`,
        clientId: 'tls-test',
        logger,
        tls: ca(),
      }),
    ).rejects.toThrow(/localhost/);
  });
});

describe('PostgreSQL over TLS', () => {
  const pools: Pool[] = [];
  const pool = (url: string, tls = ca()): Pool => {
    const made = createPool({ url, logger, name: 'tls-test', max: 2, tls });
    pools.push(made);
    return made;
  };
  afterAll(() => Promise.all(pools.map((one) => one.end())));

  /** Whether the statement's connection is encrypted, and on which server it ran. */
  const where = async (db: Pick<Pool, 'query'>) => {
    const { rows } = await db.query<{ ssl: boolean; port: number }>(
      'select ssl, inet_server_port() as port from pg_stat_ssl where pid = pg_backend_pid()',
    );
    return rows[0];
  };
  const tlsUrl = (host = `127.0.0.1:${portOf('postgres')}`, query = 'sslmode=verify-full') =>
    `postgresql://postgres@${host}/test?${query}`;

  it('connects with sslrootcert in DATABASE_URL (libpq’s own setting)', async () => {
    expect(await where(pool(server('postgres').url, undefined))).toEqual({
      ssl: true,
      port: portOf('postgres'),
    });
  });

  it('connects with TELECARE_TLS_CA where DATABASE_URL names no sslrootcert', async () => {
    expect(await where(pool(tlsUrl()))).toEqual({ ssl: true, port: portOf('postgres') });
  });

  it('refuses a server whose certificate another CA signed', async () => {
    await expect(pool(tlsUrl(), ca(certs.otherCa)).query('select 1')).rejects.toThrow(/certificate/);
  });

  it('refuses a server whose certificate does not name the host it was reached by', async () => {
    await expect(pool(tlsUrl(`localhost:${portOf('postgres')}`)).query('select 1')).rejects.toThrow(
      /localhost/,
    );
  });

  it('several hosts: sslmode and the CA hold for each, a host without TLS passed over', async () => {
    const plain = new URL(servers.databaseUrl);
    const hosts = `${plain.host},127.0.0.1:${portOf('postgres')}`;
    const rootCert = `sslrootcert=${encodeURIComponent(certs.ca)}`;
    for (const attrs of ['any', 'read-write']) {
      const query = `sslmode=verify-full&target_session_attrs=${attrs}`;
      // libpq's own sslrootcert, given in the URL, is carried to each host.
      const own = pool(tlsUrl(hosts, `${query}&${rootCert}`), undefined);
      expect(await where(own)).toEqual({ ssl: true, port: portOf('postgres') });
      expect(await where(pool(tlsUrl(hosts, query)))).toEqual({ ssl: true, port: portOf('postgres') });
    }
    // With the wrong CA no host is taken: neither in plaintext nor unverified.
    await expect(pool(tlsUrl(hosts), ca(certs.otherCa)).query('select 1')).rejects.toThrow(/certificate/);
    // A client of its own (a migration's) follows the same hosts.
    const client = createPgClient({ url: tlsUrl(hosts), name: 'tls-test', logger, tls: ca() });
    await client.connect();
    try {
      expect(await where(client)).toEqual({ ssl: true, port: portOf('postgres') });
    } finally {
      await client.end();
    }
    await migrate({ url: tlsUrl(hosts), schema: 'tls_test', dir: migrations, logger, tls: ca() });
  });
});

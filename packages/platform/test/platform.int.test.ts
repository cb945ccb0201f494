import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { names } from '@telecare/contracts';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  commonEnv,
  connectMqtt,
  connectNats,
  createLogger,
  createPool,
  createRedis,
  DEAD_LETTERS_PER_REASON,
  DEFAULT_JETSTREAM_MAX_BYTES,
  DiscardPolicy,
  ensureStreams,
  jetstream,
  jetstreamManager,
  loadConfig,
  migrate,
  migrationLockOf,
  port,
  publishDeadLetter,
  sleep,
  streamBytes,
} from '../src/index.ts';

const ns = uniqueNamespace('platform');
const n = names(ns);
const logger = createLogger('platform-test', 'silent');

afterAll(() => cleanupNamespace(ns));

describe('loadConfig', () => {
  it('lists every problem by variable name', () => {
    const shape = { ...commonEnv, HELPLINE_PORT: port(7010), EXTRA: z.string() };
    try {
      loadConfig('helpline', shape, {
        NATS_URL: 'http://x',
        HELPLINE_PORT: 'abc',
        TELECARE_NAMESPACE: 'Bad',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as ConfigError).message;
      for (const name of ['NATS_URL', 'HELPLINE_PORT', 'TELECARE_NAMESPACE', 'EXTRA'])
        expect(message).toContain(name);
      expect((err as ConfigError).problems).toHaveLength(4);
    }
  });

  it('applies defaults', () => {
    const config = loadConfig('x', commonEnv, {});
    expect(config.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(config.TELECARE_NAMESPACE).toBe('telecare');
  });
});

describe('connections against the real servers', () => {
  it('migrates a schema with node-pg-migrate, twice without harm', async () => {
    const dir = fileURLToPath(new URL('./migrations', import.meta.url));
    const schema = n.schema('registry');
    await migrate({ url: servers.databaseUrl, schema, dir, logger });
    await migrate({ url: servers.databaseUrl, schema, dir, logger });
    const pool = createPool({ url: servers.databaseUrl, logger, name: 'test' });
    try {
      await pool.query(`insert into "${schema}".probe (id) values ('a')`);
      const { rows } = await pool.query(`select count(*)::int as n from "${schema}".pgmigrations`);
      expect(rows[0].n).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('fails requests with the same error classes without async traces', async () => {
    const traced = await connectNats({ url: servers.natsUrl, name: 'test-traced', logger });
    const untraced = await connectNats({
      url: servers.natsUrl,
      name: 'test-untraced',
      logger,
      asyncTraces: false,
    });
    const silent = traced.subscribe(`${ns}.silent`, { callback: () => undefined });
    await traced.flush();
    const failure = (attempt: Promise<unknown>) =>
      attempt.then(
        () => expect.unreachable(),
        (err: unknown) => err,
      );
    try {
      for (const attempt of [
        (nc: typeof traced) => nc.request(`${ns}.silent`, 'x', { timeout: 100 }),
        (nc: typeof traced) => nc.request(`${ns}.nobody`, 'x', { timeout: 1_000 }),
        (nc: typeof traced) => jetstream(nc).publish(`${ns}.no-stream`, 'x', { timeout: 1_000 }),
      ]) {
        const [withTraces, without] = [await failure(attempt(traced)), await failure(attempt(untraced))];
        expect(without).toBeInstanceOf(Error);
        expect((without as Error).constructor).toBe((withTraces as Error).constructor);
        expect((without as Error).message).toBe((withTraces as Error).message);
      }
    } finally {
      silent.unsubscribe();
      await traced.close();
      await untraced.close();
    }
  });

  it('builds no error for an answered request (patches/@nats-io__nats-core)', async () => {
    // The client's own errors module (the instance its requests use): every RequestError it builds
    // is counted. Unpatched, each answered request built one ("cancelled", with a stack) to reject
    // a promise already settled: 10 µs a store in the gateways.
    const require = createRequire(createRequire(import.meta.url).resolve('@nats-io/transport-node'));
    const errors = require(path.join(path.dirname(require.resolve('@nats-io/nats-core')), 'errors.js')) as {
      RequestError: new (message?: string, options?: ErrorOptions) => Error;
    };
    const Original = errors.RequestError;
    let built = 0;
    errors.RequestError = class extends Original {
      constructor(message?: string, options?: ErrorOptions) {
        super(message, options);
        built++;
      }
    };
    const nc = await connectNats({ url: servers.natsUrl, name: 'test-requests', logger, asyncTraces: false });
    const echo = nc.subscribe(`${ns}.echo`, {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    try {
      await nc.flush();
      for (let i = 0; i < 50; i++) {
        expect((await nc.request(`${ns}.echo`, `m${i}`, { timeout: 5_000 })).string()).toBe(`m${i}`);
      }
      expect(built).toBe(0);
      // A failed request still fails with the client's class.
      await expect(nc.request(`${ns}.nobody`, 'x', { timeout: 1_000 })).rejects.toBeInstanceOf(Original);
    } finally {
      errors.RequestError = Original;
      echo.unsubscribe();
      await nc.close();
    }
  });

  it('creates streams idempotently and dead-letters raw bytes', async () => {
    const nc = await connectNats({ url: servers.natsUrl, name: 'test', logger });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm, n, ['events', 'deadletter']);
      await ensureStreams(jsm, n, ['events', 'deadletter']);
      const raw = new Uint8Array([0xff, 0x00, 0x7b]);
      const id = await publishDeadLetter(jetstream(nc), n, {
        service: 'gateway-mqtt',
        reason: 'not-json',
        detail: 'bad',
        origin: 'topic',
        raw,
      });
      const msg = await jsm.streams.getMessage(n.streams.deadletter, {
        last_by_subj: n.subjects.deadletter('gateway-mqtt', 'not-json'),
      });
      const letter = msg?.json<{ id: string; rawBase64: string }>();
      expect(letter?.id).toBe(id);
      expect(Buffer.from(letter?.rawBase64 ?? '', 'base64')).toEqual(Buffer.from(raw));
    } finally {
      await nc.close();
    }
  });

  it('bounds DEADLETTER per refusal and in all, oldest first, and brings an older stream up to that', async () => {
    const nc = await connectNats({ url: servers.natsUrl, name: 'test', logger });
    const own = names(`${ns}dl`);
    try {
      const jsm = await jetstreamManager(nc);
      // A stream made before the bound existed: unbounded.
      await jsm.streams.add({ name: own.streams.deadletter, subjects: [own.subjects.allDeadletters] });
      await ensureStreams(jsm, own, ['deadletter']);
      const { config } = await jsm.streams.info(own.streams.deadletter);
      // Its share of the store JetStream's account does not report here (the default).
      expect(config.max_bytes).toBe(streamBytes(DEFAULT_JETSTREAM_MAX_BYTES).deadletter);
      expect(config.max_msgs_per_subject).toBe(DEAD_LETTERS_PER_REASON);
      expect(config.discard).toBe(DiscardPolicy.Old);
      expect(config.max_age).toBe(0); // what an operator may have chosen is left alone
      // A bound an operator has set is theirs.
      await jsm.streams.update(own.streams.deadletter, { ...config, max_bytes: 1024 * 1024 });
      await ensureStreams(jsm, own, ['deadletter']);
      expect((await jsm.streams.info(own.streams.deadletter)).config.max_bytes).toBe(1024 * 1024);
      await jsm.streams.delete(own.streams.deadletter);
      // Made afresh: bounded from the start, kept for its age.
      await ensureStreams(jsm, own, ['deadletter']);
      const fresh = (await jsm.streams.info(own.streams.deadletter)).config;
      expect(fresh).toMatchObject({
        max_bytes: streamBytes(DEFAULT_JETSTREAM_MAX_BYTES).deadletter,
        discard: DiscardPolicy.Old,
      });
      expect(fresh.max_age).toBeGreaterThan(0);
      await jsm.streams.delete(own.streams.deadletter);
    } finally {
      await nc.close();
    }
  });

  it('connects to redis and mqtt', async () => {
    const redis = await createRedis({ url: servers.redisUrl, logger, name: 'test' });
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
    const mqtt = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-probe`, logger });
    expect(mqtt.connected).toBe(true);
    await mqtt.endAsync();
  });
});

describe('migrate tells what a migration warns of', () => {
  it("logs a migration's RAISE WARNING as a warning, its notices at debug", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'telecare-migrate-'));
    writeFileSync(
      path.join(dir, '001_warns.sql'),
      "-- Up Migration\nDO $$ BEGIN RAISE WARNING 'left as stored: res_probe1'; RAISE NOTICE 'converted 2'; END $$;\n",
    );
    const lines: Array<{ level: number; msg: string; schema?: string }> = [];
    const captured = createLogger('platform-test', 'debug', {
      write: (line: string) => void lines.push(JSON.parse(line)),
    });
    try {
      await migrate({ url: servers.databaseUrl, schema: `${ns}_warns`, dir, logger: captured });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(lines.filter((l) => l.level === 40).map((l) => [l.msg, l.schema])).toEqual([
      ['left as stored: res_probe1', `${ns}_warns`],
    ]);
    expect(lines.some((l) => l.level === 20 && l.msg === 'converted 2')).toBe(true);
  });

  it('warns of nothing while it waits its turn behind another instance migrating', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'telecare-migrate-'));
    writeFileSync(path.join(dir, '001_quiet.sql'), '-- Up Migration\nCREATE TABLE quiet (id int);\n');
    const lines: Array<{ level: number; msg: string }> = [];
    const captured = createLogger('platform-test', 'debug', {
      write: (line: string) => void lines.push(JSON.parse(line)),
    });
    // Another instance of the service is migrating the schema: it holds the schema's lock a while.
    const other = new pg.Client({ connectionString: servers.databaseUrl });
    await other.connect();
    const lock = migrationLockOf(`${ns}_quiet`);
    try {
      await other.query('select pg_advisory_lock($1)', [lock]);
      const release = setTimeout(() => void other.query('select pg_advisory_unlock($1)', [lock]), 400);
      try {
        await migrate({ url: servers.databaseUrl, schema: `${ns}_quiet`, dir, logger: captured });
      } finally {
        clearTimeout(release);
      }
      expect(lines.some((l) => l.msg === 'another migration holds the lock; waiting')).toBe(true);
      expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([]);
    } finally {
      await other.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('migrate under contention', () => {
  it("does not hold one service's start behind another service's long migration", async () => {
    const slow = mkdtempSync(path.join(tmpdir(), 'telecare-migrate-'));
    writeFileSync(
      path.join(slow, '001_slow.sql'),
      '-- Up Migration\nSELECT pg_sleep(4);\nCREATE TABLE slow (id int);\n',
    );
    const quick = fileURLToPath(new URL('./migrations', import.meta.url));
    try {
      const long = migrate({ url: servers.databaseUrl, schema: `${ns}_slow`, dir: slow, logger });
      await sleep(500); // the long one holds its lock
      const started = performance.now();
      await migrate({
        url: servers.databaseUrl,
        schema: `${ns}_quick`,
        dir: quick,
        logger,
        timeoutMs: 10_000,
      });
      expect(performance.now() - started).toBeLessThan(2_500);
      await long;
    } finally {
      rmSync(slow, { recursive: true, force: true });
    }
  });

  it('keeps two instances of one service migrating its schema in turn', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'telecare-migrate-'));
    writeFileSync(
      path.join(dir, '001_once.sql'),
      '-- Up Migration\nSELECT pg_sleep(1);\nCREATE TABLE once (id int);\n',
    );
    try {
      const schema = `${ns}_twice`;
      await Promise.all([1, 2].map(() => migrate({ url: servers.databaseUrl, schema, dir, logger })));
      const pool = createPool({ url: servers.databaseUrl, logger, name: 'test' });
      try {
        const { rows } = await pool.query(`select count(*)::int as n from "${schema}".pgmigrations`);
        expect(rows[0].n).toBe(1);
      } finally {
        await pool.end();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets services that start together migrate their schemas in turn', async () => {
    const dir = fileURLToPath(new URL('./migrations', import.meta.url));
    const schemas = ['a', 'b', 'c', 'd'].map((s) => `${ns}_m${s}`);
    await Promise.all(schemas.map((schema) => migrate({ url: servers.databaseUrl, schema, dir, logger })));
    const pool = createPool({ url: servers.databaseUrl, logger, name: 'test' });
    try {
      for (const schema of schemas) {
        const { rows } = await pool.query(`select count(*)::int as n from "${schema}".pgmigrations`);
        expect(rows[0].n).toBe(1);
      }
    } finally {
      await pool.end();
    }
  });
});

describe('cluster URLs', () => {
  it('accepts a comma-separated NATS cluster and refuses a bad member', () => {
    const ok = loadConfig('x', commonEnv, { NATS_URL: 'nats://a:4222,nats://u:p@b:4222' });
    expect(ok.NATS_URL.split(',')).toHaveLength(2);
    expect(() => loadConfig('x', commonEnv, { NATS_URL: 'nats://a:4222,http://b' })).toThrow(ConfigError);
  });
});

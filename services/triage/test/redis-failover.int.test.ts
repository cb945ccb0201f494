import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { EventType, Names } from '@telecare/contracts';
import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import { cleanupNamespace, FaultProxy, freePort, OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore, startTriage, type TriageHandle } from '../src/index.ts';
import {
  pressToAlert as alertedIn,
  HELPLINE_TOKEN,
  LEASE_RULES,
  residentPublisher,
  T0,
  triageTestbed,
  unackedOn,
} from './support.ts';

// Redis fails over and triage follows the new primary by itself: under Sentinel (REDIS_SENTINELS),
// when the primary dies and when Sentinel demotes it alive; without Sentinel, when the name in
// REDIS_URL moves to the new primary and the old one answers READONLY; and a Redis that restarts
// and loads its dataset is said to be loading, not away. This file starts its own Redis servers and
// a Sentinel.
const PATIENCE_MS = 30_000;
const MASTER = 'telecare-test';

/** A logger at `level` whose lines, parsed, go to `into`. */
const capturing = (into: Array<Record<string, unknown>>, level: string) =>
  createLogger(
    'triage-redis-failover-test',
    level,
    new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) into.push(JSON.parse(line));
        done();
      },
    }),
  );

/** Every line triage logs at warn or above, parsed. */
const lines: Array<Record<string, unknown>> = [];
const logger = capturing(lines, 'warn');

/** A redis-server of the test's own, in the foreground (a Sentinel with `--sentinel`). */
function spawnRedis(args: readonly string[]): ChildProcess {
  const child = spawn('redis-server', [...args], { stdio: 'ignore' });
  child.on('error', () => undefined);
  return child;
}

async function readyz(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function role(redis: Redis): Promise<string | undefined> {
  return /^role:(\w+)/m.exec(await redis.info('replication'))?.[1];
}

/** A triage (one partition, no leases, a ManualClock) on `env`, with the test's NATS clients. */
async function triageOn(label: string, env: Record<string, string>, log = logger) {
  const testbed = triageTestbed(label, 1, log, {
    HELPLINE_TRIAGE_TOKEN: HELPLINE_TOKEN,
    TRIAGE_LEASES: 'false',
    ...env,
  });
  const clients: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager } = await testbed.connect();
  const triage: TriageHandle = await startTriage(testbed.config, {
    logger: log,
    clock: new ManualClock(T0),
    ruleSet: LEASE_RULES,
  });
  const n = (): Names => testbed.n;
  return {
    ...clients,
    triage,
    n,
    /** A press of the resident's: alerted, then taken by its partition lane (its state saved in Redis). */
    async press(residentId: string, publish: (type: EventType) => Promise<number>): Promise<void> {
      await alertedIn(clients.jsm, testbed.n, residentId, publish);
      await waitFor(async () => (await unackedOn(clients.jsm, testbed.n, 0)) === 0, {
        what: `the press of ${residentId} taken, its state saved`,
        timeoutMs: PATIENCE_MS,
      });
    },
    publisher: (residentId: string) => residentPublisher(clients.js, n, residentId, 1),
    /** The events a resident's state has taken, as saved in `redis`. */
    async seen(redis: Redis, residentId: string): Promise<number> {
      const state = await new StateStore(redis, testbed.n.redisPrefix, logger).load(residentId);
      return state?.seen.length ?? 0;
    },
    /**
     * Waits for the resident's state saved in `redis` to have taken `count` events. A save sent as
     * the client leaves a demoted primary is not waited for (Redis away: the event is tried again)
     * and is sent again on the new primary by the client: the count is reached, a moment after the
     * press is acked.
     */
    async seenReach(redis: Redis, residentId: string, count: number): Promise<void> {
      let last = 0;
      await waitFor(
        async () => {
          last = await new StateStore(redis, testbed.n.redisPrefix, logger)
            .load(residentId)
            .then((state) => state?.seen.length ?? 0);
          return last === count || undefined;
        },
        { what: `${residentId}'s state with ${count} events`, timeoutMs: 10_000 },
      ).catch((err: Error) => {
        throw new Error(`${err.message} (it has ${last})`);
      });
    },
    async ready(): Promise<void> {
      await waitFor(async () => (await readyz(triage.url)).status === 200, {
        what: 'triage ready',
        timeoutMs: PATIENCE_MS,
      });
    },
    async close(): Promise<void> {
      await triage.close();
      await clients.nc.close();
      await cleanupNamespace(testbed.ns);
    },
  };
}

describe('triage under Redis Sentinel', () => {
  let primary: OwnServer;
  let replica: OwnServer;
  let sentinel: ChildProcess | undefined;
  let sentinelDir: string;
  let sentinelClient: Redis;
  let primaryClient: Redis;
  let replicaClient: Redis;
  let bed: Awaited<ReturnType<typeof triageOn>> | undefined;

  /** The primary's port, as the Sentinel names it now. */
  const primaryPort = async (): Promise<number> => {
    const [, port] = (await sentinelClient.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER)) as string[];
    return Number(port);
  };

  beforeAll(async () => {
    primary = await OwnServer.start('redis', await freePort());
    replica = await OwnServer.start('redis', await freePort());
    primaryClient = await createRedis({ url: primary.url, logger, name: 'failover-test-primary' });
    replicaClient = await createRedis({ url: replica.url, logger, name: 'failover-test-replica' });
    await replicaClient.replicaof('127.0.0.1', primary.port);
    await waitFor(async () => /master_link_status:up/.test(await replicaClient.info('replication')), {
      what: 'the replica to copy the primary',
      timeoutMs: PATIENCE_MS,
    });
    sentinelDir = mkdtempSync(path.join(tmpdir(), 'telecare-sentinel-'));
    const sentinelPort = await freePort();
    const conf = path.join(sentinelDir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${sentinelDir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 4000`,
        `sentinel parallel-syncs ${MASTER} 1`,
        '',
      ].join('\n'),
    );
    sentinel = spawnRedis([conf, '--sentinel']);
    sentinelClient = await waitFor(
      () => createRedis({ url: `redis://127.0.0.1:${sentinelPort}`, logger, name: 'failover-test-sentinel' }),
      { what: 'the Sentinel to answer', timeoutMs: PATIENCE_MS },
    );
    // The Sentinel must know the replica before it can promote it (it asks the primary's INFO).
    await waitFor(
      async () => ((await sentinelClient.call('SENTINEL', 'REPLICAS', MASTER)) as unknown[]).length === 1,
      { what: 'the Sentinel to know the replica', timeoutMs: PATIENCE_MS },
    );
    // REDIS_URL names no server: only the Sentinels say where Redis is.
    bed = await triageOn('triage-sentinel', {
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      REDIS_SENTINELS: `127.0.0.1:${await freePort()},127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_MASTER: MASTER,
    });
  }, 120_000);

  afterAll(async () => {
    await bed?.close();
    for (const client of [sentinelClient, primaryClient, replicaClient]) client?.disconnect();
    sentinel?.kill('SIGKILL');
    primary?.destroy();
    replica?.destroy();
    if (sentinelDir) rmSync(sentinelDir, { recursive: true, force: true });
  });

  it('follows the replica Sentinel promotes when the primary dies: a press after the failover is saved there, and triage is ready again', async () => {
    const b = bed as NonNullable<typeof bed>;
    const residentId = 'res_sentinel_killed';
    const publish = b.publisher(residentId);
    await b.press(residentId, publish);
    expect(await b.seen(primaryClient, residentId)).toBe(1);
    // Copied to the replica before the primary dies: replication is asynchronous, and what it had not
    // copied would be lost with the primary (rebuilt as after any loss of Redis).
    expect(await primaryClient.call('WAIT', '1', '5000')).toBe(1);

    await primary.kill();
    await waitFor(async () => (await primaryPort()) === replica.port, {
      what: 'the Sentinel to promote the replica',
      timeoutMs: PATIENCE_MS,
    });
    await b.press(residentId, publish);
    await b.seenReach(replicaClient, residentId, 2);
    await b.ready();
    const ready = await readyz(b.triage.url);
    expect(ready.body.checks).toMatchObject({ redis: true, redisWrites: true });
  }, 120_000);

  it('leaves the old primary once Sentinel demotes it, alive, to a replica: its writes go to the new primary', async () => {
    const b = bed as NonNullable<typeof bed>;
    const residentId = 'res_sentinel_demoted';
    const publish = b.publisher(residentId);
    // The old primary comes back, and the Sentinel makes it a replica of the new one.
    primary.start();
    primaryClient.disconnect();
    primaryClient = await createRedis({ url: primary.url, logger, name: 'failover-test-old-primary' });
    await waitFor(
      async () =>
        (await role(primaryClient)) === 'slave' &&
        /master_link_status:up/.test(await primaryClient.info('replication')),
      { what: 'the old primary to copy the new one', timeoutMs: PATIENCE_MS },
    );
    await b.press(residentId, publish);
    expect(await b.seen(replicaClient, residentId)).toBe(1);

    // A failover with both alive: the primary triage writes to is demoted, the old one promoted.
    await waitFor(
      async () => {
        try {
          return (await sentinelClient.call('SENTINEL', 'FAILOVER', MASTER)) === 'OK';
        } catch {
          // The Sentinel takes a failover only once the replica's link is up a while (it says NOGOODSLAVE).
          return false;
        }
      },
      { what: 'the Sentinel to take the failover', timeoutMs: PATIENCE_MS, intervalMs: 500 },
    );
    await waitFor(
      async () => (await primaryPort()) === primary.port && (await role(replicaClient)) === 'slave',
      {
        what: 'the old primary promoted again, the other demoted',
        timeoutMs: PATIENCE_MS,
      },
    );
    await b.press(residentId, publish);
    await b.seenReach(primaryClient, residentId, 2);
    await b.ready();
    expect(((await readyz(b.triage.url)).body.redis as { refuses: unknown }).refuses).toBeNull();
  }, 120_000);
});

describe('triage without Sentinel, when the name in REDIS_URL moves to the new primary', () => {
  let a: OwnServer;
  let b: OwnServer;
  let aClient: Redis;
  let bClient: Redis;
  /** What REDIS_URL names: a proxy in front of the primary, moved as a failover moves a DNS name. */
  let name: FaultProxy;
  let loading: ChildProcess | undefined;
  let bed: Awaited<ReturnType<typeof triageOn>> | undefined;

  beforeAll(async () => {
    a = await OwnServer.start('redis', await freePort());
    b = await OwnServer.start('redis', await freePort());
    aClient = await createRedis({ url: a.url, logger, name: 'moved-test-a' });
    bClient = await createRedis({ url: b.url, logger, name: 'moved-test-b' });
    name = await FaultProxy.start({ port: a.port });
    bed = await triageOn('triage-name-moved', { REDIS_URL: name.url('redis') });
  }, 120_000);

  afterAll(async () => {
    await bed?.close();
    aClient?.disconnect();
    bClient?.disconnect();
    await name?.close();
    loading?.kill('SIGKILL');
    a?.destroy();
    b?.destroy();
  });

  it('reconnects when its primary, demoted, answers READONLY, and writes to the new primary', async () => {
    const t = bed as NonNullable<typeof bed>;
    const residentId = 'res_name_moved';
    const publish = t.publisher(residentId);
    await t.press(residentId, publish);
    expect(await t.seen(aClient, residentId)).toBe(1);

    // B copies A and is promoted; A, demoted in place (its clients stay connected), copies B; the
    // name moves to B.
    await bClient.replicaof('127.0.0.1', a.port);
    await waitFor(async () => /master_link_status:up/.test(await bClient.info('replication')), {
      what: 'B to copy A',
      timeoutMs: PATIENCE_MS,
    });
    await bClient.replicaof('NO', 'ONE');
    await aClient.replicaof('127.0.0.1', b.port);
    name.moveTo({ port: b.port });
    await waitFor(async () => /master_link_status:up/.test(await aClient.info('replication')), {
      what: 'A to copy B',
      timeoutMs: PATIENCE_MS,
    });

    await t.press(residentId, publish);
    await t.seenReach(bClient, residentId, 2);
    await t.ready();
  }, 120_000);

  it('says Redis is loading, not away, while a restarted Redis loads its dataset', async () => {
    const t = bed as NonNullable<typeof bed>;
    // The Redis the name leads to now (B, after the test before).
    const [server, client] = name.target.port === b.port ? [b, bClient] : [a, aClient];
    // Enough keys that loading them, a millisecond each, takes seconds.
    const filler = client.pipeline();
    for (let i = 0; i < 5_000; i++) filler.set(`failover-test:filler:${i}`, 'x'.repeat(100));
    await filler.exec();
    await t.ready();
    await client.save();
    lines.length = 0;

    // It restarts on its data, loading it slowly.
    await server.kill();
    loading = spawnRedis([
      '--bind',
      '127.0.0.1',
      '--port',
      String(server.port),
      '--dir',
      path.join(server.dataDir, 'servers', 'redis'),
      '--key-load-delay',
      '1000',
      '--loading-process-events-interval-bytes',
      '1024',
    ]);
    const said = await waitFor(
      async () => {
        const ready = await readyz(t.triage.url);
        return (ready.body.reasons as Record<string, string> | undefined)?.redis === 'loading' && ready;
      },
      { what: '/readyz to say Redis is loading', timeoutMs: PATIENCE_MS, intervalMs: 100 },
    );
    expect(said.status).toBe(503);
    expect(said.body.checks).toMatchObject({ redis: false, redisWrites: false });
    expect(said.body.redis).toMatchObject({ refuses: 'loading' });
    await waitFor(() => lines.some((line) => /^Redis is loading its dataset/.test(String(line.msg))), {
      what: 'the log to say Redis is loading',
      timeoutMs: 5_000,
    });

    // Loaded: ready again, and a press is saved.
    await t.ready();
    const residentId = 'res_loaded';
    await t.press(residentId, t.publisher(residentId));
    expect(await t.seen(client, residentId)).toBe(1);
    const loadingSaid = lines.filter((line) => /^Redis is loading its dataset/.test(String(line.msg)));
    expect(loadingSaid).toHaveLength(1);
  }, 120_000);
});

describe('triage without Sentinel, when the name in REDIS_URL stays on a demoted primary', () => {
  let a: OwnServer;
  let b: OwnServer;
  let aClient: Redis;
  let bClient: Redis;
  /** Every line this triage logs at info or above, parsed. */
  const said: Array<Record<string, unknown>> = [];
  /** What REDIS_URL names: a proxy in front of A, moved as a failover moves a DNS name. */
  let name: FaultProxy;
  let bed: Awaited<ReturnType<typeof triageOn>> | undefined;

  beforeAll(async () => {
    a = await OwnServer.start('redis', await freePort());
    b = await OwnServer.start('redis', await freePort());
    aClient = await createRedis({ url: a.url, logger, name: 'stays-test-a' });
    bClient = await createRedis({ url: b.url, logger, name: 'stays-test-b' });
    name = await FaultProxy.start({ port: a.port });
    bed = await triageOn('triage-name-stays', { REDIS_URL: name.url('redis') }, capturing(said, 'info'));
  }, 120_000);

  afterAll(async () => {
    await bed?.close();
    await name?.close();
    aClient?.disconnect();
    bClient?.disconnect();
    a?.destroy();
    b?.destroy();
  });

  /** The lines said from `from` on whose message matches `pattern`. */
  const saying = (pattern: RegExp, from = 0) =>
    said.slice(from).filter((line) => pattern.test(String(line.msg)));

  it('says once that the name leads to a replica and writes are refused, not at each reconnect, and once that writes are taken again', async () => {
    const t = bed as NonNullable<typeof bed>;
    const residentId = 'res_name_stays';
    const publish = t.publisher(residentId);
    await t.press(residentId, publish);
    expect(await t.seen(aClient, residentId)).toBe(1);

    // A is demoted in place (B promoted), and the name still leads to A: every write is refused.
    await bClient.replicaof('127.0.0.1', a.port);
    await waitFor(async () => /master_link_status:up/.test(await bClient.info('replication')), {
      what: 'B to copy A',
      timeoutMs: PATIENCE_MS,
    });
    await bClient.replicaof('NO', 'ONE');
    await aClient.replicaof('127.0.0.1', b.port);
    const before = said.length;
    await publish('pendant.pressed');
    await waitFor(() => saying(/leads to a replica/i, before).length > 0, {
      what: 'the log to say the name leads to a replica',
      timeoutMs: PATIENCE_MS,
    });

    // Three reconnects' worth (REDIS_READONLY_RECONNECT_MS apart), with the name on the replica.
    const from = said.length;
    await new Promise((resolve) => setTimeout(resolve, 16_000));
    const repeated = saying(/away|answers again|reconnect|READONLY|replica|refus/i, from);
    expect(repeated.map((line) => line.msg)).toEqual([]);
    const told = saying(/leads to a replica/i, before);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ level: 40 });
    expect(String(told[0]?.msg)).toMatch(/writes are refused/);

    // A is made the primary again: the press waiting is saved there, and that is said once.
    const back = said.length;
    await aClient.replicaof('NO', 'ONE');
    await waitFor(async () => (await t.seen(aClient, residentId)) === 2, {
      what: 'the press saved once A takes writes',
      timeoutMs: PATIENCE_MS,
    });
    await t.ready();
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(saying(/takes writes again|writes taken/i, back)).toHaveLength(1);
    expect(saying(/leads to a primary again: its server was promoted/, back)).toHaveLength(1);
    expect(saying(/away|answers again/i, back)).toEqual([]);
  }, 120_000);

  it('reconnects once the name it stays on leads to a primary, and writes there', async () => {
    const t = bed as NonNullable<typeof bed>;
    const residentId = 'res_name_stays_moved';
    const publish = t.publisher(residentId);
    // A (primary since the test before) is demoted again under B, the name still on A.
    await bClient.replicaof('NO', 'ONE');
    await aClient.replicaof('127.0.0.1', b.port);
    await waitFor(async () => /master_link_status:up/.test(await aClient.info('replication')), {
      what: 'A to copy B',
      timeoutMs: PATIENCE_MS,
    });
    const before = said.length;
    await publish('pendant.pressed');
    await waitFor(() => saying(/leads to a replica/i, before).length > 0, {
      what: 'the log to say the name leads to a replica',
      timeoutMs: PATIENCE_MS,
    });

    // The name moves to B: within a turn of the watch the client reconnects there.
    const moved = said.length;
    name.moveTo({ port: b.port });
    await waitFor(async () => (await t.seen(bClient, residentId)) === 1, {
      what: 'the press saved on B',
      timeoutMs: PATIENCE_MS,
    });
    await t.ready();
    expect(saying(/leads to a primary again: reconnecting/, moved)).toHaveLength(1);
    expect(saying(/leads to a replica/i, before)).toHaveLength(1);
  }, 120_000);
});

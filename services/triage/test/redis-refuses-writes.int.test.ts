import { Writable } from 'node:stream';
import type { EventType } from '@telecare/contracts';
import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  type Redis,
  sleep,
} from '@telecare/platform';
import { freePort, OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { StateStore } from '../src/index.ts';
import {
  pressToAlert as alertedIn,
  eventIndexAt,
  HELPLINE_TOKEN,
  metricValue,
  readAlerts,
  residentPublisher,
  scrape,
  triageOnOwnRedis,
  unackedOn,
} from './support.ts';

// Redis answers, with an error, and takes no writes: out of memory (maxmemory with noeviction),
// loading its data after a failover's resync and then a read-only replica, or its snapshots failing
// (MISCONF). A press still reaches ALERTS within a second; nothing is lost or alerted twice once
// Redis takes writes again; triage does not retry in a loop nor log a stack per event, and says
// what is wrong on /readyz and /metrics. This file starts two Redis servers of its own.
const PARTITIONS = 1;
/** Press to alert: what a press is owed whatever Redis answers. */
const ALARM_MS = 1_000;
const PATIENCE_MS = 30_000;
/** Far longer than Redis takes to take writes again: only its return ends a lane's wait. */
const RETRY_DELAY_MS = 20_000;
/** Once Redis takes writes again, everything held is caught up within this (a probe a second). */
const CATCH_UP_MS = 10_000;
/** How long each outage is watched for retries, CPU and logs. */
const WATCH_MS = 3_000;

/** Every line triage logs at warn or above, parsed. */
const lines: Array<Record<string, unknown>> = [];
const logger = createLogger(
  'triage-redis-refuses-test',
  'warn',
  new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  }),
);

let bed: Awaited<ReturnType<typeof triageOnOwnRedis>> | undefined;
let redisServer: OwnServer;
/** The Redis a failover promotes. */
let other: OwnServer | undefined;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** The test's own clients: of triage's Redis, and of the other. */
let redis: Redis;
let otherRedis: Redis;
let url: string;
const n = () => (bed as NonNullable<typeof bed>).testbed.n;
const unacked = () => unackedOn(jsm, n(), 0);

beforeAll(async () => {
  bed = await triageOnOwnRedis('triage-refuses', logger, { TRIAGE_RETRY_DELAY_MS: String(RETRY_DELAY_MS) });
  ({ redisServer, js, jsm } = bed);
  url = bed.triage.url;
  redis = await createRedis({ url: redisServer.url, logger, name: 'triage-refuses-test' });
  other = await OwnServer.start('redis', await freePort());
  otherRedis = await createRedis({ url: other.url, logger, name: 'triage-refuses-other' });
  // The test's own clients watch one server each: they stay on it when it answers READONLY.
  for (const client of [redis, otherRedis]) client.options.reconnectOnError = null;
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  otherRedis?.disconnect();
  other?.destroy();
  await bed?.close();
});

/** What Redis refuses now: a read of the test's own (loading), or else a write, and how; undefined: neither. */
async function refusal(): Promise<string | undefined> {
  try {
    await redis.get('refuses-test:probe');
    await redis.set('refuses-test:probe', '1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

async function readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The events a resident's state has taken (`seen`), as triage saved it. */
async function seenBy(residentId: string): Promise<number> {
  const state = await new StateStore(redis, n().redisPrefix, logger).load(residentId);
  return state?.seen.length ?? 0;
}

interface Outage {
  /** What Redis answers the test's own write with once the outage began (the start of the error). */
  readonly answers: RegExp;
  /** What Redis answers it with after the presses, when it changes (it loaded, and is a replica). */
  readonly becomes?: RegExp;
  /** The reasons /readyz and /metrics may give (one, or one after another). */
  readonly reasons: readonly string[];
  /** What the log says, each once, readably. */
  readonly logged: readonly RegExp[];
  refuse(): Promise<void>;
  restore(): Promise<void>;
}

async function outage(label: string, how: Outage): Promise<void> {
  const warmId = `res_${label}_warm`;
  /** Each resident's EVENTS sequences, as published. */
  const seqs = new Map<string, number[]>();
  const publisher = (residentId: string) => {
    const publish = residentPublisher(js, n, residentId, PARTITIONS);
    return async (type: EventType): Promise<number> => {
      const seq = await publish(type);
      seqs.set(residentId, [...(seqs.get(residentId) ?? []), seq]);
      return seq;
    };
  };
  const warm = publisher(warmId);
  await warm('pendant.pressed');
  await waitFor(async () => (await unacked()) === 0, {
    what: 'the first press read',
    timeoutMs: PATIENCE_MS,
  });
  const alertsBefore = (await readAlerts(jsm, n())).length;

  // From before the refusal: triage's probe may notice it (and say so, once) before the test does.
  lines.length = 0;
  await how.refuse();
  // Taking writes again for the next test, whatever this one did.
  onTestFinished(() => how.restore().catch(() => undefined));
  await waitFor(async () => how.answers.test((await refusal()) ?? ''), {
    what: 'Redis to refuse writes',
    timeoutMs: PATIENCE_MS,
  });
  const retriesBefore = metricValue(await scrape(url), /^triage_retries_total\{dependency="redis"\}/);
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();

  const took: Record<string, number> = {};
  took.warm = await alertedIn(jsm, n(), warmId, warm);
  const coldId = `res_${label}_cold`;
  const cold = publisher(coldId);
  took.cold = await alertedIn(jsm, n(), coldId, cold);
  took.warmAgain = await alertedIn(jsm, n(), warmId, warm);
  for (const [which, ms] of Object.entries(took)) expect(ms, which).toBeLessThan(ALARM_MS);
  const becomes = how.becomes;
  if (becomes)
    await waitFor(async () => becomes.test((await refusal()) ?? ''), {
      what: 'Redis to answer otherwise',
      timeoutMs: PATIENCE_MS,
    });
  // Triage finds the change with its next probe (a second).
  const last = how.reasons.at(-1);
  await waitFor(
    async () => ((await readyz()).body.redis as { refuses?: string } | undefined)?.refuses === last,
    {
      what: `/readyz to say ${last}`,
      timeoutMs: 5_000,
    },
  );

  // Readiness and the metrics say what is wrong, in words an operator can act on.
  await waitFor(async () => (await readyz()).status === 503, {
    what: '/readyz to say not ready',
    timeoutMs: 5_000,
  });
  const ready = await readyz();
  expect(ready.body.checks).toMatchObject({ redisWrites: false });
  expect(how.reasons).toContain((ready.body.redis as { refuses?: string } | undefined)?.refuses);
  const page = await scrape(url);
  const refusing = how.reasons.map((reason) =>
    metricValue(page, new RegExp(`^triage_redis_refusing\\{reason="${reason}"`)),
  );
  expect(refusing.reduce((sum, value) => sum + value)).toBe(1);

  // Watched a while: no loop of retries, no CPU burnt, the log says it once.
  const elapsed = Math.max(0, WATCH_MS - (performance.now() - wallBefore));
  await sleep(elapsed);
  const wallMs = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const retries =
    metricValue(await scrape(url), /^triage_retries_total\{dependency="redis"\}/) - retriesBefore;
  // Two residents' events wait in the partition lane, each tried again once Redis answers, not before.
  expect(retries).toBeLessThanOrEqual(4);
  expect((cpu.user + cpu.system) / 1_000 / wallMs).toBeLessThan(0.5);
  for (const logged of how.logged) {
    const said = lines.filter((line) => logged.test(String(line.msg)));
    expect(said, JSON.stringify(lines.map((line) => line.msg))).toHaveLength(1);
  }
  const stacks = lines.filter((line) => JSON.stringify(line).includes('    at '));
  expect(stacks.length, JSON.stringify(stacks.map((line) => line.msg))).toBeLessThanOrEqual(2);

  const caughtUpFrom = performance.now();
  await how.restore();
  await waitFor(async () => (await refusal()) === undefined, {
    what: 'Redis to take writes',
    timeoutMs: PATIENCE_MS,
  });
  await waitFor(async () => (await unacked()) === 0, {
    what: 'every press acked once Redis takes writes',
    timeoutMs: CATCH_UP_MS,
    intervalMs: 100,
  });
  expect(performance.now() - caughtUpFrom).toBeLessThan(CATCH_UP_MS);
  // Each press alerted once, under its one id; each state holds every event its resident sent.
  const ids = (await readAlerts(jsm, n())).slice(alertsBefore).map((stored) => stored.alert.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids).toHaveLength(Object.keys(took).length);
  expect(await seenBy(warmId)).toBe(3);
  expect(await seenBy(coldId)).toBe(1);
  // And each resident's event index holds every one of their events, with no gap.
  for (const [residentId, published] of seqs) {
    const index = await eventIndexAt(url, residentId, HELPLINE_TOKEN);
    expect(index.seqs, residentId).toEqual(expect.arrayContaining(published));
  }
  await waitFor(async () => (await readyz()).status === 200, {
    what: '/readyz ready again',
    timeoutMs: 5_000,
  });
  expect(metricValue(await scrape(url), /^triage_redis_refusing\{/)).toBe(0);
}

describe('triage while Redis answers but refuses writes', () => {
  it('out of memory (maxmemory with noeviction): presses alert within a second, and catch up once it takes writes', async () => {
    await outage('oom', {
      answers: /^OOM /,
      reasons: ['oom'],
      logged: [/^Redis is out of memory \(maxmemory\)/],
      refuse: async () => {
        await redis.config('SET', 'maxmemory-policy', 'noeviction');
        await redis.config('SET', 'maxmemory', '1');
      },
      restore: async () => {
        await redis.config('SET', 'maxmemory', '0');
      },
    });
  }, 120_000);

  it('a failover: loading the new primary’s data, then a read-only replica, until promoted again', async () => {
    await outage('failover', {
      // The presses come while it loads; the watch goes on while it is a replica.
      answers: /^LOADING /,
      becomes: /^READONLY /,
      reasons: ['loading', 'readonly'],
      logged: [/^Redis is loading its dataset/, /^Redis is a read-only replica/],
      refuse: async () => {
        // The other Redis copies this one, and is promoted; this one, demoted, copies it back whole
        // (the new primary's writes since outran its backlog), answering LOADING while it loads.
        // No wait for more replicas before each copy is sent.
        for (const server of [redis, otherRedis]) await server.config('SET', 'repl-diskless-sync-delay', '0');
        await otherRedis.config('SET', 'repl-backlog-size', '16384');
        await otherRedis.replicaof('127.0.0.1', redisServer.port);
        await waitFor(async () => /master_link_status:up/.test(await otherRedis.info('replication')), {
          what: 'the other Redis to copy this one',
          timeoutMs: PATIENCE_MS,
        });
        await otherRedis.replicaof('NO', 'ONE');
        const filler = otherRedis.pipeline();
        for (let i = 0; i < 5_000; i++) filler.set(`refuses-test:filler:${i}`, 'x'.repeat(100));
        await filler.exec();
        // Loading takes seconds (a millisecond a key), answering LOADING meanwhile.
        await redis.config('SET', 'key-load-delay', '1000');
        await redis.config('SET', 'loading-process-events-interval-bytes', '1024');
        await redis.replicaof('127.0.0.1', other?.port ?? 0);
      },
      restore: async () => {
        await redis.replicaof('NO', 'ONE');
      },
    });
  }, 120_000);

  it('snapshots failing (MISCONF): presses alert within a second, and catch up once it takes writes', async () => {
    const pid = redisServer.pid() as number;
    await outage('misconf', {
      answers: /^MISCONF /,
      reasons: ['misconf'],
      logged: [/^Redis cannot save its snapshots/],
      refuse: async () => {
        // A snapshot that dies: its child killed while it writes slowly.
        await redis.config('SET', 'rdb-key-save-delay', '100000');
        await redis.bgsave();
        const child = await waitFor(() => childOf(pid), { what: 'the snapshot child', timeoutMs: 5_000 });
        process.kill(child, 'SIGKILL');
      },
      restore: async () => {
        await redis.config('SET', 'rdb-key-save-delay', '0');
        await redis.bgsave();
      },
    });
  }, 120_000);
});

describe('timers while Redis refuses writes', () => {
  // Last: it moves the clock on.
  it('decides a due timer once while Redis refuses writes, its alert stored, not over and over, and removes it once writes are taken', async () => {
    const residentId = 'res_timer_oom';
    const publish = residentPublisher(js, n, residentId, PARTITIONS);
    await publish('medication.due');
    await waitFor(async () => (await unacked()) === 0, { what: 'the dose read', timeoutMs: PATIENCE_MS });
    const missed = async () =>
      (await readAlerts(jsm, n())).filter(
        (stored) => stored.alert.residentId === residentId && stored.alert.type === 'medication.missed',
      ).length;

    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', '1');
    onTestFinished(() => redis.config('SET', 'maxmemory', '0').then(() => undefined));
    await publish('heartbeat');
    await waitFor(async () => (await readyz()).status === 503, {
      what: 'Redis refusing, known',
      timeoutMs: 5_000,
    });
    const page = await scrape(url);
    const before = {
      deduplicated: metricValue(page, /^triage_alerts_deduplicated_total/),
    };
    // The dose was not taken within its window: the check is due.
    (bed as NonNullable<typeof bed>).clock.advance(11 * 60_000);
    // Decided once meanwhile, its alert stored (an absence check is not held back for the whole
    // refusal), not every round of the lane.
    await waitFor(async () => (await missed()) === 1, {
      what: 'the check decided while Redis refuses writes',
      timeoutMs: CATCH_UP_MS,
    });
    const decided = await scrape(url);
    await sleep(WATCH_MS);
    const after = await scrape(url);
    // Nothing more over the next rounds of the lane: no alert stored again, no timer written again.
    for (const metric of [/^triage_alerts_deduplicated_total/, /^triage_timer_writes_total/])
      expect(metricValue(after, metric) - metricValue(decided, metric)).toBe(0);
    expect(metricValue(after, /^triage_alerts_deduplicated_total/) - before.deduplicated).toBeLessThanOrEqual(
      1,
    );
    expect(await missed()).toBe(1);

    await redis.config('SET', 'maxmemory', '0');
    await waitFor(async () => (await missed()) === 1 && (await unacked()) === 0, {
      what: 'the check decided once Redis takes writes',
      timeoutMs: CATCH_UP_MS,
    });
    await waitFor(
      async () =>
        metricValue(await scrape(url), /^triage_timers_fired_total\{rule="absence.medication"/) === 1,
      {
        what: 'the timer fired and removed',
        timeoutMs: CATCH_UP_MS,
      },
    );
  }, 60_000);
});

/** The pid of a child of `pid` (Redis's snapshot), or undefined when it has none. */
async function childOf(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const first = Number(children.trim().split(/\s+/)[0]);
  return Number.isInteger(first) && first > 0 ? first : undefined;
}

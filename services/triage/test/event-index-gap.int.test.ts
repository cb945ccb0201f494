import type { EventType } from '@telecare/contracts';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, freePort, OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTriage, type TriageHandle } from '../src/index.ts';
import { LEASE_RULES, makeEvent, metricValue, readAlerts, scrape, T0, triageTestbed } from './support.ts';

// The per-resident event index while Redis is down: events that need nothing else of Redis (no
// rule concerns them, the resident's state is held in memory) are acked without it, and the
// resident's index says it has a gap. This file stops and starts a Redis of its own.
const PARTITIONS = 1;
const HELPLINE_TOKEN = 'test-helpline-triage-token-0123456789';
const logger = createLogger('triage-index-gap-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let redisServer: OwnServer;
let triage: TriageHandle | undefined;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Waits that a loaded machine may stretch: each is for a condition, never spent on a quiet one. */
const PATIENCE_MS = 30_000;

const RESIDENT = 'res_gap1';
let count = 0;

async function publish(type: EventType): Promise<number> {
  const event = makeEvent({
    residentId: RESIDENT,
    type,
    deviceEventId: `gap-${++count}`,
    partitions: PARTITIONS,
    serial: `GP-${count}`,
  });
  const ack = await js.publish(n().subjects.event(event.partition, event.type), JSON.stringify(event), {
    msgID: event.id,
  });
  return ack.seq;
}

/** Messages of the partition lane not acked yet (pending or in hand). */
async function unacked(): Promise<number> {
  const info = await jsm.consumers.info(n().streams.events, 'triage-p0');
  return info.num_pending + info.num_ack_pending;
}

async function index(): Promise<Record<string, unknown>> {
  const response = await fetch(`${(triage as TriageHandle).url}/api/residents/${RESIDENT}/event-index`, {
    headers: { authorization: `Bearer ${HELPLINE_TOKEN}` },
  });
  if (!response.ok) throw new Error(`event index: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

let testbed: ReturnType<typeof triageTestbed>;
const n = () => testbed.n;

beforeAll(async () => {
  redisServer = await OwnServer.start('redis', await freePort());
  testbed = triageTestbed('triage-idxgap', PARTITIONS, logger, {
    HELPLINE_TRIAGE_TOKEN: HELPLINE_TOKEN,
    REDIS_URL: redisServer.url,
    TRIAGE_LEASES: 'false',
  });
  ({ nc, js, jsm } = await testbed.connect());
  triage = await startTriage(testbed.config, { logger, clock: new ManualClock(T0), ruleSet: LEASE_RULES });
}, 60_000);

afterAll(async () => {
  await triage?.close();
  await nc?.close();
  redisServer?.destroy();
  await cleanupNamespace(testbed.ns);
});

describe('the event index while Redis is down', () => {
  it('acks the events that need nothing else of Redis, records a gap in the index once Redis is back, and still holds an event whose state must be saved', async () => {
    // A press: the resident's state is saved, and held in memory from now on.
    const pressed = await publish('pendant.pressed');
    await waitFor(async () => (await unacked()) === 0, { what: 'the press read', timeoutMs: PATIENCE_MS });
    expect(await index()).toMatchObject({ seqs: [pressed], gap: null });

    await redisServer.kill();
    // No rule concerns motion: with the state in memory, only the index needed Redis.
    const motions = [await publish('motion'), await publish('motion'), await publish('motion')];
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the motion events acked with Redis down',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    expect(
      metricValue(await scrape((triage as TriageHandle).url), /^triage_event_index_skipped_total[ {]/),
    ).toBe(motions.length);

    // A flood changes the state: its alert is stored, but the event waits for Redis as before.
    await publish('flood.detected');
    await waitFor(
      async () => (await readAlerts(jsm, n())).some(({ alert }) => alert.type === 'flood.detected'),
      {
        what: 'the flood alert with Redis down',
        timeoutMs: PATIENCE_MS,
      },
    );
    expect(await unacked()).toBe(1);

    redisServer.start();
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the flood acked once Redis is back',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    // The index says where it is not whole: the helpline's timeline then scans.
    await waitFor(async () => (await index().catch(() => undefined))?.gap === motions.at(-1), {
      what: 'the gap recorded in the index',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
  }, 120_000);

  it('does not hold those events longer than a bounded wait when Redis is connected but does not answer', async () => {
    const skipped = async () =>
      metricValue(await scrape((triage as TriageHandle).url), /^triage_event_index_skipped_total[ {]/);
    const before = await skipped();
    const pid = redisServer.pid() as number;
    // Stopped, not killed: the connection stays up and every command waits for an answer.
    process.kill(pid, 'SIGSTOP');
    onTestFinished(() => {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Gone already: nothing to continue.
      }
    });
    const motions = [await publish('motion'), await publish('motion')];
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the motion events acked with Redis not answering',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    expect(await skipped()).toBe(before + motions.length);

    process.kill(pid, 'SIGCONT');
    await waitFor(async () => (await index().catch(() => undefined))?.gap === motions.at(-1), {
      what: 'the new gap recorded in the index',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
  }, 120_000);
});

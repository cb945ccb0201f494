import type { EventType } from '@telecare/contracts';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  lastValues,
  type NatsConnection,
  sleep,
} from '@telecare/platform';
import { type OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TriageHandle } from '../src/index.ts';
import { claimsIn } from '../src/index-gaps.ts';
import {
  eventIndexAt,
  HELPLINE_TOKEN,
  metricValue,
  pauseServer,
  readAlerts,
  residentPublisher,
  scrape,
  triageOnOwnRedis,
  type triageTestbed,
  unackedOn,
} from './support.ts';

// The per-resident event index while Redis is down: events that need nothing else of Redis (no
// rule concerns them, the resident's state is held in memory) are acked without it, and the
// resident's index says it has a gap. This file stops and starts a Redis of its own.
const PARTITIONS = 1;
const logger = createLogger('triage-index-gap-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let redisServer: OwnServer;
let triage: TriageHandle | undefined;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Waits that a loaded machine may stretch: each is for a condition, never spent on a quiet one. */
const PATIENCE_MS = 30_000;

const RESIDENT = 'res_gap1';
/** Publishes an event of the resident's: its EVENTS sequence. */
let publish: (type: EventType) => Promise<number>;

const unacked = () => unackedOn(jsm, n(), 0);
const settled = async (outcome: 'landed' | 'lost') =>
  metricValue(
    await scrape((triage as TriageHandle).url),
    new RegExp(`^triage_event_index_skips_settled_total\\{[^}]*outcome="${outcome}"`),
  );
const index = () => eventIndexAt((triage as TriageHandle).url, RESIDENT, HELPLINE_TOKEN);
const indexOf = (residentId: string) =>
  eventIndexAt((triage as TriageHandle).url, residentId, HELPLINE_TOKEN);
/** A resident's sequences claimed in the gap bucket now, whichever keys hold them. */
const claimedOf = async (residentId: string): Promise<number[]> =>
  claimsIn(await lastValues(nc, n().kv.triageIndexGaps))
    .filter((claim) => claim.residentId === residentId)
    .flatMap((claim) => claim.seqs)
    .sort((a, b) => a - b);
/** Writes to the gap bucket so far (puts and deletes): its stream's last sequence. */
const claimWrites = async (): Promise<number> =>
  (await jsm.streams.info(`KV_${n().kv.triageIndexGaps}`)).state.last_seq;

let testbed: ReturnType<typeof triageTestbed>;
const n = () => testbed.n;

let bed: Awaited<ReturnType<typeof triageOnOwnRedis>> | undefined;

beforeAll(async () => {
  bed = await triageOnOwnRedis('triage-idxgap', logger);
  ({ redisServer, testbed, nc, js, jsm, triage } = bed);
  publish = residentPublisher(js, n, RESIDENT, PARTITIONS);
}, 60_000);

afterAll(async () => {
  await bed?.close();
});

describe('the event index while Redis is down', () => {
  it('acks the events that need nothing else of Redis, claims their gaps before the acks and settles them once Redis is back, and still holds an event whose state must be saved', async () => {
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
    // Each skipped write was claimed in the gap bucket before its event was acked: a gap that
    // outlives this process.
    expect(await claimedOf(RESIDENT)).toEqual(motions);

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
    // Once Redis answers for them the claims are settled: each write landed late (the client sent
    // what it had queued, if Redis came back before the client gave them up) or is a gap of the
    // index. No motion is missing from the index without a gap that says so: the helpline's
    // timeline then scans.
    await waitFor(async () => (await settled('landed')) + (await settled('lost')) === motions.length, {
      what: 'the claims settled',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    const view = await index();
    for (const seq of motions)
      expect((view.seqs as number[]).includes(seq) || (view.gap as number) >= seq, `motion ${seq}`).toBe(
        true,
      );
    expect(await claimedOf(RESIDENT)).toEqual([]);
  }, 120_000);

  it('does not hold those events longer than a bounded wait when Redis is connected but does not answer, and leaves no gap for the writes that land late', async () => {
    const skipped = async () =>
      metricValue(await scrape((triage as TriageHandle).url), /^triage_event_index_skipped_total[ {]/);
    const before = await skipped();
    const landedBefore = await settled('landed');
    const lostBefore = await settled('lost');
    // Whatever the test before left: lost writes' gap, or none.
    const gapBefore = (await index()).gap;
    // Stopped, not killed: the connection stays up and every command waits for an answer.
    const resume = pauseServer(redisServer);
    const motions = [await publish('motion'), await publish('motion')];
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the motion events acked with Redis not answering',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    expect(await skipped()).toBe(before + motions.length);

    resume();
    // The skipped writes land once Redis answers: the index holds them, and its gap is the loss
    // before, not these.
    await waitFor(
      async () => {
        const view = await index().catch(() => undefined);
        const seqs = (view?.seqs ?? []) as number[];
        return view?.gap === gapBefore && motions.every((seq) => seqs.includes(seq));
      },
      { what: 'the late writes in the index, and no gap for them', timeoutMs: PATIENCE_MS, intervalMs: 100 },
    );
    await waitFor(async () => (await settled('landed')) === landedBefore + motions.length, {
      what: 'the claims settled as landed',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    expect(await settled('lost')).toBe(lostBefore);
    expect((await index()).gap).toBe(gapBefore);
  }, 120_000);

  it('claims a burst of skipped writes in a few bucket writes, each before its events are acked, and settles every one once Redis is back', async () => {
    const residents = Array.from({ length: 16 }, (_, i) => `res_gapburst${i}`);
    const publishers = residents.map((residentId) => residentPublisher(js, n, residentId, PARTITIONS));
    // A first event each, with Redis up: their states are held in memory from then on.
    await Promise.all(publishers.map((publishOf) => publishOf('pendant.pressed')));
    await waitFor(async () => (await unacked()) === 0, { what: 'the presses read', timeoutMs: PATIENCE_MS });
    const settledBefore = (await settled('landed')) + (await settled('lost'));
    const writesBefore = await claimWrites();

    await redisServer.kill();
    // Well into the outage: the client tries to reconnect every 2 s from 11 s on.
    await sleep(12_000);
    const bySeq = new Map<number, string>();
    const startedAt = performance.now();
    for (let round = 0; round < 4; round++)
      for (const [i, publishOf] of publishers.entries())
        bySeq.set(await publishOf('motion'), residents[i] as string);
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the burst acked with Redis down',
      timeoutMs: 3 * PATIENCE_MS,
      intervalMs: 50,
    });
    // The lane keeps its pace: its pulls do not wait for its due timers' read to fail (seconds
    // each with Redis down: 64 events took four of them).
    expect(performance.now() - startedAt).toBeLessThan(4_000);
    // Every acked event's gap is claimed: none acked unclaimed.
    const claimed = new Set<number>();
    for (const residentId of residents) for (const seq of await claimedOf(residentId)) claimed.add(seq);
    for (const seq of bySeq.keys()) expect(claimed.has(seq), `motion ${seq} claimed`).toBe(true);
    // A write per partition a short while, not one per event.
    const writes = (await claimWrites()) - writesBefore;
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThanOrEqual(bySeq.size / 4);

    redisServer.start();
    await waitFor(
      async () => (await settled('landed')) + (await settled('lost')) === settledBefore + bySeq.size,
      {
        what: 'the claims of the burst settled',
        timeoutMs: PATIENCE_MS,
        intervalMs: 100,
      },
    );
    for (const residentId of residents) {
      const view = await indexOf(residentId);
      for (const [seq, of] of bySeq)
        if (of === residentId)
          expect((view.seqs as number[]).includes(seq) || (view.gap as number) >= seq, `motion ${seq}`).toBe(
            true,
          );
    }
    await waitFor(async () => (await lastValues(nc, n().kv.triageIndexGaps)).size === 0, {
      what: 'the claims gone from the bucket',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
  }, 240_000);
});

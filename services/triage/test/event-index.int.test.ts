import { EVENT_INDEX_CAP, type EventType, partitionOf } from '@telecare/contracts';
import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import { cleanupNamespace, servers } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_INDEX_TTL_S, EventIndex } from '../src/event-index.ts';
import { consumerName, startTriage, type TriageHandle } from '../src/index.ts';
import { GapClaims } from '../src/index-gaps.ts';
import { drained, makeEvent, publishEvent, T0, triageTestbed } from './support.ts';

// Each resident's newest events by EVENTS stream sequence, written by the partition lanes and read
// by the helpline's token through triage's API. Real NATS and Redis.
const PARTITIONS = 2;
const HELPLINE_TOKEN = 'test-helpline-triage-token-0123456789';
const logger = createLogger('triage-event-index-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const { ns, n, config, connect } = triageTestbed('triage-evindex', PARTITIONS, logger, {
  HELPLINE_TRIAGE_TOKEN: HELPLINE_TOKEN,
});

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
let triage: TriageHandle | undefined;

const RESIDENT = 'res_evindex1';
const NEIGHBOUR = (() => {
  let id = 'res_evneighbour0';
  for (let i = 1; partitionOf(id, PARTITIONS) !== partitionOf(RESIDENT, PARTITIONS); i++)
    id = `res_evneighbour${i}`;
  return id;
})();
let count = 0;

/** Publishes the events in order and answers their stream sequences. */
async function publish(residentId: string, types: EventType[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const type of types) {
    const event = makeEvent({ residentId, type, deviceEventId: `e-${++count}`, partitions: PARTITIONS });
    const ack = await js.publish(n.subjects.event(event.partition, event.type), JSON.stringify(event), {
      msgID: event.id,
    });
    seqs.push(ack.seq);
  }
  return seqs;
}

async function index(residentId: string, token = HELPLINE_TOKEN) {
  const triageUrl = (triage as TriageHandle).url;
  const response = await fetch(`${triageUrl}/api/residents/${residentId}/event-index`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const start = async () => {
  triage = await startTriage(config, { logger, clock: new ManualClock(T0) });
};

beforeAll(async () => {
  ({ nc, js, jsm } = await connect());
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'event-index-test' });
  await start();
});

afterAll(async () => {
  await triage?.close();
  await nc?.close();
  redis?.disconnect();
  await cleanupNamespace(ns);
});

describe("triage's per-resident event index", () => {
  it("keeps each of the resident's events once, in stream order: an alarm read by two lanes, a resend stored again", async () => {
    const first = await publish(RESIDENT, ['heartbeat', 'motion']);
    await publish(NEIGHBOUR, ['heartbeat']);
    const press = await publish(RESIDENT, ['pendant.pressed']);
    // The same press stored again under another message id (a resend after the dedup window): a
    // message of its own, indexed by its sequence.
    const again = makeEvent({ residentId: RESIDENT, type: 'heartbeat', deviceEventId: 'e-1', partitions: 2 });
    await publishEvent(js, n, again, `${again.id}-again`);
    const info = await jsm.streams.info(n.streams.events);
    await drained(jsm, n, PARTITIONS);

    const answer = await index(RESIDENT);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      residentId: RESIDENT,
      partition: partitionOf(RESIDENT, PARTITIONS),
      seqs: [...first, ...press, info.state.last_seq],
      since: first[0],
    });
    expect(answer.json.through).toBeGreaterThanOrEqual(info.state.last_seq);
    // Only sequences, with an expiry renewed on every write.
    const key = `${n.redisPrefix}triage:events:${RESIDENT}`;
    expect(await redis.lrange(key, 0, -1)).toEqual((answer.json.seqs as number[]).map(String));
    expect(await redis.ttl(key)).toBeGreaterThan(24 * 3600);
  });

  it('a replay of the partition (its consumer read again from the start) adds nothing twice', async () => {
    const before = (await index(RESIDENT)).json.seqs;
    await triage?.close();
    triage = undefined;
    await jsm.consumers.delete(n.streams.events, consumerName(partitionOf(RESIDENT, PARTITIONS)));
    await start();
    await drained(jsm, n, PARTITIONS);
    expect((await index(RESIDENT)).json.seqs).toEqual(before);
  });

  it(`keeps the newest ${EVENT_INDEX_CAP} of a busy resident`, async () => {
    const types = Array.from({ length: EVENT_INDEX_CAP + 50 }, () => 'motion' as const);
    const seqs = await Promise.all(
      types.map((type) => {
        const event = makeEvent({
          residentId: NEIGHBOUR,
          type,
          deviceEventId: `b-${++count}`,
          partitions: 2,
        });
        return js
          .publish(n.subjects.event(event.partition, type), JSON.stringify(event), { msgID: event.id })
          .then((ack) => ack.seq);
      }),
    );
    await drained(jsm, n, PARTITIONS);
    const answer = await index(NEIGHBOUR);
    expect(answer.json.seqs).toEqual(seqs.sort((a, b) => a - b).slice(-EVENT_INDEX_CAP));
  });

  it("admits the helpline's token to the index only, and the admin token; no one else", async () => {
    expect((await index(RESIDENT, config.TELECARE_ADMIN_TOKEN as string)).status).toBe(200);
    expect((await index(RESIDENT, 'not-a-token-of-triage-0123456789')).status).toBe(401);
    const rules = await fetch(`${(triage as TriageHandle).url}/api/rules`, {
      headers: { authorization: `Bearer ${HELPLINE_TOKEN}` },
    });
    expect(rules.status).toBe(403);
  });

  it('puts an event handed back after later ones of its resident in its place, once; an older one than a full list keeps is left out', async () => {
    const claims = await GapClaims.open({ nc, names: n, ttlS: EVENT_INDEX_TTL_S });
    const index = new EventIndex(redis, n, { claims });
    const id = 'res_evorder1';
    for (const seq of [10, 12, 15, 11, 12, 9, 15]) await index.append(id, seq, 0);
    expect((await index.read(id, 0)).seqs).toEqual([9, 10, 11, 12, 15]);
    // A full list with a gap: the late one goes in its place and the oldest goes.
    const full = Array.from({ length: EVENT_INDEX_CAP + 1 }, (_, i) => 1_000 + i).filter(
      (seq) => seq !== 1_300,
    );
    for (const seq of full) await index.append('res_evorder2', seq, 1);
    await index.append('res_evorder2', 999, 1);
    expect((await index.read('res_evorder2', 1)).seqs).toEqual(full);
    await index.append('res_evorder2', 1_300, 1);
    expect((await index.read('res_evorder2', 1)).seqs).toEqual(
      [...full.slice(1), 1_300].sort((a, b) => a - b),
    );
  });
});

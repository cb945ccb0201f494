import { names } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  jetstreamManager,
  lastValues,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, openBucket, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_INDEX_TTL_S } from '../src/event-index.ts';
import { GapClaims, gapClaimKey } from '../src/index-gaps.ts';

// The gap claims of two instances in one bucket (real NATS): one claims, the other takes the
// partition over and settles what the first left.
const logger = createLogger('triage-index-gaps-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ns = uniqueNamespace('triage-gapclaims');
const n = names(ns);
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-gapclaims-test', logger });
});

afterAll(async () => {
  await nc?.close();
  await cleanupNamespace(ns);
});

const open = () => GapClaims.open({ nc, names: n, ttlS: EVENT_INDEX_TTL_S });
const writes = async () => {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(`KV_${n.kv.triageIndexGaps}`)).state.last_seq;
};
const live = async () => (await lastValues(nc, n.kv.triageIndexGaps)).size;

describe('event index gap claims', () => {
  it('writes the claims of a partition made at once in one write, and another instance that takes the partition over settles and deletes them', async () => {
    const [before, after] = await Promise.all([open(), open()]);
    const from = await writes();
    await Promise.all([
      before.add('res_gapclaims1', 10, 0),
      before.add('res_gapclaims1', 11, 0),
      before.add('res_gapclaims2', 12, 0),
    ]);
    expect((await writes()) - from).toBe(1);
    expect(await after.of('res_gapclaims1', 0)).toEqual([10, 11]);
    expect(await after.of('res_gapclaims2', 0)).toEqual([12]);
    expect(await after.of('res_gapclaims2', 1)).toEqual([]);

    // Another partition's claims are not taken with partition 0.
    await before.add('res_gapclaims3', 13, 1);
    const taken = await after.takeOver((claim) => claim.partition === 0);
    expect(taken.map(({ residentId, seqs }) => ({ residentId, seqs }))).toEqual(
      expect.arrayContaining([
        { residentId: 'res_gapclaims1', seqs: [10, 11] },
        { residentId: 'res_gapclaims2', seqs: [12] },
      ]),
    );
    expect(taken).toHaveLength(2);
    // Settled one resident at a time: the write is deleted once all it held is settled.
    await after.remove('res_gapclaims1', [10, 11]);
    expect(await after.of('res_gapclaims2', 0)).toEqual([12]);
    await after.remove('res_gapclaims2', [12]);
    expect(await after.of('res_gapclaims1', 0)).toEqual([]);
    expect(await after.of('res_gapclaims2', 0)).toEqual([]);
    // The first instance's own claim of partition 1 is settled by it.
    await before.remove('res_gapclaims3', [13]);
    expect(await live()).toBe(0);
  });

  it('keeps only the claims of a write not settled yet: settled ones no longer count, for its writer and for an instance that took it over', async () => {
    const [writer, taker] = await Promise.all([open(), open()]);
    await Promise.all([
      writer.add('res_gapclaims5', 30, 2),
      writer.add('res_gapclaims5', 31, 2),
      writer.add('res_gapclaims6', 32, 2),
      writer.add('res_gapclaims7', 33, 2),
    ]);
    await writer.remove('res_gapclaims5', [30, 31]);
    expect(await taker.of('res_gapclaims5', 2)).toEqual([]);
    expect(await taker.of('res_gapclaims6', 2)).toEqual([32]);
    expect(await taker.of('res_gapclaims7', 2)).toEqual([33]);

    // Taken over with what is left of it; settled there one claim at a time.
    const taken = await taker.takeOver((claim) => claim.partition === 2);
    expect(taken.map(({ residentId, seqs }) => ({ residentId, seqs }))).toEqual(
      expect.arrayContaining([
        { residentId: 'res_gapclaims6', seqs: [32] },
        { residentId: 'res_gapclaims7', seqs: [33] },
      ]),
    );
    await taker.remove('res_gapclaims6', [32]);
    expect(await writer.of('res_gapclaims6', 2)).toEqual([]);
    expect(await writer.of('res_gapclaims7', 2)).toEqual([33]);
    // The writer settles the last one too (it still holds the key): nothing is left, and nothing
    // settled by the other comes back.
    await writer.remove('res_gapclaims7', [33]);
    expect(await taker.of('res_gapclaims6', 2)).toEqual([]);
    expect(await taker.of('res_gapclaims7', 2)).toEqual([]);
    await taker.remove('res_gapclaims7', [33]);
    expect(await live()).toBe(0);
  });

  it('takes over and settles a claim in the layout before, one key a resident', async () => {
    const claims = await open();
    const kv = await openBucket(nc, n.kv.triageIndexGaps);
    await kv.put(
      gapClaimKey('res_gapclaims4'),
      JSON.stringify({ residentId: 'res_gapclaims4', seqs: [20, 21] }),
    );
    expect(await claims.of('res_gapclaims4', 0)).toEqual([20, 21]);
    const taken = await claims.takeOver((claim) => claim.partition === undefined);
    expect(taken).toEqual([{ residentId: 'res_gapclaims4', seqs: [20, 21], partition: undefined }]);
    // A claim settled no longer counts, while the other is kept.
    await claims.remove('res_gapclaims4', [20]);
    expect(await claims.of('res_gapclaims4', 0)).toEqual([21]);
    await claims.remove('res_gapclaims4', [21]);
    expect(await claims.of('res_gapclaims4', 0)).toEqual([]);
    expect(await live()).toBe(0);
  });
});

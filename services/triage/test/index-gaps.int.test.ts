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
    await claims.remove('res_gapclaims4', [20]);
    expect(await claims.of('res_gapclaims4', 0)).toEqual([20, 21]);
    await claims.remove('res_gapclaims4', [21]);
    expect(await claims.of('res_gapclaims4', 0)).toEqual([]);
    expect(await live()).toBe(0);
  });
});

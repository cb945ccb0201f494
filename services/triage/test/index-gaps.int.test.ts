import { names } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_INDEX_TTL_S } from '../src/event-index.ts';
import { GapClaims } from '../src/index-gaps.ts';

// The gap claims of two instances in one bucket (real NATS): each keeps what it last wrote of a
// key, and another instance may have changed the key since.
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

describe('event index gap claims', () => {
  it('withdraws a claim another instance made after settling the key this one last wrote', async () => {
    const open = () => GapClaims.open({ nc, names: n, ttlS: EVENT_INDEX_TTL_S });
    const [before, after] = await Promise.all([open(), open()]);
    const resident = 'res_gapclaims1';
    // Claimed here; the partition moves on, and the instance that took it settles the claim and
    // later claims one of its own; the partition comes back, and its claims are settled here.
    await before.add(resident, 10);
    await after.remove(resident, [10]);
    await after.add(resident, 30);
    expect(await before.of(resident)).toEqual([30]);
    await before.remove(resident, [30]);
    expect(await after.of(resident)).toEqual([]);
  });
});

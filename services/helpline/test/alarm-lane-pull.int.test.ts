import { sleep } from '@telecare/platform';
import { type FaultProxy, pullHeartbeatMs, pullRequestOf, sharedNatsProxy, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerOf } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

/**
 * A pull of the P1 lane lost on its way with the link up (a route that flapped, a pull request the
 * server dropped): the lane hears nothing until it gives up on it. An alarm lane gives up after two
 * of its short heartbeats, not at the pull's expiry.
 */
let h: Awaited<ReturnType<typeof helplineHarness>>;
let proxy: FaultProxy;
/** When a case event naming each alert reached CASES, as the test's own connection heard it. */
const committedAt = new Map<string, number>();

beforeAll(async () => {
  proxy = await sharedNatsProxy();
  h = await helplineHarness('alarmpull');
  h.nc.subscribe(h.names.subjects.allCases, {
    callback: (_err, msg) => {
      const text = msg.string();
      for (const id of text.match(/alt_[A-Za-z0-9_-]+/g) ?? [])
        if (!committedAt.has(id)) committedAt.set(id, performance.now());
    },
  });
  // The helpline reaches NATS through the proxy; the test publishes and listens directly.
  await h.start(undefined, { NATS_URL: proxy.url('nats') });
});

afterAll(async () => {
  await h?.close();
  await proxy?.close();
});

describe('the P1 lane whose pull is lost on its way', () => {
  it('pulls again after two short heartbeats: the press is committed well within the second a lost pull held it', async () => {
    const warm = h.alert({ residentId: 'res_pull_warm' });
    await h.publish(warm);
    await waitFor(() => committedAt.has(warm.id), { what: 'the first press committed' });
    const asked = new Map<number, number>();
    // The best of up to three lost pulls (a loaded machine may hold one alarm up for its own reasons).
    let best = Number.POSITIVE_INFINITY;
    for (let i = 1; i <= 3 && best >= 700; i++) {
      asked.set(1, pullHeartbeatMs(await proxy.dropNextPublish(pullRequestOf(consumerOf(1)))));
      const press = h.alert({ residentId: `res_pull_${i}` });
      const sentAt = performance.now();
      await h.publish(press);
      await waitFor(() => committedAt.has(press.id), { timeoutMs: 10_000, what: 'the press committed' });
      best = Math.min(best, (committedAt.get(press.id) as number) - sentAt);
      await sleep(100);
    }
    // Two heartbeats of the alarm lane (300 ms) and the server's word that it holds no pull, not
    // two of a bulk lane's (1 s).
    expect(best).toBeLessThan(700);
    // Short heartbeats on the alarm lanes only: a lane of records keeps the default.
    asked.set(5, pullHeartbeatMs(await proxy.dropNextPublish(pullRequestOf(consumerOf(5)))));
    expect(asked.get(1)).toBeLessThanOrEqual(150);
    expect(asked.get(5)).toBe(500);
  }, 60_000);
});

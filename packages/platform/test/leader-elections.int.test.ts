import { servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createLogger,
  LeaderElections,
  leaderElectedSubject,
  type NatsConnection,
} from '../src/index.ts';

/**
 * The waits `LeaderElections` ends, on advisories sent as JetStream sends them (a leader-change
 * test of its own, on a cluster, is in each user's tests: the gateways' and triage's).
 */
const ns = uniqueNamespace('elections');
const logger = createLogger('leader-elections-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const STREAM = `${ns}_EVENTS`;
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
});

afterAll(async () => {
  await nc?.close();
});

/** How long a wait took, and what it resolved, while `during` runs beside it. */
async function timed<T>(wait: Promise<T>, during: () => Promise<void> = async () => {}) {
  const started = performance.now();
  const [value] = await Promise.all([wait, during()]);
  return { ms: performance.now() - started, value };
}

describe('LeaderElections', () => {
  it('ends every wait at the advisory of one of its streams, and only theirs', async () => {
    const seen: string[] = [];
    const elections = new LeaderElections(nc, [{ stream: STREAM }, { stream: `${STREAM}_2` }], (raft) =>
      seen.push(raft.stream),
    );
    try {
      await nc.flush();
      const advise = async (stream: string) => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        nc.publish(leaderElectedSubject({ stream }), '{}');
      };
      const waits = [elections.sleep(20_000), elections.sleep(20_000)];
      const both = await timed(Promise.all(waits), () => advise(`${STREAM}_2`));
      expect(both.ms).toBeLessThan(5_000);
      // Told it was an election that ended them.
      expect(both.value).toEqual([true, true]);
      expect(seen).toEqual([`${STREAM}_2`]);
      // Another stream's election (or a consumer's of this one) is not theirs.
      const other = await timed(elections.sleep(1_000), async () => {
        await advise(`${STREAM}_OTHER`);
        nc.publish(leaderElectedSubject({ stream: STREAM, consumer: 'c' }), '{}');
      });
      expect(other.ms).toBeGreaterThanOrEqual(900);
      expect(other.value).toBe(false);
      // A wait begun after an advisory is not ended by it.
      expect((await timed(elections.sleep(300))).ms).toBeGreaterThanOrEqual(250);
    } finally {
      elections.close();
    }
  });

  it('ends a wait when its signal aborts, and waits out its time once closed', async () => {
    const elections = new LeaderElections(nc, [{ stream: STREAM }]);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const aborted = await timed(elections.sleep(20_000, abort.signal));
    expect(aborted.ms).toBeLessThan(5_000);
    expect(aborted.value).toBe(false);
    elections.close();
    await nc.flush();
    const closed = await timed(elections.sleep(500), async () => {
      nc.publish(leaderElectedSubject({ stream: STREAM }), '{}');
    });
    expect(closed.ms).toBeGreaterThanOrEqual(450);
  });
});

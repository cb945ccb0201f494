import { names, partitionOf } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  createRedis,
  ManualClock,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import type { Timer } from '@telecare/rules';
import { cleanupNamespace, FaultProxy, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, TimerStore, type TriageHandle } from '../src/index.ts';
import { LEASE_RULES, T0 } from './support.ts';

/**
 * The start-up that hung after a kill under load (faults run, issue #15): a triage instance
 * starting again rebuilds its timer index from the timer records while the other instance keeps
 * writing them, over a round trip that a loaded machine makes slow. The read of the records
 * chased the writes ("read until nothing is pending") and the start never finished; it must end
 * with what the bucket held when it began.
 */
const ns = uniqueNamespace('startbusy');
const n = names(ns);
const PARTITIONS = 4;
const quiet = createLogger('triage-start-busy-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let nc: NatsConnection;
let redis: Redis;
let proxy: FaultProxy;
let triage: TriageHandle | undefined;

const timer = (id: string, residentId: string, dueAt: number): Timer => ({
  id,
  ruleId: 'absence.test',
  residentId,
  dueAt,
  checkAt: dueAt,
});

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-start-busy-test', logger: quiet });
  redis = await createRedis({ url: servers.redisUrl, logger: quiet, name: 'triage-start-busy-test' });
  proxy = await FaultProxy.start({ port: Number(new URL(servers.natsUrl).port || 4222) });
});

afterAll(async () => {
  await triage?.close();
  await proxy?.close();
  await nc?.close();
  redis?.disconnect();
  await cleanupNamespace(ns);
});

describe('triage start-up while the timer records are being written', () => {
  it('rebuilds the timer index and starts, although the writes never stop', async () => {
    // The other instance: its timer store, writing through NATS directly.
    const other = await TimerStore.open({
      nc,
      names: n,
      redis,
      partitions: PARTITIONS,
      partitionOf: (residentId) => partitionOf(residentId, PARTITIONS),
      logger: quiet,
    });
    await other.apply(
      Array.from({ length: 200 }, (_, i) => ({
        op: 'set' as const,
        timer: timer(`t${i}`, `res_${i}`, T0 + 3_600_000 + i),
      })),
      'res_0',
    );
    await redis.del(...Array.from({ length: PARTITIONS }, (_, p) => other.indexKey(p)));
    let writing = true;
    let written = 0;
    const writes = Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        while (writing) {
          await Promise.all([
            other.apply(
              [{ op: 'set', timer: timer(`busy${w}`, `res_busy${w}`, T0 + 7_200_000 + written) }],
              `res_busy${w}`,
            ),
            new Promise((r) => setTimeout(r, 20)),
          ]);
          written++;
        }
      }),
    );
    // The starting instance reaches NATS over a slow link while it reads the timer records (and
    // only then, so that the rest of its start-up is not slowed).
    const steps = createLogger('triage-start-busy', 'debug', {
      write(line: string) {
        const { step, msg } = JSON.parse(line) as { step?: string; msg?: string };
        if (msg !== 'start-up step') return;
        proxy.set(step === 'rebuilding the timer index' ? { kind: 'delay', ms: 150 } : { kind: 'pass' });
      },
    });
    const config = loadTriageConfig(
      serviceEnv(ns, {
        NATS_URL: proxy.url('nats'),
        TRIAGE_PORT: '0',
        TELECARE_PARTITIONS: String(PARTITIONS),
        LOG_LEVEL: 'debug',
      }),
    );
    try {
      const started = performance.now();
      const outcome = await Promise.race([
        startTriage(config, { logger: steps, clock: new ManualClock(T0), ruleSet: LEASE_RULES }),
        new Promise<'still starting'>((r) => setTimeout(() => r('still starting'), 25_000)),
      ]);
      expect(outcome).not.toBe('still starting');
      triage = outcome as TriageHandle;
      expect(performance.now() - started).toBeLessThan(25_000);
      let indexed = 0;
      for (let p = 0; p < PARTITIONS; p++) indexed += await redis.zcard(other.indexKey(p));
      expect(indexed).toBeGreaterThanOrEqual(200);
    } finally {
      writing = false;
      await writes;
      proxy.set({ kind: 'pass' });
    }
  }, 60_000);
});

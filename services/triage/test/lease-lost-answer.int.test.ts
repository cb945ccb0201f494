import { names } from '@telecare/contracts';
import { connectNats, createBucket, createLogger, type KV, type NatsConnection } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace, waitFor } from '@telecare/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeasedWork, type Ownership, partitionLease, startOwnership } from '../src/leases.ts';
import { createTriageMetrics } from '../src/metrics.ts';

/**
 * A write to the lease bucket that the server stored but whose answer never came back (a reply
 * lost, a server slow past the request timeout): the key then holds this instance's own value,
 * and nobody else can take the lease until it expires.
 */
const ns = uniqueNamespace('leaseanswer');
const n = names(ns);
const PARTITIONS = 2;
/** Far longer than the test waits: a lease that is only expiring would fail it. */
const LEASE_S = 60;
const RENEW_MS = 1_000;
/** Well within the lease time: a few rounds on a loaded machine. */
const WITHIN_MS = 20_000;
const logger = createLogger('triage-lease-answer-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let nc: NatsConnection;
const running: Ownership[] = [];

/** The lanes a lease guards, as started and stopped. */
function recordedWork(): LeasedWork & { running: Set<string> } {
  const running = new Set<string>();
  return {
    running,
    start: (lease) => void running.add(lease),
    stop: async (lease) => void running.delete(lease),
    abandon: async (lease) => void running.delete(lease),
  };
}

/** What the NATS client throws when a request's answer does not come in time. */
const requestTimeout = (): Error => Object.assign(new Error('timeout'), { name: 'TimeoutError' });

/**
 * The real lease bucket, whose first call of `method` fails as the client fails a request whose
 * answer did not come in time: `stored`, the request reached the server and was applied; if not,
 * it was lost on its way.
 */
function failOnce(
  kv: KV,
  method: 'create' | 'delete',
  stored: boolean,
  which: (key: string) => boolean = () => true,
): { kv: KV; failed: string[] } {
  const failed: string[] = [];
  const wrapped = new Proxy(kv, {
    get(target, property) {
      const real = Reflect.get(target, property);
      if (typeof real !== 'function') return real;
      // Called on the bucket itself: its methods read its private fields.
      if (property !== method) return real.bind(target);
      return async (key: string, ...rest: unknown[]) => {
        if (failed.length > 0 || !which(key)) return real.call(target, key, ...rest);
        failed.push(key);
        if (stored) await real.call(target, key, ...rest);
        throw requestTimeout();
      };
    },
  });
  return { kv: wrapped, failed };
}

async function start(kv: KV, work: LeasedWork, instance: string): Promise<Ownership> {
  const ownership = await startOwnership({
    nc,
    names: n,
    partitions: PARTITIONS,
    settings: { enabled: true, ttlS: LEASE_S, renewMs: RENEW_MS, instance },
    work,
    metrics: createTriageMetrics(new Registry()),
    logger,
    bucket: kv,
  });
  running.push(ownership);
  return ownership;
}

const bucket = (): Promise<KV> =>
  createBucket(nc, n.kv.triageLeases, { kind: 'triageLeases', history: 1, ttl: LEASE_S * 1000 });

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-lease-answer-test', logger });
});

afterAll(async () => {
  for (const ownership of running) await ownership.stop().catch(() => undefined);
  await bucket()
    .then((kv) => kv.destroy())
    .catch(() => undefined);
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('a lease write stored by the server whose answer was lost', { timeout: 60_000 }, () => {
  it('a take that timed out is found to be ours and taken back at once, its lanes started', async () => {
    const { kv, failed: lost } = failOnce(await bucket(), 'create', true);
    const work = recordedWork();
    const ownership = await start(kv, work, 'triage-lost-create');
    expect(lost).toHaveLength(1);
    const lease = lost[0] as string;
    expect(lease).toMatch(/^partition\./);
    // The key holds this instance's value: nobody else could take it for a whole lease time.
    expect((await kv.get(lease))?.json()).toEqual({ owner: 'triage-lost-create' });

    const startedAt = performance.now();
    await waitFor(() => ownership.partitions().length === PARTITIONS && work.running.has(lease), {
      what: `the lease ${lease} taken back and its lanes started`,
      timeoutMs: WITHIN_MS,
      intervalMs: 50,
    });
    expect(performance.now() - startedAt).toBeLessThan(WITHIN_MS);
    for (let p = 0; p < PARTITIONS; p++) expect(work.running.has(partitionLease(p))).toBe(true);
    await ownership.stop();
    running.pop();
  });

  it('a release whose delete did not reach the server is deleted again, so another instance takes it', async () => {
    const { kv, failed } = failOnce(await bucket(), 'delete', false);
    const a = await start(kv, recordedWork(), 'triage-lost-delete');
    await waitFor(() => a.partitions().length === PARTITIONS, {
      what: 'the first instance to take every partition',
      timeoutMs: WITHIN_MS,
      intervalMs: 50,
    });
    // A second instance: the first hands one partition over, and its delete is lost.
    const bWork = recordedWork();
    const b = await start(await bucket(), bWork, 'triage-takes-over');
    await waitFor(() => failed.length === 1, {
      what: 'the first instance to give a lease back',
      timeoutMs: WITHIN_MS,
      intervalMs: 50,
    });
    const lease = failed[0] as string;
    expect(lease).toMatch(/^partition\./);
    // Taken by the second instance within a few rounds, not once the lease runs out.
    await waitFor(() => bWork.running.has(lease), {
      what: `the second instance to take ${lease}`,
      timeoutMs: WITHIN_MS,
      intervalMs: 50,
    });
    expect(a.partitions()).toHaveLength(1);
    expect(b.partitions()).toEqual([Number(lease.slice('partition.'.length))]);
    await Promise.all([a.stop(), b.stop()]);
    running.length = 0;
  });

  it('a stop whose member key delete did not reach the server still leaves its share to the others', async () => {
    const aWork = recordedWork();
    const a = await start(await bucket(), aWork, 'triage-stays');
    const { kv, failed } = failOnce(await bucket(), 'delete', false, (key) => key.startsWith('member.'));
    const b = await start(kv, recordedWork(), 'triage-goes');
    await waitFor(() => a.partitions().length === 1 && b.partitions().length === 1, {
      what: 'the two instances to split the partitions',
      timeoutMs: WITHIN_MS,
      intervalMs: 50,
    });
    await b.stop();
    expect(failed).toEqual(['member.triage-goes']);
    // Counted as a member still, it would keep the other at a share of one until its key expired.
    await waitFor(() => a.partitions().length === PARTITIONS, {
      what: 'the instance left to take every partition',
      timeoutMs: WITHIN_MS,
      intervalMs: 50,
    });
  });
});

import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { names, ResidentAwayEntry } from '@telecare/contracts';
import { connectNats, createLogger, createPool, ManualClock, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwayPublisher } from '../src/away-bucket.ts';
import { FieldCipher, parseDataKey } from '../src/crypto.ts';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { RegistryStore } from '../src/store.ts';
import { apiCaller, heldIn } from './support.ts';

// Two publishes of one resident's away periods at once (two registry instances, or a request and a
// retry): whichever reads PostgreSQL first and writes the bucket last, the bucket must end with
// what PostgreSQL holds last. A cancelled period left in it holds the resident's inactivity checks;
// a declared one missing from it raises false alarms.

const ns = uniqueNamespace('regawayrace');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const logger = createLogger('registry-test', env.LOG_LEVEL);
const clock = new ManualClock(new Date('2026-02-02T09:00:00.000Z'));
const now = () => new Date(clock.now());

let registry: RegistryHandle;
let nc: NatsConnection;
let bucket: KV;

const call = apiCaller(
  () => registry.url,
  () => env.TELECARE_ADMIN_TOKEN!,
);

const periodsIn = async (residentId: string) =>
  (await heldIn(bucket, residentId, ResidentAwayEntry))?.periods.map((p) => ({ id: p.id, until: p.until }));

/** What PostgreSQL says the resident's entry holds, read as the registry reads it. */
const periodsInPostgres = async (store: RegistryStore, residentId: string) => {
  const entry = await store.awayEntry(residentId, now());
  return entry.periods.length === 0 ? undefined : entry.periods.map((p) => ({ id: p.id, until: p.until }));
};

const resident = async (name: string) => {
  const made = await call('POST', '/api/residents', { name, address: '1 Away Lane', postcode: 'GL1 2AB' });
  expect(made.status).toBe(201);
  return made.body.id as string;
};

/** Another registry instance's store and away publisher (a pool of its own), as `work` needs them. */
async function otherInstance(
  work: (instance: { store: RegistryStore; publisher: () => AwayPublisher }) => Promise<void>,
): Promise<void> {
  const pool = createPool({ url: servers.databaseUrl, logger, name: 'registry-away-races-test' });
  const publishers: AwayPublisher[] = [];
  const store = new RegistryStore(
    pool,
    n.schema('registry'),
    new FieldCipher(parseDataKey(env.REGISTRY_DATA_KEY!)!),
  );
  try {
    await work({
      store,
      publisher: () => {
        const made = new AwayPublisher({
          nc,
          names: n,
          store,
          logger,
          puts: { inc: () => undefined } as never,
          clock: now,
        });
        publishers.push(made);
        return made;
      },
    });
  } finally {
    for (const made of publishers) made.close();
    await pool.end();
  }
}

/**
 * A publish by another instance whose read of the resident's periods is done before `meanwhile`
 * runs and whose write comes after it: what a publish slowed after its read (a busy NATS, a pause
 * of its process) does while a later change is committed and published.
 */
async function publishAround(residentId: string, meanwhile: () => Promise<void>): Promise<void> {
  await otherInstance(async ({ store, publisher }) => {
    let read: () => void = () => undefined;
    const wasRead = new Promise<void>((resolve) => {
      read = resolve;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const awayEntry = store.awayEntry.bind(store);
    let calls = 0;
    store.awayEntry = async (id, at) => {
      const entry = await awayEntry(id, at);
      // Only the first read waits: a publish that tries again reads fresh rows at once.
      if (++calls === 1) {
        read();
        await released;
      }
      return entry;
    };
    const late = publisher().publish(residentId);
    await wasRead;
    try {
      await meanwhile();
    } finally {
      release();
    }
    expect(['written', 'unchanged', 'deleted', 'absent']).toContain(await late);
  });
}

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-away-races-test', logger });
  bucket = await openBucket(nc, n.kv.residentAway);
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe("a resident's away periods published twice at once", () => {
  it('a period cancelled while an older publish is in flight is not put back in the bucket', async () => {
    const id = await resident('Away Race Cancelled');
    const declared = await call('POST', `/api/residents/${id}/away`, {
      from: '2026-01-01T09:00:00Z',
      reason: 'hospital',
    });
    expect(declared.status).toBe(201);
    expect(await periodsIn(id)).toEqual([{ id: declared.body.id, until: undefined }]);

    await publishAround(id, async () => {
      // Entered by mistake: ended at its start's next day, over a week ago, so nothing is left of
      // it for triage and the key goes.
      const ended = await call('POST', `/api/residents/${id}/away/${declared.body.id}/end`, {
        at: '2026-01-02T09:00:00Z',
      });
      expect(ended.status).toBe(200);
      await waitFor(async () => (await periodsIn(id)) === undefined, { what: 'the key deleted' });
    });
    // The older publish read the open-ended stay: written last, it would hold the resident's
    // inactivity checks for good.
    expect(await periodsIn(id)).toBeUndefined();
  });

  it('a period ended while an older publish is in flight keeps its end in the bucket', async () => {
    const id = await resident('Away Race Ended');
    const declared = await call('POST', `/api/residents/${id}/away`, {
      from: '2026-02-01T09:00:00Z',
      reason: 'respite',
    });
    expect(declared.status).toBe(201);

    await publishAround(id, async () => {
      const ended = await call('POST', `/api/residents/${id}/away/${declared.body.id}/end`, {});
      expect(ended.status).toBe(200);
      await waitFor(async () => (await periodsIn(id))?.[0]?.until !== undefined, { what: 'the end' });
    });
    expect(await periodsIn(id)).toEqual([{ id: declared.body.id, until: '2026-02-02T09:00:00.000Z' }]);
  });

  it('a period declared while an older publish is in flight is not deleted from the bucket', async () => {
    const id = await resident('Away Race Declared');
    let declared = '';
    await publishAround(id, async () => {
      const made = await call('POST', `/api/residents/${id}/away`, {
        from: '2026-02-02T08:00:00Z',
        reason: 'holiday',
      });
      expect(made.status).toBe(201);
      declared = made.body.id as string;
      await waitFor(async () => (await periodsIn(id)) !== undefined, { what: 'the period' });
    });
    // The older publish read no period: deleting last, it would have triage raise the absence
    // alerts of a resident on holiday.
    expect(await periodsIn(id)).toEqual([{ id: declared, until: undefined }]);
  });

  it('a period cancelled while the bucket lagged and an older publish is in flight is not put back', async () => {
    const id = await resident('Away Race Lagging');
    const declared = await call('POST', `/api/residents/${id}/away`, {
      from: '2026-01-01T09:00:00Z',
      reason: 'hospital',
    });
    expect(declared.status).toBe(201);
    // The bucket behind PostgreSQL, as a publish NATS lost leaves it until its retry: the period
    // not in it.
    await bucket.delete(id);

    // The retry reads the period; the cancellation is committed and published before it writes.
    // That publish finds no key and no period, and deletes the key all the same: it moves the
    // revision on, so the retry's write of the period it read fails, and it reads again.
    await publishAround(id, async () => {
      const ended = await call('POST', `/api/residents/${id}/away/${declared.body.id}/end`, {
        at: '2026-01-02T09:00:00Z',
      });
      expect(ended.status).toBe(200);
    });
    expect(await periodsIn(id)).toBeUndefined();
  });

  it('two instances publishing one resident side by side through many changes end with the last', async () => {
    const id = await resident('Away Race Instances');
    await otherInstance(async ({ store, publisher }) => {
      const instances = [publisher(), publisher(), publisher()];
      let open: string | undefined;
      for (let round = 0; round < 20; round++) {
        // Each change is committed by the registry and published by it, while the other instances
        // publish the resident at once (a retry, a change of theirs).
        const change =
          open === undefined
            ? call('POST', `/api/residents/${id}/away`, { from: '2026-01-20T09:00:00Z', reason: 'holiday' })
            : call('POST', `/api/residents/${id}/away/${open}/end`, { at: '2026-01-21T09:00:00Z' });
        const [answer] = await Promise.all([change, ...instances.map((p) => p.publish(id))]);
        expect([200, 201]).toContain(answer.status);
        open = answer.status === 201 ? (answer.body.id as string) : undefined;
        expect(await periodsIn(id)).toEqual(await periodsInPostgres(store, id));
      }
    });
  }, 60_000);
});

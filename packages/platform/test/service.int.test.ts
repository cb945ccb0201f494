import { cleanupNamespace, OwnPostgres, servers, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, defineService, type ServiceConfig, sleep } from '../src/index.ts';

/**
 * A service built on the frame outlives the restart of a server it uses, and `/readyz` names the
 * one that is down meanwhile.
 */
const ns = uniqueNamespace('frame');
const logger = createLogger('frame-test', 'silent');
let postgres: OwnPostgres;

interface FrameConfig extends ServiceConfig {
  readonly DATABASE_URL: string;
  readonly REDIS_URL: string;
}

const frame = defineService({
  name: 'frame-test',
  config: (): FrameConfig => {
    throw new Error('given by the test');
  },
  streams: ['deadletter'],
  http: () => ({ port: 0, host: '127.0.0.1' }),
  start: async (service) => {
    const { nc } = await service.nats();
    const redis = await service.redis({ url: service.config.REDIS_URL });
    const pool = service.postgres({ url: service.config.DATABASE_URL, max: 2 });
    let owns = true;
    service.ready('owns', () => owns);
    service.details(() => ({ instance: 'one' }));
    service.http.get('/work', async () => {
      await pool.query('select 1');
      await redis.ping();
      return { server: nc.getServer() };
    });
    return { give: () => (owns = false) };
  },
});

beforeAll(async () => {
  postgres = await OwnPostgres.start();
}, 120_000);

afterAll(async () => {
  postgres?.destroy();
  await cleanupNamespace(ns);
});

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as { checks: Record<string, boolean> } & Record<string, unknown>,
  };
};

describe('defineService', () => {
  it('says which dependency is down while PostgreSQL restarts, and is ready again after, without crashing', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const service = await frame.start(
      {
        LOG_LEVEL: 'silent',
        TELECARE_NAMESPACE: ns,
        NATS_URL: servers.natsUrl,
        TELECARE_STREAM_REPLICAS: 1,
        DATABASE_URL: postgres.url,
        REDIS_URL: servers.redisUrl,
      },
      { logger },
    );
    try {
      const before = await readyz(service.url);
      expect(before.status).toBe(200);
      expect(before.body).toMatchObject({
        instance: 'one',
        checks: { nats: true, redis: true, postgres: true, owns: true },
      });
      expect((await fetch(`${service.url}/work`)).status).toBe(200);

      await postgres.crash();
      const down = await waitFor(async () => {
        const answer = await readyz(service.url);
        return answer.status === 503 ? answer : undefined;
      });
      expect(down.body.checks).toMatchObject({ postgres: false, nats: true, redis: true });
      expect((await fetch(`${service.url}/work`)).status).toBe(500);

      postgres.start();
      await waitFor(async () => (await readyz(service.url)).status === 200, { timeoutMs: 20_000 });
      expect((await fetch(`${service.url}/work`)).status).toBe(200);

      service.give();
      expect((await readyz(service.url)).body.checks).toMatchObject({ owns: false });
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await service.close();
    }
  });
});

describe('durability at start-up', () => {
  it('says NOT DURABLE for one stream copy and for PostgreSQL with synchronous_commit off, naming each setting', async () => {
    const lines: string[] = [];
    const captured = createLogger('frame-durability', 'warn', { write: (line: string) => lines.push(line) });
    const service = await frame.start(
      {
        LOG_LEVEL: 'warn',
        TELECARE_NAMESPACE: ns,
        NATS_URL: servers.natsUrl,
        TELECARE_STREAM_REPLICAS: 1,
        // The PostgreSQL connection string carries the session setting a careless deployment has.
        DATABASE_URL: `${servers.databaseUrl}?options=-c%20synchronous_commit%3Doff`,
        REDIS_URL: servers.redisUrl,
      },
      { logger: captured },
    );
    try {
      const said = await waitFor(
        () => {
          const warnings = lines.filter((l) => l.includes('NOT DURABLE'));
          return warnings.some((l) => l.includes('synchronous_commit')) ? warnings : undefined;
        },
        { what: 'the durability warnings' },
      );
      expect(said.join('\n')).toContain('TELECARE_STREAM_REPLICAS');
      expect(said.join('\n')).toContain('synchronous_commit');
    } finally {
      await service.close();
    }
  });
});

describe('a slow start-up', () => {
  it('says which step it still waits on, once per step, and nothing for steps that finish in time', async () => {
    const lines: string[] = [];
    const captured = createLogger('frame-slow', 'warn', { write: (line: string) => lines.push(line) });
    const slow = defineService({
      name: 'frame-slow',
      config: (): ServiceConfig => {
        throw new Error('given by the test');
      },
      http: () => ({ port: 0, host: '127.0.0.1' }),
      start: async (service) => {
        service.step('a quick step');
        service.step('waiting on the moon');
        await sleep(1_200);
        return {};
      },
    });
    const service = await slow.start(
      { LOG_LEVEL: 'warn', TELECARE_NAMESPACE: ns, NATS_URL: servers.natsUrl, TELECARE_STREAM_REPLICAS: 1 },
      { logger: captured, slowStepMs: 300 },
    );
    await service.close();
    const waits = lines.filter((l) => l.includes('start-up still waits on'));
    expect(waits).toHaveLength(1);
    expect(waits[0]).toContain('waiting on the moon');
  });
});

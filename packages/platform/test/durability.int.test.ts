import type { NatsConnection } from '@nats-io/transport-node';
import { servers } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, createLogger, natsDurability, postgresDurability } from '../src/index.ts';

const logger = createLogger('durability-test', 'silent');
let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'durability-test', logger });
});
afterAll(() => nc?.close());

describe('durability findings at start-up', () => {
  it('one copy of every stream is a finding; three is not', () => {
    expect(natsDurability(nc, 1).map((f) => f.setting)).toContain('TELECARE_STREAM_REPLICAS');
    expect(natsDurability(nc, 3).map((f) => f.setting)).not.toContain('TELECARE_STREAM_REPLICAS');
  });

  it('a nats-server older than 2.10.23 cannot fsync every write; 2.10.23 and later can', () => {
    const server = (version: string) => ({ info: { version } }) as unknown as NatsConnection;
    const versionFinding = (version: string) =>
      natsDurability(server(version), 3).some((f) => f.setting === 'nats-server version');
    expect(versionFinding('2.9.10')).toBe(true);
    expect(versionFinding('2.10.22')).toBe(true);
    expect(versionFinding('2.10.23')).toBe(false);
    expect(versionFinding('2.11.0')).toBe(false);
  });

  it('PostgreSQL with synchronous_commit off is a finding; the defaults are not', async () => {
    const defaults = new pg.Pool({ connectionString: servers.databaseUrl, max: 1 });
    const unsafe = new pg.Pool({
      connectionString: servers.databaseUrl,
      max: 1,
      options: '-c synchronous_commit=off',
    });
    try {
      expect(await postgresDurability(defaults)).toEqual([]);
      const findings = await postgresDurability(unsafe);
      expect(findings).toEqual([
        expect.objectContaining({ setting: 'PostgreSQL synchronous_commit', found: 'off' }),
      ]);
    } finally {
      await defaults.end();
      await unsafe.end();
    }
  });
});

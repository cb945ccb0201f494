import { names } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { commonEnv, loadConfig, redisTarget } from './config.ts';
import { ConfigError } from './errors.ts';
import {
  DEAD_LETTER_STREAM_MAX_BYTES,
  DEFAULT_JETSTREAM_MAX_BYTES,
  DiscardPolicy,
  streamBytes,
  streamConfigs,
} from './nats.ts';

describe('TELECARE_STREAM_REPLICAS', () => {
  const load = (value?: string) =>
    loadConfig('test', commonEnv, value === undefined ? {} : { TELECARE_STREAM_REPLICAS: value });

  it('is 1 unless set, and 3 for the cluster', () => {
    expect(load().TELECARE_STREAM_REPLICAS).toBe(1);
    expect(load('3').TELECARE_STREAM_REPLICAS).toBe(3);
  });

  it.each(['0', '6', 'three', '1.5'])('refuses %s, naming the variable', (value) => {
    expect(() => load(value)).toThrow(ConfigError);
    expect(() => load(value)).toThrow(/TELECARE_STREAM_REPLICAS/);
  });

  it('is carried by every stream definition', () => {
    const configs = Object.values(streamConfigs(names('replicas'), { replicas: 3 }));
    expect(configs).toHaveLength(5);
    for (const config of configs) expect(config.num_replicas).toBe(3);
    for (const config of Object.values(streamConfigs(names('replicas')))) expect(config.num_replicas).toBe(1);
  });
});

describe('TELECARE_JETSTREAM_MAX_BYTES', () => {
  const load = (value?: string) =>
    loadConfig('test', commonEnv, value === undefined ? {} : { TELECARE_JETSTREAM_MAX_BYTES: value });

  it('is unset unless set, and reads bytes or a size as NATS writes it', () => {
    expect(load().TELECARE_JETSTREAM_MAX_BYTES).toBeUndefined();
    expect(load('200GB').TELECARE_JETSTREAM_MAX_BYTES).toBe(200 * 1024 ** 3);
    expect(load('512M').TELECARE_JETSTREAM_MAX_BYTES).toBe(512 * 1024 ** 2);
    expect(load('1.5TB').TELECARE_JETSTREAM_MAX_BYTES).toBe(1.5 * 1024 ** 4);
    expect(load('16777216').TELECARE_JETSTREAM_MAX_BYTES).toBe(16 * 1024 ** 2);
  });

  it.each(['', 'lots', '10PB', '-5GB', '512KB'])('refuses %j, naming the variable', (value) => {
    expect(() => load(value)).toThrow(/TELECARE_JETSTREAM_MAX_BYTES/);
  });

  it('shares every byte of the store between the streams and the buckets, EVENTS the most', () => {
    for (const store of [16 * 1024 ** 2, DEFAULT_JETSTREAM_MAX_BYTES, 200 * 1024 ** 3]) {
      const shares = streamBytes(store);
      const sum = Object.values(shares).reduce((a, b) => a + b, 0);
      expect(sum).toBe(store);
      for (const share of Object.values(shares)) expect(share).toBeGreaterThan(0);
      expect(shares.events).toBeGreaterThan(store * 0.8);
      expect(shares.deadletter).toBeLessThanOrEqual(DEAD_LETTER_STREAM_MAX_BYTES);
    }
  });

  it('bounds every stream, oldest first', () => {
    for (const config of Object.values(streamConfigs(names('bytes'), { storeBytes: 200 * 1024 ** 3 }))) {
      expect(config.max_bytes).toBeGreaterThan(0);
      expect(config.discard).toBe(DiscardPolicy.Old);
    }
  });
});

describe('DATABASE_URL', () => {
  const load = (value: string) => loadConfig('test', commonEnv, { DATABASE_URL: value });

  it('takes one host, or several as libpq does', () => {
    expect(load('postgresql://app@db:5432/telecare').DATABASE_URL).toBe('postgresql://app@db:5432/telecare');
    const several = 'postgresql://app@db1:5432,db2:5433/telecare?target_session_attrs=read-write';
    expect(load(several).DATABASE_URL).toBe(several);
  });

  it.each([
    ['postgresql://app@db1:5432,db2:70000/telecare', 'DATABASE_URL: "db2:70000" is not host:port'],
    ['postgresql://app@db1,db2/telecare?target_session_attrs=standby', 'target_session_attrs=standby'],
    ['redis://db1:6379', 'DATABASE_URL: must be a URL with scheme postgres: or postgresql:'],
  ])('refuses %s in a ConfigError that names it', (value, message) => {
    expect(() => load(value)).toThrow(ConfigError);
    expect(() => load(value)).toThrow(message);
  });
});

describe('REDIS_SENTINELS', () => {
  const load = (env: Record<string, string>) => loadConfig('test', commonEnv, env);

  it('is unset unless set: REDIS_URL alone names the Redis', () => {
    const config = load({});
    expect(config.REDIS_SENTINELS).toBeUndefined();
    expect(redisTarget(config)).toEqual({ url: 'redis://127.0.0.1:6379' });
  });

  it('reads the Sentinels as host:port, with the master name and the Sentinels’ password', () => {
    const config = load({
      REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.2:26380,[::1]:26381',
      REDIS_SENTINEL_MASTER: 'telecare',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_URL: 'redis://:data-secret@ignored:6379/2',
    });
    expect(redisTarget(config)).toEqual({
      url: 'redis://:data-secret@ignored:6379/2',
      sentinel: {
        sentinels: [
          { host: 'sentinel-1', port: 26379 },
          { host: '10.0.0.2', port: 26380 },
          { host: '::1', port: 26381 },
        ],
        master: 'telecare',
        password: 'sentinel-secret',
      },
    });
  });

  it.each([
    '',
    'sentinel-1',
    'sentinel-1:',
    ':26379',
    'sentinel-1:70000',
    'sentinel-1:26379,',
    'redis://s:26379',
  ])('refuses %j, naming the variable', (value) => {
    expect(() => load({ REDIS_SENTINELS: value, REDIS_SENTINEL_MASTER: 'telecare' })).toThrow(
      /REDIS_SENTINELS: must be host:port/,
    );
  });

  it('needs the master name with the Sentinels, and the Sentinels with a master name', () => {
    expect(() => load({ REDIS_SENTINELS: 's1:26379' })).toThrow(/REDIS_SENTINEL_MASTER: must be set/);
    expect(() => load({ REDIS_SENTINEL_MASTER: 'telecare' })).toThrow(/REDIS_SENTINELS: must be set/);
    expect(() => load({ REDIS_SENTINEL_PASSWORD: 'secret' })).toThrow(/REDIS_SENTINELS: must be set/);
    expect(() => load({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: '' })).toThrow(
      /REDIS_SENTINEL_MASTER/,
    );
  });
});

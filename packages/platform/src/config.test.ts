import { names } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { commonEnv, loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { streamConfigs } from './nats.ts';

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

import { describe, expect, it } from 'vitest';
import { banner } from '../lib/output.ts';

// Pure, but under test/ because the unit project only covers packages, services and simulators.
describe('the stack and demo banner', () => {
  const values = { TELECARE_ADMIN_TOKEN: 'a'.repeat(32) };

  it('says device credentials are off on the anonymous development broker', () => {
    const saved = process.env.MQTT_ADMIN_URL;
    delete process.env.MQTT_ADMIN_URL;
    try {
      expect(banner(values, [])).toMatch(/device credentials\s+.*off.* — anonymous broker/);
    } finally {
      if (saved !== undefined) process.env.MQTT_ADMIN_URL = saved;
    }
  });

  it('says they are on with the dynsec admin, naming the host but never the password', () => {
    const text = banner({ ...values, MQTT_ADMIN_URL: 'mqtt://registry-admin:s3cret-pw@127.0.0.1:1884' }, []);
    expect(text).toMatch(/device credentials\s+.*on.* dynamic security at 127\.0\.0\.1:1884/);
    expect(text).not.toContain('s3cret-pw');
  });
});

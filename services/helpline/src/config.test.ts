import { ConfigError } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { loadHelplineConfig } from './config.ts';

describe('helpline config', () => {
  it('signs operators in as available by default, and takes a first admin only with both variables', () => {
    expect(loadHelplineConfig({}).PRESENCE_ON_LOGIN).toBe('available');
    const both = loadHelplineConfig({
      HELPLINE_ADMIN_EMAIL: 'Boss@Example.org',
      HELPLINE_ADMIN_PASSWORD: 'long-enough-1',
    });
    expect(both.HELPLINE_ADMIN_EMAIL).toBe('boss@example.org');
    expect(() => loadHelplineConfig({ HELPLINE_ADMIN_EMAIL: 'boss@example.org' })).toThrow(ConfigError);
    expect(() => loadHelplineConfig({ HELPLINE_ADMIN_PASSWORD: 'long-enough-1' })).toThrow(/set both/);
    expect(() =>
      loadHelplineConfig({ HELPLINE_ADMIN_EMAIL: 'not-an-email', HELPLINE_ADMIN_PASSWORD: 'long-enough-1' }),
    ).toThrow(/email/);
  });
});

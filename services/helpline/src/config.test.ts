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

  it("bounds the staff list and the supervisor's overview per person by default (the console polls inside them)", () => {
    const config = loadHelplineConfig({});
    expect(config.STAFF_LIST_PER_MINUTE).toBe(120);
    expect(config.OVERVIEW_PER_MINUTE).toBe(60);
    expect(() => loadHelplineConfig({ OVERVIEW_PER_MINUTE: '0' })).toThrow(/OVERVIEW_PER_MINUTE/);
  });

  it.each([
    ['REGISTRY_URL', 'HELPLINE_REGISTRY_TOKEN'],
    ['TRIAGE_URL', 'HELPLINE_TRIAGE_TOKEN'],
  ] as const)('needs its own token with %s (%s), never the admin token', (urlKey, tokenKey) => {
    const url = 'http://127.0.0.1:7020';
    expect(() => loadHelplineConfig({ [urlKey]: url })).toThrow(new RegExp(`${tokenKey}: required`));
    const token = 'a-helpline-service-token-0123';
    expect(() =>
      loadHelplineConfig({ [urlKey]: url, [tokenKey]: token, TELECARE_ADMIN_TOKEN: token }),
    ).toThrow(/not be the admin token/);
    expect(loadHelplineConfig({ [urlKey]: url, [tokenKey]: token })[tokenKey]).toBe(token);
  });

  it('signs partner handovers: a secret with OVERFLOW_WEBHOOK_URL, and https unless the partner is on loopback', () => {
    const secret = 'a-partner-secret-of-32-characters!!';
    expect(() =>
      loadHelplineConfig({ OVERFLOW_WEBHOOK_URL: 'https://partner.example.org/overflow' }),
    ).toThrow(/HELPLINE_PARTNER_SECRET: required with OVERFLOW_WEBHOOK_URL/);
    expect(() =>
      loadHelplineConfig({
        OVERFLOW_WEBHOOK_URL: 'https://partner.example.org/o',
        HELPLINE_PARTNER_SECRET: 'short',
      }),
    ).toThrow(/HELPLINE_PARTNER_SECRET/);
    expect(() =>
      loadHelplineConfig({
        OVERFLOW_WEBHOOK_URL: 'http://partner.example.org/o',
        HELPLINE_PARTNER_SECRET: secret,
      }),
    ).toThrow(/OVERFLOW_WEBHOOK_URL: must be https/);
    for (const url of [
      'https://partner.example.org/o',
      'http://127.0.0.1:9000/o',
      'http://localhost:9000/o',
      'http://[::1]:9000/o',
    ])
      expect(
        loadHelplineConfig({ OVERFLOW_WEBHOOK_URL: url, HELPLINE_PARTNER_SECRET: secret })
          .OVERFLOW_WEBHOOK_URL,
      ).toBe(url);
  });

  it('refuses a guessable first admin password', () => {
    expect(() =>
      loadHelplineConfig({
        HELPLINE_ADMIN_EMAIL: 'boss@example.org',
        HELPLINE_ADMIN_PASSWORD: 'password1234',
      }),
    ).toThrow(/HELPLINE_ADMIN_PASSWORD: too easy/);
  });
});

import { createLogger } from '@telecare/platform';
import { loadReportsConfig, type ReportsHandle, startReports } from '@telecare/reports';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

// Every HTTP service's answers are data (or, for the console and the dashboard, a page with its own
// policy): none may be sniffed into something that runs, framed, or leak where it was read from
// in a Referer. Errors and unknown paths too: they are answers a browser renders as readily.
const DATA_POLICY = "default-src 'none'; frame-ancestors 'none'";

let platform: RunningPlatform;
let reports: ReportsHandle;

beforeAll(async () => {
  platform = await startPlatform('sec-headers', { REPORTS_PORT: '0' });
  reports = await startReports(loadReportsConfig(platform.env), {
    logger: createLogger('sec-headers-test', 'silent'),
  });
}, 60_000);

afterAll(async () => {
  await reports?.close();
  await platform?.stop();
});

const services = () => ({
  registry: platform.registry.url,
  triage: platform.triage.url,
  'gateway-mqtt': platform.gatewayMqtt.url,
  'gateway-dc09': platform.gatewayDc09.url,
  helpline: platform.helpline.url,
  reports: reports.url,
});

/** What each service answers, ordinary, refused and unknown. */
const ASKED: Array<{ what: string; path: string; init?: RequestInit }> = [
  { what: 'health', path: '/healthz' },
  { what: 'readiness', path: '/readyz' },
  { what: 'metrics', path: '/metrics' },
  { what: 'not found', path: '/no-such-path' },
  {
    what: 'unknown route with a broken body',
    path: '/api/no-such-route',
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' },
  },
  {
    what: 'wrong token',
    path: '/api/residents',
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-token-0123456789' },
      body: '{',
    },
  },
];

describe('security headers on every HTTP service', () => {
  it('every answer of every service, errors and 404s included, is data: nosniff, no framing, no referrer', async () => {
    const missing: string[] = [];
    for (const [service, base] of Object.entries(services())) {
      for (const { what, path, init } of ASKED) {
        const response = await fetch(new URL(path, base), init);
        await response.arrayBuffer();
        const h = response.headers;
        const wrong = [
          h.get('x-content-type-options') === 'nosniff' ? '' : 'nosniff',
          h.get('content-security-policy') === DATA_POLICY ? '' : 'csp',
          h.get('referrer-policy') === 'no-referrer' ? '' : 'referrer-policy',
          h.get('x-frame-options') === 'DENY' ? '' : 'x-frame-options',
        ].filter(Boolean);
        if (wrong.length) missing.push(`${service} ${what} (${response.status}): ${wrong.join(', ')}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the live stream, written past the framework, carries them too', async () => {
    const abort = new AbortController();
    const stream = await fetch(new URL('/api/stream', platform.helpline.url), {
      headers: { authorization: `Bearer ${platform.token}` },
      signal: abort.signal,
    });
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
      expect(stream.headers.get('content-security-policy')).toBe(DATA_POLICY);
      expect(stream.headers.get('referrer-policy')).toBe('no-referrer');
    } finally {
      abort.abort();
    }
  });

  it('the pages keep their own policy', async () => {
    for (const base of [platform.helpline.url, reports.url]) {
      const page = await fetch(new URL('/', base));
      await page.arrayBuffer();
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});

import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { createLogger, ManualClock } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startRegistryAndHelpline } from './support.ts';

// Two helpline instances behind one proxy whose clocks are apart by more than a stream ticket's
// life. A ticket's expiry was set by the issuing instance's clock and judged by the redeeming
// one's: asked at the slow instance and taken at the fast one it was dead on arrival, asked at
// the fast one and taken at the slow one it lived on well past its life. Now both are judged by
// PostgreSQL's clock, which the instances share.

const TTL_S = 2;
const SKEW_MS = 60_000;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let fast: HelplineHandle;
const slowClock = new ManualClock(Date.now() - SKEW_MS);
const fastClock = new ManualClock(Date.now() + SKEW_MS);
const slow = () => p.helpline;

beforeAll(async () => {
  p = await startRegistryAndHelpline(
    'secticketclk',
    { STREAM_TICKET_TTL_S: String(TTL_S) },
    { clock: slowClock },
  );
  fast = await startHelpline(loadHelplineConfig({ ...p.env, REGISTRY_URL: p.registry.url }), {
    clock: fastClock,
    logger: createLogger('secticketclk-fast', 'silent'),
  });
});

afterAll(async () => {
  await fast?.close();
  await p?.close();
});

const ticketAt = async (base: string) => {
  const answer = await call(base, 'POST', '/api/stream/ticket', { as: p.admin });
  expect(answer.status, JSON.stringify(answer.json)).toBe(201);
  return answer.json as { ticket: string; expiresAt: string };
};

/** The status of the live stream opened at `base` with `ticket` (closed again at once). */
async function streamStatus(base: string, ticket: string): Promise<number> {
  const abort = new AbortController();
  const response = await fetch(`${base}/api/stream?ticket=${encodeURIComponent(ticket)}`, {
    signal: abort.signal,
  });
  abort.abort();
  return response.status;
}

describe('stream tickets between instances whose clocks differ by more than their life', () => {
  it('one asked at the slow instance opens the stream at the fast one', async () => {
    const { ticket, expiresAt } = await ticketAt(slow().url);
    expect(await streamStatus(fast.url, ticket)).toBe(200);
    // Its expiry is PostgreSQL's, not the slow instance's clock's.
    expect(Math.abs(Date.parse(expiresAt) - (Date.now() + TTL_S * 1000))).toBeLessThan(1_500);
  });

  it('one asked at the fast instance is dead at the slow one once its life is over', async () => {
    const live = await ticketAt(fast.url);
    expect(await streamStatus(slow().url, live.ticket)).toBe(200);
    const { ticket } = await ticketAt(fast.url);
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 500));
    expect(await streamStatus(slow().url, ticket)).toBe(401);
  });
});

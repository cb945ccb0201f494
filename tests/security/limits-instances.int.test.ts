import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { createLogger } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { FaultProxy, servers } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startRegistryAndHelpline } from './support.ts';

// Attack replay: the sign-in lock and the reveal limits were kept in each instance's memory. A
// password guesser whose requests were spread over two helpline instances had 5 guesses at each,
// and 5 more at every restart; reveals went N times past their limit with N instances, of the
// helpline or of the registry. Now they are counted in PostgreSQL, which every instance shares.

const LIMITS = {
  LOGIN_FAILURES_PER_USER: '5',
  LOGIN_FAILURES_PER_ADDRESS: '9',
  HELPLINE_REVEAL_LIMIT: '4',
  REGISTRY_REVEAL_LIMIT: '4',
  REGISTRY_REVEAL_TOKEN_LIMIT: '6',
  // The tests' proxy: a guesser's own address comes in X-Forwarded-For.
  HELPLINE_TRUST_PROXY: '127.0.0.1',
};
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let second: HelplineHandle;
let secondRegistry: RegistryHandle;
/** Signed in before any failure, which lock the tests' one address before the reveals are tried. */
let prober: { id: string; cookie: string };
const logger = createLogger('seclimits-second', 'silent');

const startSecond = () =>
  startHelpline(loadHelplineConfig({ ...p.env, ...LIMITS, REGISTRY_URL: p.registry.url }), { logger });
const startSecondRegistry = () => startRegistry(loadRegistryConfig({ ...p.env, ...LIMITS }), { logger });

beforeAll(async () => {
  p = await startRegistryAndHelpline('seclimits', LIMITS);
  second = await startSecond();
  secondRegistry = await startSecondRegistry();
  prober = await p.user('spread.prober@example.org', 'operator');
});

afterAll(async () => {
  await second?.close();
  await secondRegistry?.close();
  await p?.close();
});

const helplines = () => [p.helpline.url, second.url];
const login = (base: string, username: string, password: string) =>
  call(base, 'POST', '/api/login', { as: '', body: { username, password } });
/** A new operator with `password`, not signed in. */
async function operator(username: string, password: string): Promise<void> {
  const created = await p.helplineCall('POST', '/api/users', {
    body: { username, name: username.split('@')[0], role: 'operator', password },
  });
  expect(created.status).toBe(201);
}

describe('failed sign-ins, with two helpline instances', () => {
  it('refuses the 6th failure across both, the right password too, and still after a restart', async () => {
    const password = 'Right-pass-1966!';
    await operator('spread.victim@example.org', password);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push(
        (await login(helplines()[i % 2] as string, 'spread.victim@example.org', `guess-${i}-password`))
          .status,
      );
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    for (const base of helplines()) {
      const refused = await login(base, 'spread.victim@example.org', 'guess-6-password');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await login(base, 'spread.victim@example.org', password)).status).toBe(429);
    }
    await second.close();
    second = await startSecond();
    const restarted = await login(second.url, 'spread.victim@example.org', password);
    expect(restarted.status).toBe(429);
    expect(restarted.headers.get('set-cookie')).toBeNull();
  });

  it('lets exactly 5 guesses be checked when 20 arrive at both instances at once', async () => {
    await operator('raced@example.org', 'Raced-pass-1966!');
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const answer = await call(helplines()[i % 2] as string, 'POST', '/api/login', {
          as: '',
          body: { username: 'raced@example.org', password: `parallel-${i}-guess` },
          headers: { 'x-forwarded-for': '203.0.113.7' },
        });
        return answer.status;
      }),
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });

  it("a right password forgets the username's failures, at the other instance too", async () => {
    const password = 'Other-pass-1966!';
    await operator('forgetful@example.org', password);
    for (let i = 0; i < 3; i++)
      expect((await login(p.helpline.url, 'forgetful@example.org', `wrong-${i}-password`)).status).toBe(401);
    expect((await login(second.url, 'forgetful@example.org', password)).status).toBe(200);
    // The address has 5 + 3 failures of its limit of 9: one more, then the address is locked.
    for (let i = 0; i < 4; i++)
      expect((await login(p.helpline.url, 'forgetful@example.org', `again-${i}-password`)).status).toBe(
        i < 1 ? 401 : 429,
      );
  });
});

describe('reveals, with two instances', () => {
  it('at the helpline: every attempt at either counts, the 5th is refused, and still after a restart', async () => {
    const caseId = await p.caseFor(await p.resident('Spread Reveal', 'KS-SR-1966'));
    const reveal = (base: string) =>
      call(base, 'POST', `/api/cases/${caseId}/reveal`, { as: prober.cookie, body: { field: 'keySafe' } });
    // Not the prober's case: refused, and counted.
    for (let i = 0; i < 4; i++) expect((await reveal(helplines()[i % 2] as string)).status).toBe(403);
    expect((await reveal(second.url)).status).toBe(429);
    expect((await reveal(p.helpline.url)).status).toBe(429);
    await second.close();
    second = await startSecond();
    expect((await reveal(second.url)).status).toBe(429);
    // One refusal run, one security event, whichever instance refused first.
    const events = await p.helplineCall('GET', '/api/security-events?limit=50');
    const mine = (events.json.events as { kind: string; userId: string }[]).filter(
      (e) => e.userId === prober.id && e.kind === 'reveal-rate-limited',
    );
    expect(mine).toHaveLength(1);
  });

  it('at the registry: per person and per token across both, and still after a restart', async () => {
    const residentId = await p.resident('Registry Spread', 'KS-RS-1966');
    const reveal = (base: string, actor: string) =>
      call(base, 'POST', `/api/residents/${residentId}/reveal`, {
        as: p.env.HELPLINE_REGISTRY_TOKEN ?? '',
        body: {
          fields: ['keySafe'],
          reason: 'spread',
          caseId: 'case_spread_0001',
          actor: { id: actor, role: 'operator' },
        },
      });
    const registries = () => [p.registry.url, secondRegistry.url];
    for (let i = 0; i < 4; i++)
      expect((await reveal(registries()[i % 2] as string, 'usr_spread')).status).toBe(200);
    expect((await reveal(secondRegistry.url, 'usr_spread')).status).toBe(429);
    await secondRegistry.close();
    secondRegistry = await startSecondRegistry();
    const restarted = await reveal(secondRegistry.url, 'usr_spread');
    expect(restarted.status).toBe(429);
    expect(Number(restarted.headers.get('retry-after'))).toBeGreaterThan(0);
    // The token has 4 of its 6: another person's reveals take the last two, at either.
    expect((await reveal(secondRegistry.url, 'usr_other')).status).toBe(200);
    expect((await reveal(p.registry.url, 'usr_other')).status).toBe(200);
    expect((await reveal(secondRegistry.url, 'usr_third')).status).toBe(429);
    // Refused under the token's limit: not counted under the person's.
    const audit = await p.registryCall('GET', `/api/residents/${residentId}/audit`);
    expect(audit.json.reads).toHaveLength(6);
  });
});

describe('sign-in without PostgreSQL', () => {
  it('is refused (503, saying why) rather than let through uncounted', async () => {
    const db = new URL(servers.databaseUrl);
    const proxy = await FaultProxy.start({ host: db.hostname, port: Number(db.port || 5432) });
    db.host = `127.0.0.1:${proxy.url('tcp').split(':').at(-1)}`;
    const cut = await startHelpline(
      loadHelplineConfig({ ...p.env, ...LIMITS, DATABASE_URL: db.toString(), REGISTRY_URL: p.registry.url }),
      { logger },
    );
    try {
      proxy.set({ kind: 'drop' });
      const answer = await login(cut.url, 'anyone@example.org', 'some-password-1966');
      expect(answer.status).toBe(503);
      expect(answer.json.message).toMatch(/failed sign-ins cannot be counted/);
    } finally {
      proxy.set({ kind: 'pass' });
      await cut.close();
      await proxy.close();
    }
  });
});

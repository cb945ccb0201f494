import { names } from '@telecare/contracts';
import { createLogger, createPool, ManualClock } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

/** Opens the live stream with a bearer token, to see whether (and when) the server ends it. */
async function streamEnds(url: string, token: string) {
  const abort = new AbortController();
  const response = await fetch(`${url}/api/stream`, {
    headers: { authorization: `Bearer ${token}` },
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  await reader.read(); // hello
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) return true;
    } catch {
      return false;
    }
  })();
  return {
    /** Whether the server ends the stream within `ms` from now. */
    endsWithin: (ms: number) =>
      Promise.race([ended, new Promise<false>((r) => setTimeout(() => r(false), ms))]),
    close: () => abort.abort(),
  };
}

// Attack replay: a leaver's account could not be disabled, a leaked personal token never expired
// and could not be revoked, an admin could not end someone's sessions, and nobody could change a
// password — so a stolen credential stayed good for ever.

const clock = new ManualClock(Date.parse('2026-12-01T08:00:00Z'));
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secacct', {}, { clock });
});

afterAll(async () => {
  await p?.close();
});

const me = (as: string) => p.helplineCall('GET', '/api/me', { as });
const login = (username: string, password: string) =>
  p.helplineCall('POST', '/api/login', { as: '', body: { username, password } });

async function person(username: string, password: string) {
  const created = await p.helplineCall('POST', '/api/users', {
    body: { username, name: `${username} name`, role: 'operator', password },
  });
  expect(created.status).toBe(201);
  const signedIn = await login(username, password);
  expect(signedIn.status).toBe(200);
  const cookie = `cookie:${(signedIn.headers.get('set-cookie') ?? '').split(';')[0]}`;
  return { id: created.json.id as string, cookie };
}

describe('accounts an admin can shut', () => {
  it('a disabled user is out at once: sessions, tokens and sign-in; enabling lets them back in', async () => {
    const leaver = await person('leaver@example.org', 'Leaver-pass-8812!');
    const token = await p.helplineCall('POST', '/api/tokens', {
      body: { userId: leaver.id, label: 'script' },
    });
    expect(token.status).toBe(201);
    expect((await me(token.json.token)).status).toBe(200);

    expect((await p.helplineCall('POST', `/api/users/${leaver.id}/disable`)).status).toBe(200);
    expect((await me(leaver.cookie)).status).toBe(401);
    expect((await me(token.json.token)).status).toBe(401);
    expect((await login('leaver@example.org', 'Leaver-pass-8812!')).status).toBe(401);

    expect((await p.helplineCall('POST', `/api/users/${leaver.id}/enable`)).status).toBe(200);
    expect((await login('leaver@example.org', 'Leaver-pass-8812!')).status).toBe(200);
  });

  it('a personal token expires, and can be revoked before', async () => {
    const user = await person('scripted@example.org', 'Scripted-pass-5521!');
    const short = await p.helplineCall('POST', '/api/tokens', {
      body: { userId: user.id, label: 'one day', expiresInDays: 1 },
    });
    const other = await p.helplineCall('POST', '/api/tokens', {
      body: { userId: user.id, label: 'default' },
    });
    expect(short.json.expiresAt).toBe('2026-12-02T08:00:00.000Z');
    expect((await me(short.json.token)).status).toBe(200);

    expect((await p.helplineCall('DELETE', `/api/tokens/${other.json.id}`)).status).toBe(200);
    expect((await me(other.json.token)).status).toBe(401);

    clock.advance(24 * 3600_000 + 1000);
    expect((await me(short.json.token)).status).toBe(401);
  });

  it('a live stream opened with a personal token ends when the token is revoked or expires', async () => {
    const user = await person('streamer@example.org', 'Streamer-pass-6617!');
    const token = async (label: string) =>
      (await p.helplineCall('POST', '/api/tokens', { body: { userId: user.id, label } })).json as {
        id: string;
        token: string;
      };
    const [revoked, expiring, kept] = [await token('revoked'), await token('expiring'), await token('kept')];
    const onRevoked = await streamEnds(p.helpline.url, revoked.token);
    const onExpiring = await streamEnds(p.helpline.url, expiring.token);
    const onKept = await streamEnds(p.helpline.url, kept.token);

    expect((await p.helplineCall('DELETE', `/api/tokens/${revoked.id}`)).status).toBe(200);
    // A revoked token's stream stops at once, not only its next request; another token's goes on
    // past a ping round (every 5 s here), when every stream's console is checked.
    expect(await onRevoked.endsWithin(2_000)).toBe(true);
    expect(await onKept.endsWithin(6_000)).toBe(false);

    // The expiring token's time comes (set in its row: moving the clock a day on would end every
    // stream whose console sent no heartbeat for an hour, whatever its token).
    const pool = createPool({
      url: p.env.DATABASE_URL!,
      logger: createLogger('secacct', 'silent'),
      name: 'expire',
    });
    await pool.query(
      `update "${names(p.ns).schema('helpline')}".api_tokens set expires_at = $2 where id = $1`,
      [expiring.id, new Date(clock.now() - 1000)],
    );
    await pool.end();
    const [expired, still] = await Promise.all([onExpiring.endsWithin(6_000), onKept.endsWithin(6_000)]);
    expect(expired).toBe(true);
    expect(still).toBe(false);
    onKept.close();
  });

  it('a token or user request with a field that is not one is refused by name, and nothing is made', async () => {
    const user = await person('careful@example.org', 'Careful-pass-7713!');
    // A misspelt expiry would otherwise give a token of the default 90 days where one day was asked.
    const misspelt = await p.helplineCall('POST', '/api/tokens', {
      body: { userId: user.id, label: 'one day', expiresInDay: 1 },
    });
    expect(misspelt.status).toBe(400);
    expect(JSON.stringify(misspelt.json)).toContain('expiresInDay');
    expect(misspelt.json?.token).toBeUndefined();

    const extra = await p.helplineCall('POST', '/api/users', {
      body: {
        username: 'extra@example.org',
        name: 'Extra',
        role: 'operator',
        password: 'Extra-pass-9914!',
        isAdmin: true,
      },
    });
    expect(extra.status).toBe(400);
    expect(JSON.stringify(extra.json)).toContain('isAdmin');
    const users = (await p.helplineCall('GET', '/api/users')).json.users as Array<{ username: string }>;
    expect(users.some((u) => u.username === 'extra@example.org')).toBe(false);
  });

  it("an admin ends someone's sessions", async () => {
    const user = await person('borrowed@example.org', 'Borrowed-pass-7734!');
    expect((await me(user.cookie)).status).toBe(200);
    const ended = await p.helplineCall('POST', `/api/users/${user.id}/end-sessions`);
    expect(ended.json.sessionsEnded).toBe(1);
    expect((await me(user.cookie)).status).toBe(401);
  });

  it('a person changes their password: the old one stops working, so do their other sessions', async () => {
    const user = await person('changer@example.org', 'Changer-pass-3390!');
    const second = await login('changer@example.org', 'Changer-pass-3390!');
    const otherCookie = `cookie:${(second.headers.get('set-cookie') ?? '').split(';')[0]}`;

    const wrongCurrent = await p.helplineCall('PUT', '/api/me/password', {
      as: user.cookie,
      body: { current: 'not-it-at-all', password: 'Brand-new-phrase-4471!' },
    });
    expect(wrongCurrent.status).toBe(400);
    const weak = await p.helplineCall('PUT', '/api/me/password', {
      as: user.cookie,
      body: { current: 'Changer-pass-3390!', password: 'password1234' },
    });
    expect(weak.status).toBe(400);
    expect(weak.json.message).toMatch(/^password: /);

    const changed = await p.helplineCall('PUT', '/api/me/password', {
      as: user.cookie,
      body: { current: 'Changer-pass-3390!', password: 'Brand-new-phrase-4471!' },
    });
    expect(changed.status).toBe(200);
    expect((await me(user.cookie)).status).toBe(200);
    expect((await me(otherCookie)).status).toBe(401);
    expect((await login('changer@example.org', 'Changer-pass-3390!')).status).toBe(401);
    expect((await login('changer@example.org', 'Brand-new-phrase-4471!')).status).toBe(200);
  });
});

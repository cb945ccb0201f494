import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: the live stream took a long-lived bearer token in its URL
// (`GET /api/stream?access_token=tok_…`), where proxy logs, browser history and Referer keep it.
// Now a query token is refused, and a program or a token console asks for a stream ticket: one
// use, short-lived, bound to the credential that asked and dead with it.

const TTL_S = 2;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secticket', { STREAM_TICKET_TTL_S: String(TTL_S) });
});

afterAll(async () => {
  await p?.close();
});

/** A personal token of a new operator, and its id (to revoke it by). */
async function operatorToken(username: string): Promise<{ token: string; id: string; userId: string }> {
  const user = await p.helplineCall('POST', '/api/users', {
    body: { username, name: `${username} name`, role: 'operator', password: 'correct horse battery' },
  });
  expect(user.status).toBe(201);
  const issued = await p.helplineCall('POST', '/api/tokens', {
    body: { userId: user.json.id, label: 'stream program' },
  });
  expect(issued.status).toBe(201);
  return { token: issued.json.token as string, id: issued.json.id as string, userId: user.json.id as string };
}

const ticketFor = async (as: string) => {
  const answer = await p.helplineCall('POST', '/api/stream/ticket', { as });
  expect(answer.status, JSON.stringify(answer.json)).toBe(201);
  return answer.json as { ticket: string; expiresAt: string };
};

/** Opens the stream with `query`: its status, and the hello's console when it opened. */
async function stream(query: string) {
  const abort = new AbortController();
  const response = await fetch(`${p.helpline.url}/api/stream${query}`, { signal: abort.signal });
  if (response.status !== 200) {
    const text = await response.text();
    return { status: response.status, body: text, close: () => undefined, ended: Promise.resolve(true) };
  }
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) return true;
    } catch {
      return false;
    }
  })();
  return { status: 200, body: first, close: () => abort.abort(), ended };
}

const endsWithin = (ended: Promise<boolean>, ms: number) =>
  Promise.race([ended, new Promise<false>((r) => setTimeout(() => r(false), ms))]);

describe('the live stream and its tickets', () => {
  it('refuses a token in the query with a 400 naming the header and the ticket', async () => {
    const { token } = await operatorToken('queryuser');
    const refused = await stream(`?access_token=${encodeURIComponent(token)}`);
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('Authorization: Bearer');
    expect(refused.body).toContain('POST /api/stream/ticket');
    expect(refused.body).not.toContain(token);
    // The admin token, the same.
    expect((await stream(`?access_token=${encodeURIComponent(p.admin)}`)).status).toBe(400);
  });

  it('a ticket opens one stream as the person whose token asked, once', async () => {
    const { token, userId } = await operatorToken('ticketuser');
    const { ticket, expiresAt } = await ticketFor(token);
    expect(ticket).not.toContain(token);
    const ttl = Date.parse(expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_S * 1000 + 1_000);

    const opened = await stream(`?ticket=${encodeURIComponent(ticket)}`);
    expect(opened.status).toBe(200);
    expect(opened.body).toContain('event: hello');
    // The stream is that person's console.
    const consoleId = /"console":"([^"]+)"/.exec(opened.body)?.[1];
    expect(consoleId).toMatch(/^con_/);
    const beat = await p.helplineCall('POST', '/api/presence/heartbeat', {
      as: token,
      body: { console: consoleId },
    });
    expect(beat.status).toBe(200);

    const replayed = await stream(`?ticket=${encodeURIComponent(ticket)}`);
    expect(replayed.status).toBe(401);
    opened.close();
    expect(userId).toMatch(/^usr_/);
  });

  it('an expired ticket is refused', async () => {
    const { token } = await operatorToken('expireduser');
    const { ticket } = await ticketFor(token);
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 500));
    expect((await stream(`?ticket=${encodeURIComponent(ticket)}`)).status).toBe(401);
  });

  it('a ticket of a revoked token is refused, and a stream opened with one ends when the token is revoked', async () => {
    const { token, id } = await operatorToken('revokeduser');
    const unused = await ticketFor(token);
    const used = await ticketFor(token);
    const opened = await stream(`?ticket=${encodeURIComponent(used.ticket)}`);
    expect(opened.status).toBe(200);
    expect((await p.helplineCall('DELETE', `/api/tokens/${id}`)).status).toBe(200);
    expect((await stream(`?ticket=${encodeURIComponent(unused.ticket)}`)).status).toBe(401);
    expect(await endsWithin(opened.ended, 6_000)).toBe(true);
  });

  it('a ticket asked with a session dies with the session; an unknown ticket is refused', async () => {
    const user = await p.user('sessionuser', 'operator');
    const { ticket } = await ticketFor(user.cookie);
    expect((await p.helplineCall('POST', '/api/logout', { as: user.cookie })).status).toBe(200);
    expect((await stream(`?ticket=${encodeURIComponent(ticket)}`)).status).toBe(401);
    expect((await stream('?ticket=stk_not-a-ticket-at-all-0123456789')).status).toBe(401);
    // No ticket for whoever is not signed in.
    expect((await p.helplineCall('POST', '/api/stream/ticket', { as: '' })).status).toBe(401);
  });

  it('the admin token gets a ticket too', async () => {
    const { ticket } = await ticketFor(p.admin);
    const opened = await stream(`?ticket=${encodeURIComponent(ticket)}`);
    expect(opened.status).toBe(200);
    opened.close();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Behind the TLS proxy every client has the proxy's address: without trusting the proxy's
// X-Forwarded-For, one guesser would lock every operator out of the console.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secproxy', {
    HELPLINE_TRUST_PROXY: '127.0.0.1',
    LOGIN_FAILURES_PER_ADDRESS: '4',
  });
});

afterAll(async () => {
  await p?.close();
});

const login = (username: string, password: string, client: string) =>
  p.helplineCall('POST', '/api/login', {
    as: '',
    body: { username, password },
    headers: { 'x-forwarded-for': client },
  });

describe('sign-in limits behind a trusted proxy', () => {
  it('count the client address the proxy names: a guesser is locked out, a colleague is not', async () => {
    const created = await p.helplineCall('POST', '/api/users', {
      body: {
        username: 'colleague@example.org',
        name: 'Colleague',
        role: 'operator',
        password: 'Colleague-pass-6610!',
      },
    });
    expect(created.status).toBe(201);
    const guesses: number[] = [];
    for (let i = 0; i < 6; i++)
      guesses.push((await login(`someone${i}@example.org`, 'wrong-password', '203.0.113.5')).status);
    expect(guesses.slice(4)).toEqual([429, 429]);
    expect((await login('colleague@example.org', 'Colleague-pass-6610!', '198.51.100.7')).status).toBe(200);
    const logged = p.logs
      .map((line) => JSON.parse(line) as { msg: string; clientIp?: string })
      .filter((l) => l.msg === 'sign-in failed');
    expect(logged.map((l) => l.clientIp)).toEqual(Array(4).fill('203.0.113.5'));
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: password guessing at the console's sign-in had no limit at all, per user or
// per address, and failed sign-ins left no trace.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('seclogin', { LOGIN_FAILURES_PER_ADDRESS: '12' });
});

afterAll(async () => {
  await p?.close();
});

const login = (username: string, password: string) =>
  p.helplineCall('POST', '/api/login', { as: '', body: { username, password } });

describe('console sign-in', () => {
  it('locks a username after 5 failures (429, even with the right password), and logs each with user and address', async () => {
    const created = await p.helplineCall('POST', '/api/users', {
      body: {
        username: 'victim@example.org',
        name: 'Victim',
        role: 'operator',
        password: 'Right-pass-1966!',
      },
    });
    expect(created.status).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++)
      statuses.push((await login('victim@example.org', `guess-${i}-password`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const locked = await login('victim@example.org', 'Right-pass-1966!');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(locked.headers.get('set-cookie')).toBeNull();

    const failures = p.logs
      .map((line) => JSON.parse(line) as { msg: string; username?: string; clientIp?: string })
      .filter((l) => l.msg === 'sign-in failed' && l.username === 'victim@example.org');
    expect(failures).toHaveLength(5);
    expect(failures.every((l) => l.clientIp?.includes('127.0.0.1'))).toBe(true);
  });

  it('limits one address trying many usernames', async () => {
    const statuses: number[] = [];
    // 5 failures above plus these reach the address limit of 12.
    for (let i = 0; i < 10; i++)
      statuses.push((await login(`nobody${i}@example.org`, 'wrong-password')).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(7);
  });
});

describe('passwords', () => {
  it.each(['password123', '1234567890ab', 'qwertyuiop12', 'aaaaaaaaaaaa', 'abcabcabcabc', 'Password2024'])(
    'refuses %s for a new user, naming the field',
    async (password) => {
      const answer = await p.helplineCall('POST', '/api/users', {
        body: { username: `weak${password.length}@example.org`, name: 'Weak', role: 'operator', password },
      });
      expect(answer.status).toBe(400);
      expect(answer.json.message).toMatch(/^password: /);
    },
  );

  it('refuses the username as its own password', async () => {
    const answer = await p.helplineCall('POST', '/api/users', {
      body: {
        username: 'mary.jones@example.org',
        name: 'Mary Jones',
        role: 'operator',
        password: 'mary.jones@example.org',
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.json.message).toMatch(/^password: /);
  });
});

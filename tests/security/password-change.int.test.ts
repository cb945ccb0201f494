import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: someone holding a person's personal token (a script's, leaked) or a session left
// open guesses that person's password through `PUT /api/me/password`, which says whether `current`
// is right. Sign-in locks a username after 5 failures; this said so as often as it was asked, so
// the lock was passed by, and the password found went on working after the token was revoked.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secpwchg');
});

afterAll(async () => {
  await p?.close();
});

describe('changing one’s own password', () => {
  it('counts a wrong current password as a failed sign-in: locked after 5, the right one too, and sign-in with it', async () => {
    const password = 'Guarded-pass-5530!';
    const created = await p.helplineCall('POST', '/api/users', {
      body: { username: 'guarded@example.org', name: 'Guarded', role: 'operator', password },
    });
    expect(created.status).toBe(201);
    const token = await p.helplineCall('POST', '/api/tokens', {
      body: { userId: created.json.id, label: 'leaked script' },
    });
    const change = (current: string) =>
      p.helplineCall('PUT', '/api/me/password', {
        as: token.json.token,
        body: { current, password: 'Brand-new-phrase-8841!' },
      });

    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await change(`guess-${i}-password`)).status);
    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    const right = await change(password);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    // The password is unchanged, and the name is locked at sign-in as after 5 failed sign-ins.
    const signIn = await p.helplineCall('POST', '/api/login', {
      as: '',
      body: { username: 'guarded@example.org', password },
    });
    expect(signIn.status).toBe(429);
  });
});

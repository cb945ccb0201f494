import { randomBytes } from 'node:crypto';
import { createLogger } from '@telecare/platform';
import { loadRegistryConfig, startRegistry } from '@telecare/registry';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { call } from './support.ts';

// Attack replay / operating fault: the registry restarted with another REGISTRY_DATA_KEY answered
// ready and took new key-safe codes sealed with the wrong key; the fault showed only at the first
// reveal, during a call, as a 500.

const ns = uniqueNamespace('seckey');
afterAll(async () => {
  await cleanupNamespace(ns);
});

async function registry(key: string) {
  const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: key });
  const lines: string[] = [];
  const logger = createLogger('seckey-test', 'warn', {
    write: (line: string) => {
      lines.push(line);
    },
  });
  const handle = await startRegistry(loadRegistryConfig(env), { logger });
  return { handle, lines, admin: env.TELECARE_ADMIN_TOKEN ?? '' };
}

describe('a wrong REGISTRY_DATA_KEY is found at start-up', () => {
  it('answers not ready, says why in the log, and seals nothing with the wrong key', async () => {
    const right = randomBytes(32).toString('hex');
    const first = await registry(right);
    const created = await call(first.handle.url, 'POST', '/api/residents', {
      as: first.admin,
      body: { name: 'Key Person', address: '1 Row', postcode: 'GL1 1AA', keySafe: '1966' },
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${first.handle.url}/readyz`)).status).toBe(200);
    await first.handle.close();

    const wrong = await registry(randomBytes(32).toString('hex'));
    try {
      const ready = await fetch(`${wrong.handle.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: Record<string, boolean> }).checks.dataKey).toBe(false);
      expect(wrong.lines.join('\n')).toMatch(
        /REGISTRY_DATA_KEY is not the key this database was sealed with/,
      );
      const refused = await call(wrong.handle.url, 'POST', '/api/residents', {
        as: wrong.admin,
        body: { name: 'Other Person', address: '2 Row', postcode: 'GL1 1AA', keySafe: '2020' },
      });
      expect(refused.status).toBe(422);
      expect(refused.json.message).toMatch(/does not match/);
    } finally {
      await wrong.handle.close();
    }

    // Back on the right key: ready, and the code stored before opens.
    const again = await registry(right);
    try {
      expect((await fetch(`${again.handle.url}/readyz`)).status).toBe(200);
      const revealed = await call(again.handle.url, 'POST', `/api/residents/${created.json.id}/reveal`, {
        as: again.admin,
        body: { fields: ['keySafe'], reason: 'key check test' },
      });
      expect(revealed.json.keySafe).toBe('1966');
    } finally {
      await again.handle.close();
    }
  });
});

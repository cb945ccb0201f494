import { describe, expect, it } from 'vitest';
import { isLoopback, plaintextHosts, warnPlaintext } from './tls.ts';

describe('the servers reached without TLS', () => {
  const tlsScheme = (url: URL) => url.protocol === 'tls:';

  it('names the hosts beyond this machine, not loopback', () => {
    expect(
      plaintextHosts(
        ['nats://nats-1.example:4222', 'nats://127.0.0.1:4222', 'nats://localhost:4222', 'nats://[::1]:4222'],
        tlsScheme,
      ),
    ).toEqual(['nats-1.example:4222']);
    expect(plaintextHosts(['nats://10.0.0.7:4222'], tlsScheme)).toEqual(['10.0.0.7:4222']);
    expect(isLoopback('127.8.9.10')).toBe(true);
    expect(isLoopback('127.example')).toBe(false);
  });

  it('leaves out what is TLS, and what cannot be read', () => {
    expect(plaintextHosts(['tls://nats-1.example:4222', 'not a url'], tlsScheme)).toEqual([]);
    expect(
      plaintextHosts(
        ['postgresql://u@db1:5432/t?sslmode=verify-full', 'postgresql://u@db2:5432/t'],
        (url) => url.searchParams.get('sslmode') === 'verify-full',
      ),
    ).toEqual(['db2:5432']);
  });

  it('warns once a process for a setting and its hosts, naming what production needs', () => {
    const said: Array<{ fields: object; message: string }> = [];
    const logger = { warn: (fields: object, message: string) => void said.push({ fields, message }) };
    warnPlaintext(logger, 'TEST_URL', ['db9.example:5432'], 'sslmode=verify-full');
    warnPlaintext(logger, 'TEST_URL', ['db9.example:5432'], 'sslmode=verify-full');
    warnPlaintext(logger, 'TEST_URL', [], 'sslmode=verify-full');
    expect(said).toHaveLength(1);
    expect(said[0]?.message).toMatch(
      /^NOT ENCRYPTED: TEST_URL reaches db9\.example:5432 without TLS; production needs sslmode=verify-full/,
    );
    expect(said[0]?.fields).toEqual({
      setting: 'TEST_URL',
      hosts: ['db9.example:5432'],
      needs: 'sslmode=verify-full',
    });
  });
});

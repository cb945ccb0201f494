import { describe, expect, it } from 'vitest';
import { PostgresUrlError, parsePostgresUrl } from './postgres-url.ts';

describe('parsePostgresUrl', () => {
  it('reads one host as node-postgres does, the URL kept as it was', () => {
    const url = 'postgresql://app:s3cret@db.example:6432/telecare?sslmode=verify-full';
    expect(parsePostgresUrl(url)).toEqual({
      hosts: [{ label: 'db.example:6432', url }],
      targetSessionAttrs: 'any',
    });
  });

  it('reads several hosts in order, each with the user, database and options of the whole', () => {
    const target = parsePostgresUrl(
      'postgresql://app:p%40ss@db1:5432,db2,[::1]:5433/telecare?sslmode=verify-full&target_session_attrs=read-write',
    );
    expect(target.targetSessionAttrs).toBe('read-write');
    expect(target.hosts).toEqual([
      { label: 'db1:5432', url: 'postgresql://app:p%40ss@db1:5432/telecare?sslmode=verify-full' },
      { label: 'db2', url: 'postgresql://app:p%40ss@db2/telecare?sslmode=verify-full' },
      { label: '[::1]:5433', url: 'postgresql://app:p%40ss@[::1]:5433/telecare?sslmode=verify-full' },
    ]);
    for (const host of target.hosts) expect(new URL(host.url).pathname).toBe('/telecare');
  });

  it('takes primary as read-write, and any as the default', () => {
    expect(parsePostgresUrl('postgres://a,b/db?target_session_attrs=primary').targetSessionAttrs).toBe(
      'read-write',
    );
    expect(parsePostgresUrl('postgres://a,b/db?target_session_attrs=any').targetSessionAttrs).toBe('any');
    expect(parsePostgresUrl('postgres://a,b/db').targetSessionAttrs).toBe('any');
    // The attribute is this module's: node-postgres is given the rest of the query.
    expect(parsePostgresUrl('postgres://a/db?target_session_attrs=any&x=1').hosts[0]?.url).toBe(
      'postgres://a/db?x=1',
    );
  });

  it('keeps a URL without a host to node-postgres’s defaults', () => {
    expect(parsePostgresUrl('postgresql:///telecare').hosts).toEqual([
      { label: 'localhost', url: 'postgresql:///telecare' },
    ]);
  });

  it.each([
    ['postgresql://u@db1:5432,db2:99999/db', /"db2:99999" is not host:port/],
    ['postgresql://u@db1:5432,db 2:5432/db', /"db 2:5432" is not host:port/],
    ['postgresql://u@db1:5432,:5432/db', /":5432" is not host:port/],
    ['postgresql://u@db1,,db2/db', /empty host/],
    ['postgresql://u@db1:port/db', /"db1:port" is not host:port/],
    ['mysql://u@db1/db', /scheme postgres: or postgresql:/],
    ['postgresql://u@db1,db2/db?target_session_attrs=read-only', /target_session_attrs=read-only/],
    ['postgresql://u@db1,db2/db?target_session_attrs=prefer-standby', /any, read-write or primary/],
  ])('refuses %s, saying what is wrong', (url, message) => {
    expect(() => parsePostgresUrl(url)).toThrow(PostgresUrlError);
    expect(() => parsePostgresUrl(url)).toThrow(message);
  });

  it('never repeats a password in its refusal', () => {
    expect(() => parsePostgresUrl('postgresql://app:hunter2@db1,db2:x/db')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe('parsePostgresUrl and TLS', () => {
  it('gives every host the CA as sslrootcert where sslmode=verify-full names none', () => {
    const target = parsePostgresUrl('postgresql://u@db1,db2/x?sslmode=verify-full', {
      caFile: '/etc/ca.pem',
    });
    expect(target.hosts.map((host) => host.url)).toEqual([
      'postgresql://u@db1/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem',
      'postgresql://u@db2/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem',
    ]);
    const own = 'postgresql://u@db1/x?sslmode=verify-full&sslrootcert=own.pem';
    expect(parsePostgresUrl(own, { caFile: '/etc/ca.pem' }).hosts[0]?.url).toBe(own);
    expect(parsePostgresUrl('postgresql://u@db1/x', { caFile: '/etc/ca.pem' }).hosts[0]?.url).toBe(
      'postgresql://u@db1/x',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { postgresRefusal } from './errors.ts';
import { isDependencyDown } from './http-errors.ts';

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

describe('isDependencyDown', () => {
  it('knows a server that is down, restarting or out of reach', () => {
    for (const err of [
      withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      withCode('ECONNRESET'),
      withCode('57P01', 'terminating connection due to administrator command'),
      withCode('57P03', 'the database system is starting up'),
      withCode('08006', 'connection failure'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Query read timeout'),
      new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], ''),
      new Error('query failed', { cause: withCode('ECONNREFUSED') }),
    ])
      expect(isDependencyDown(err), String(err)).toBe(true);
  });

  it('takes a server that answers but refuses the work as unavailable for now, saying why', () => {
    for (const [code, what] of [
      ['25006', /^PostgreSQL is read-only \(a standby\?/],
      ['53100', /no disk space left/],
      ['53300', /takes no more connections/],
      // A statement cancelled (the pool's statement timeout, or a DBA): nothing saved, try again.
      ['57014', /cancelled a statement/],
      ['25P03', /idle_in_transaction_session_timeout/],
    ] as const) {
      const err = new Error('commit failed', { cause: withCode(code) });
      expect(isDependencyDown(err), code).toBe(true);
      expect(postgresRefusal(err)?.what, code).toMatch(what);
    }
    expect(postgresRefusal(withCode('25006'))).toMatchObject({ allWrites: true });
    expect(postgresRefusal(withCode('57014'))).toMatchObject({ allWrites: false });
    expect(postgresRefusal(withCode('23505'))).toBeUndefined();
  });

  it('leaves a bug or a bad query a 500', () => {
    for (const err of [
      new TypeError('x is undefined'),
      withCode('42P01', 'relation "nope" does not exist'),
      withCode('23505', 'duplicate key value violates unique constraint'),
      withCode('22P02', 'invalid input syntax for type uuid'),
      'a string',
      null,
    ])
      expect(isDependencyDown(err), String(err)).toBe(false);
  });
});

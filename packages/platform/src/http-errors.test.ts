import { describe, expect, it } from 'vitest';
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

  it('leaves a bug or a bad query a 500', () => {
    for (const err of [
      new TypeError('x is undefined'),
      withCode('42P01', 'relation "nope" does not exist'),
      withCode('23505', 'duplicate key value violates unique constraint'),
      withCode('22P02', 'invalid input syntax for type uuid'),
      // The server's own statement timeout: a query too slow, not a server gone.
      withCode('57014', 'canceling statement due to statement timeout'),
      'a string',
      null,
    ])
      expect(isDependencyDown(err), String(err)).toBe(false);
  });
});

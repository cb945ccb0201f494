import { describe, expect, it } from 'vitest';
import { isRetryable, refusalReason } from './consumer.ts';
import { ConfigError, PoisonMessageError, TransientError } from './errors.ts';
import { TimeoutError } from './work.ts';

describe('the consumer error policy', () => {
  it('retries what says so, and anything that is not a TelecareError', () => {
    expect(isRetryable(new TransientError('away'))).toBe(true);
    expect(isRetryable(new TimeoutError('slow'))).toBe(true);
    expect(isRetryable(new Error('unknown'))).toBe(true);
    expect(isRetryable('a string')).toBe(true);
    expect(isRetryable(new PoisonMessageError('never'))).toBe(false);
    expect(isRetryable(new ConfigError('svc', ['X: missing']))).toBe(false);
  });

  it('does not retry data PostgreSQL refused (SQLSTATE class 22), which fails the same way every time', () => {
    const pgError = (code: string) => Object.assign(new Error('refused'), { code });
    expect(isRetryable(pgError('22008'))).toBe(false); // a date out of range: year 0
    expect(isRetryable(pgError('22003'))).toBe(false); // a number too large for its column
    expect(isRetryable(new Error('wrapped', { cause: pgError('22P05') }))).toBe(false);
    // A server away, a deadlock, a serialization failure: retried.
    expect(isRetryable(pgError('57P01'))).toBe(true);
    expect(isRetryable(pgError('40P01'))).toBe(true);
    expect(isRetryable(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
  });

  it('dead-letters with the error’s own reason when it is one, else unhandled', () => {
    expect(refusalReason(new PoisonMessageError('bad', { context: { reason: 'schema' } }))).toBe('schema');
    expect(refusalReason(new PoisonMessageError('bad', { context: { reason: 'not-json' } }))).toBe(
      'not-json',
    );
    expect(refusalReason(new PoisonMessageError('bad', { context: { reason: 'made-up' } }))).toBe(
      'unhandled',
    );
    expect(refusalReason(new PoisonMessageError('bad'))).toBe('unhandled');
    expect(refusalReason(new Error('bad'))).toBe('unhandled');
  });
});

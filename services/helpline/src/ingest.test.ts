import { describe, expect, it } from 'vitest';
import { laneOf, unreachable } from './ingest.ts';

describe('laneOf', () => {
  it('takes the resident id from the alert subject', () => {
    expect(laneOf('telecare.alerts.p1.res_abc')).toBe('res_abc');
  });
});

describe('unreachable', () => {
  const serverError = (code: string) => Object.assign(new Error('refused'), { severity: 'ERROR', code });
  it('is a database or NATS that does not answer: every alert would fail alike', () => {
    expect(unreachable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      true,
    );
    expect(unreachable(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(true);
    expect(unreachable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(unreachable(serverError('57P01'))).toBe(true);
    expect(unreachable(serverError('08006'))).toBe(true);
    expect(unreachable(serverError('53300'))).toBe(true);
  });
  it('is a database that refuses every write alike: read-only, disk full, a session ended', () => {
    expect(unreachable(serverError('25006'))).toBe(true);
    expect(unreachable(serverError('53100'))).toBe(true);
    expect(unreachable(serverError('25P03'))).toBe(true);
  });
  it('is not a statement PostgreSQL refused for this alert', () => {
    expect(unreachable(serverError('23505'))).toBe(false);
    expect(unreachable(serverError('54000'))).toBe(false);
    expect(unreachable(serverError('XX000'))).toBe(false);
    expect(unreachable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(unreachable(Object.assign(new Error('[]'), { name: 'ZodError' }))).toBe(false);
  });
});

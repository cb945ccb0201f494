import { describe, expect, it } from 'vitest';
import { laneOf } from './ingest.ts';

describe('laneOf', () => {
  it('takes the resident id from the alert subject', () => {
    expect(laneOf('telecare.alerts.p1.res_abc')).toBe('res_abc');
  });
});

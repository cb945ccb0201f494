import { describe, expect, it } from 'vitest';
import { reportedElsewhere, TransientError } from './errors.ts';
import { redisRefusal } from './redis.ts';

describe('redisRefusal', () => {
  it.each([
    ["OOM command not allowed when used memory > 'maxmemory'.", 'oom', false],
    ['LOADING Redis is loading the dataset in memory', 'loading', true],
    ["READONLY You can't write against a read only replica.", 'readonly', false],
    [
      'MISCONF Redis is configured to save RDB snapshots, but it is currently unable to persist to disk.',
      'misconf',
      false,
    ],
  ])('reads %s as %s', (reply, reason, reads) => {
    expect(redisRefusal(new Error(reply))).toMatchObject({ reason, reads, reply });
  });

  it('says nothing of other failures', () => {
    for (const reply of [
      'Command timed out',
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      'OOMPH',
      '',
    ])
      expect(redisRefusal(new Error(reply)), reply).toBeUndefined();
    expect(redisRefusal('OOM as a string')).toBeUndefined();
  });
});

describe('reportedElsewhere', () => {
  it('finds a failure its service reports itself, through the errors it caused', () => {
    const reported = new TransientError('Redis away', { context: { reported: true } });
    expect(reportedElsewhere(reported)).toBe(true);
    expect(reportedElsewhere(new TransientError('could not load', { cause: reported }))).toBe(true);
    expect(reportedElsewhere(new TransientError('could not load', { cause: new Error('x') }))).toBe(false);
    expect(reportedElsewhere(new Error('plain'))).toBe(false);
  });
});

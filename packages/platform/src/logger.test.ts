import { describe, expect, it } from 'vitest';
import { createLogger, warnFailure } from './logger.ts';

/** A logger writing its lines (JSON) into `lines`, at debug. */
function captured() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = createLogger('logger-test', 'debug', { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe('warnFailure', () => {
  it('warns of a failure it does not know, with its error', () => {
    const { log, lines } = captured();
    warnFailure(log, new Error('something broke'), {}, 'a round failed');
    expect(lines.map((l) => l.level)).toEqual([40]);
  });

  it('is a debug line for a statement on a pooled client whose connection failed: the pool warned of the failure as it came', () => {
    // A session the server ended while its client sat in a transaction between two statements: the
    // pool logs the client's error (57P01) as it comes; the next statement fails with this, which
    // was a second warning with a stack for the same cut.
    const { log, lines } = captured();
    warnFailure(
      log,
      new Error('Client has encountered a connection error and is not queryable'),
      {},
      'partner handovers failed; the next round retries',
    );
    expect(lines.map((l) => l.level)).toEqual([20]);
  });
});

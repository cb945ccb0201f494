import { PassThrough } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { WriteTurn } from './write-turn.ts';

/** A stream that records each write it passes on (`_writev` when several leave together). */
function recordingStream(): { stream: PassThrough; writes: string[] } {
  const writes: string[] = [];
  const stream = new PassThrough({
    writev(chunks, done) {
      writes.push(chunks.map((c) => String(c.chunk)).join(''));
      done();
    },
    write(chunk, _encoding, done) {
      writes.push(String(chunk));
      done();
    },
  });
  return { stream, writes };
}

describe('WriteTurn', () => {
  it('lets the writes of one turn, made a tick apart, leave in one write at its check phase', async () => {
    const { stream, writes } = recordingStream();
    const turn = new WriteTurn();
    for (const packet of ['a', 'b', 'c']) {
      await new Promise<void>((resolve) =>
        process.nextTick(() => {
          turn.hold(stream);
          stream.write(packet);
          resolve();
        }),
      );
    }
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual(['abc']);
  });

  it('corks again in the next turn', async () => {
    const { stream, writes } = recordingStream();
    const turn = new WriteTurn();
    turn.hold(stream);
    stream.write('a');
    await nextTurn();
    turn.hold(stream);
    stream.write('b');
    turn.hold(stream);
    stream.write('c');
    await nextTurn();
    expect(writes).toEqual(['a', 'bc']);
  });
});

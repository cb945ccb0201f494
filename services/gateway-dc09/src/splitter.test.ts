import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameBody, MAX_FRAME_BYTES } from './frame.ts';
import { FrameSplitter, splitDatagram, strayAfterFrame } from './splitter.ts';

const poll = frameBody('"NULL"0000L0#1234[]');
const text = (units: { bytes: Buffer }[]) => units.map((u) => u.bytes.toString('latin1'));

describe('cutting a byte stream into frames', () => {
  it('frames ended by CR LF: each whole, and the LF left over is no frame begun', () => {
    const splitter = new FrameSplitter();
    const crlf = Buffer.concat([poll, Buffer.from('\n')]);
    expect(text(splitter.push(Buffer.concat([crlf, crlf])))).toEqual(
      text([{ bytes: poll }, { bytes: poll }]),
    );
    expect(splitter.partial).toBe(false);
    // The same when the LF comes in a read of its own.
    expect(text(splitter.push(poll))).toEqual([poll.toString('latin1')]);
    expect(splitter.push(Buffer.from('\n'))).toEqual([]);
    expect(splitter.partial).toBe(false);
  });

  it('frames ended CR LF NUL or CR NUL LF: the line end and its NULs are no frame begun', () => {
    for (const end of ['\n\u0000', '\u0000\n', '\n\u0000\u0000\u0000']) {
      const ended = Buffer.concat([poll, Buffer.from(end, 'latin1')]);
      // In one read, and a byte at a time.
      const whole = new FrameSplitter();
      expect(text(whole.push(Buffer.concat([ended, ended])))).toEqual(
        text([{ bytes: poll }, { bytes: poll }]),
      );
      expect(whole.partial, JSON.stringify(end)).toBe(false);
      const bytewise = new FrameSplitter();
      const units = [...ended, ...ended].flatMap((byte) => bytewise.push(Buffer.from([byte])));
      expect(text(units)).toEqual(text([{ bytes: poll }, { bytes: poll }]));
      expect(bytewise.partial, JSON.stringify(end)).toBe(false);
    }
    // Anything else after the LF is a frame begun.
    const splitter = new FrameSplitter();
    splitter.push(Buffer.concat([poll, Buffer.from('\n\u0000"')]));
    expect(splitter.partial).toBe(true);
  });

  it('bytes before the LF that opens a frame are noise: dropped, not answered', () => {
    const splitter = new FrameSplitter();
    const units = splitter.push(
      Buffer.concat([Buffer.from('\u0000+++ATH0', 'latin1'), poll, Buffer.from('\n\nhalf a fr'), poll]),
    );
    expect(text(units)).toEqual([poll.toString('latin1'), poll.toString('latin1')]);
  });

  it('an LF that does not follow a CR opens a frame: a trickle of LFs is a frame begun', () => {
    const splitter = new FrameSplitter();
    splitter.push(Buffer.from('\n'));
    expect(splitter.partial).toBe(true);
    splitter.push(poll);
    splitter.push(Buffer.from('\n\n'));
    expect(splitter.partial).toBe(true);
    expect(splitter.held).toBe(1);
  });

  it('a lone CR and an empty LF CR are not answered; junk ended by CR is', () => {
    const splitter = new FrameSplitter();
    expect(splitter.push(Buffer.from('\r\n\r\r'))).toEqual([]);
    expect(text(splitter.push(Buffer.from('junk\r')))).toEqual(['junk\r']);
  });

  it('past the limit without CR: one oversized unit, then the next LF starts afresh', () => {
    const splitter = new FrameSplitter();
    const units = splitter.push(Buffer.concat([Buffer.from('\n'), Buffer.alloc(MAX_FRAME_BYTES + 10, 0x41)]));
    expect(units).toHaveLength(1);
    expect(units[0]?.oversized).toBe(true);
    expect(units[0]?.bytes.length).toBe(MAX_FRAME_BYTES);
    expect(splitter.push(Buffer.alloc(50_000, 0x41))).toEqual([]);
    expect(splitter.held).toBe(0);
    expect(text(splitter.push(poll))).toEqual([poll.toString('latin1')]);
  });

  it('a datagram: CR LF frames and a trailing LF give the frames only', () => {
    const crlf = Buffer.concat([poll, Buffer.from('\n')]);
    expect(text(splitDatagram(Buffer.concat([crlf, crlf])))).toEqual([
      poll.toString('latin1'),
      poll.toString('latin1'),
    ]);
    expect(text(splitDatagram(Buffer.from('\nno CR')))).toEqual(['\nno CR']);
  });

  it('a datagram: bytes after a frame that no LF opens are noise (a buffer sent whole, CRs and all), not a unit', () => {
    for (const tail of [
      'garbage',
      ' ',
      '\u00ff\u00ff',
      '\u0000junk',
      'AT+\u0000',
      '-2026\r',
      '6\r\u00ff\u00ff',
    ]) {
      expect(text(splitDatagram(Buffer.concat([poll, Buffer.from(tail, 'latin1')]))), tail).toEqual([
        poll.toString('latin1'),
      ]);
    }
    // A datagram with no frame at all is a unit to count and record (another protocol on our port).
    expect(text(splitDatagram(Buffer.from('5012 18113001003\u0014', 'latin1')))).toEqual([
      '5012 18113001003\u0014',
    ]);
    // A frame cut short (its LF came) is still a unit to record.
    expect(text(splitDatagram(Buffer.concat([poll, Buffer.from('xx\n79D7003B"ADM')])))).toEqual([
      poll.toString('latin1'),
      '\n79D7003B"ADM',
    ]);
  });
});

describe('a binary CRC whose two bytes are both LF', () => {
  // LF, CRC 0x0A 0x0A, `0LLL"…`: three LFs in a row before the length.
  const frame = Buffer.from('\n\n\n001D"SIA-DCS"0001L0#1234[AIQ]S]:2\r', 'latin1');

  it('is one frame, whole, in one read and a byte at a time', () => {
    expect(text(new FrameSplitter().push(frame))).toEqual([frame.toString('latin1')]);
    const splitter = new FrameSplitter();
    const units = [...frame].flatMap((byte) => splitter.push(Buffer.from([byte])));
    expect(text(units)).toEqual([frame.toString('latin1')]);
    expect(splitter.partial).toBe(false);
  });

  it('is one frame after a CR LF, read two bytes at a time', () => {
    const bytes = Buffer.concat([poll, Buffer.from('\n'), frame]);
    const splitter = new FrameSplitter();
    const units = [];
    for (let at = 0; at < bytes.length; at += 2) units.push(...splitter.push(bytes.subarray(at, at + 2)));
    expect(text(units)).toEqual([poll.toString('latin1'), frame.toString('latin1')]);
  });
});

describe('frames as real senders end and frame them', () => {
  // Bodies of every shape the receiver reads, with any CRC: hex, or binary (its bytes may be CR
  // or LF), each frame followed by what senders put after their CR.
  const body = fc
    .string({ unit: fc.constantFrom(...'#|[]^_:,-/0123456789ABCDEFNRSIAMQL '.split('')), maxLength: 60 })
    .map((rest) => `"SIA-DCS"0001L0#1234[${rest}`);
  const frame = fc
    .tuple(body, fc.constantFrom('hex', 'binary') as fc.Arbitrary<'hex' | 'binary'>)
    .map(([b, format]) => frameBody(b, format));
  const after = fc.constantFrom('', '\n', '\u0000', '\u0000\u0000', '\n\u0000', '\u0000\n', '\n\u0000\u0000');
  const stream = fc.array(fc.tuple(frame, after), { minLength: 1, maxLength: 6 });

  it('one read: every frame whole, nothing else answered, nothing begun after', () => {
    fc.assert(
      fc.property(stream, (frames) => {
        const splitter = new FrameSplitter();
        const bytes = Buffer.concat(frames.flatMap(([f, tail]) => [f, Buffer.from(tail, 'latin1')]));
        expect(text(splitter.push(bytes))).toEqual(frames.map(([f]) => f.toString('latin1')));
        expect(splitter.partial).toBe(false);
        // And as datagrams.
        expect(text(splitDatagram(bytes))).toEqual(frames.map(([f]) => f.toString('latin1')));
      }),
      { numRuns: 500 },
    );
  });

  it('any reads, cut anywhere (inside a binary-CRC frame head too): the same frames', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (frames, cuts) => {
        const pieces = frames.flatMap(([f, tail]) => [f, Buffer.from(tail, 'latin1')]);
        const bytes = Buffer.concat(pieces);
        // A CR or LF among a binary CRC's bytes is told by the bytes after it, up to its `"`: a read
        // may end before they come (a serial bridge sends a byte at a time).
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const splitter = new FrameSplitter();
        const units: { bytes: Buffer }[] = [];
        let from = 0;
        for (const point of [...points, bytes.length]) {
          units.push(...splitter.push(bytes.subarray(from, point)));
          from = point;
        }
        expect(text(units)).toEqual(frames.map(([f]) => f.toString('latin1')));
        expect(splitter.partial).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('a byte at a time: the same frames, whatever bytes their binary CRCs hold', () => {
    fc.assert(
      fc.property(stream, (frames) => {
        const bytes = Buffer.concat(frames.flatMap(([f, tail]) => [f, Buffer.from(tail, 'latin1')]));
        const splitter = new FrameSplitter();
        const units = [...bytes].flatMap((byte) => splitter.push(Buffer.from([byte])));
        expect(text(units)).toEqual(frames.map(([f]) => f.toString('latin1')));
        expect(splitter.partial).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the rest of a send buffer after a frame', () => {
  const bytes = (s: string) => Buffer.from(s, 'latin1');

  it('is stray when no LF opens it and no quote stands where a frame would open its id', () => {
    expect(strayAfterFrame(bytes('01 004]_12:00:00,11-22-2026\r'))).toBe(true);
    expect(strayAfterFrame(bytes('\u00ff\u00ff  \r'))).toBe(true);
  });

  it('is not when it is a frame, or a frame that lost its LF (hex CRC, three-digit length, binary CRC)', () => {
    const frame = frameBody('"SIA-DCS"0001L0#1234[]');
    expect(strayAfterFrame(frame)).toBe(false);
    expect(strayAfterFrame(frame.subarray(1))).toBe(false);
    expect(strayAfterFrame(bytes('96ED016"SIA-DCS"0001L0#1234[]\r'))).toBe(false);
    expect(strayAfterFrame(bytes('\u0096\u00ED0016"SIA-DCS"0001L0#1234[]\r'))).toBe(false);
  });
});

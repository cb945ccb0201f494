import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeJson, parseMessage } from './decode.ts';
import { PoisonMessageError } from './errors.ts';

const Thing = z.object({ id: z.string(), n: z.number() });
const bytes = (text: string) => new TextEncoder().encode(text);

describe('decodeJson', () => {
  it('reads a message that keeps its contract', () => {
    expect(decodeJson(Thing, bytes('{"id":"a","n":1}'))).toEqual({ ok: true, value: { id: 'a', n: 1 } });
  });

  it('says not-json, or schema with every issue by path', () => {
    expect(decodeJson(Thing, bytes('{nope'))).toMatchObject({ ok: false, reason: 'not-json' });
    expect(decodeJson(Thing, '{"id":1}')).toMatchObject({ ok: false, reason: 'schema' });
    const refused = decodeJson(Thing, '{"id":1}');
    expect(refused.ok ? '' : refused.detail).toMatch(/^id: .*; n: /);
    const root = decodeJson(Thing, '[]', { root: '(event)' });
    expect(root.ok ? '' : root.detail).toMatch(/^\(event\): /);
  });
});

describe('parseMessage', () => {
  it('throws a PoisonMessageError carrying the reason', () => {
    expect(() => parseMessage(Thing, '{', 'thing')).toThrow(PoisonMessageError);
    try {
      parseMessage(Thing, '{"id":"a"}', 'thing');
    } catch (err) {
      expect((err as PoisonMessageError).context.reason).toBe('schema');
      expect((err as Error).message).toMatch(/^thing does not match its contract: n: /);
    }
  });
});

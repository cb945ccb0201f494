import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REASON_PLACEHOLDERS, type ReasonPlaceholder, type ReasonValues, renderReason } from './reason.ts';

const NAMES = Object.keys(REASON_PLACEHOLDERS) as ReasonPlaceholder[];

/** The plain reading of a template: every known placeholder replaced, anything else left as written. */
const reference = (template: string, values: ReasonValues) =>
  template.replace(/\{([^{}]*)\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? values[name as ReasonPlaceholder] : whole,
  );

describe('reasons', () => {
  it('render every template as its placeholders replaced, whatever else it holds', () => {
    const piece = fc.oneof(
      fc.constantFrom(...NAMES).map((name) => `{${name}}`),
      fc.string({ maxLength: 8 }),
      fc.constantFrom('{', '}', '{}', '{unknown}', '{{what}}', '$&', '$1'),
    );
    const values = fc.record(
      Object.fromEntries(NAMES.map((name) => [name, fc.string({ maxLength: 6 })])) as Record<
        ReasonPlaceholder,
        fc.Arbitrary<string>
      >,
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }), values, (pieces, v) => {
        const template = pieces.join('');
        expect(renderReason(template, v)).toBe(reference(template, v));
        // Twice: the second reads the template split the first time.
        expect(renderReason(template, v)).toBe(reference(template, v));
      }),
      { numRuns: 3_000 },
    );
  });
});

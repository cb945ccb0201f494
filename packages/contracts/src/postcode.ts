/**
 * UK postcodes. We accept what people type ("gl1  2ab", "GL12AB") and store one form
 * ("GL1 2AB"), because the district ("GL1") is what reports and area incidents group by.
 *
 * The shape follows the published outward/inward code rules (the letters that never appear in
 * given positions are excluded), plus the special GIR 0AA. It checks shape, not existence.
 */
const OUTWARD =
  '(?:[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY]))';
const INWARD = '[0-9][ABD-HJLNP-UW-Z]{2}';
const POSTCODE = new RegExp(`^(?:${OUTWARD} ${INWARD}|GIR 0AA)$`);

/** The postcode in its one stored form, or undefined when it is not a UK postcode. */
export function normalisePostcode(input: string): string | undefined {
  const compact = input.replace(/\s+/g, '').toUpperCase();
  if (compact.length < 5 || compact.length > 7) return undefined;
  const normalised = `${compact.slice(0, -3)} ${compact.slice(-3)}`;
  return POSTCODE.test(normalised) ? normalised : undefined;
}

/** The outward code of a normalised postcode: `GL1` from `GL1 2AB`. */
export function postcodeDistrict(normalised: string): string {
  const space = normalised.indexOf(' ');
  return space === -1 ? normalised : normalised.slice(0, space);
}

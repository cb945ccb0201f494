import { OUTCOMES } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { bundleConsole } from './console-bundle.ts';
import { postcodeDistrict } from './registry-client.ts';

describe('the console bundle', () => {
  it('bundles the typed console from source, with the outcome list the API accepts put in', async () => {
    const bundle = await bundleConsole();
    expect(bundle.js.length).toBeGreaterThan(10_000);
    for (const outcome of OUTCOMES) expect(bundle.js).toContain(`"${outcome}"`);
    // No import is left for the browser to resolve, and the same source gives the same ETag.
    expect(bundle.js).not.toMatch(/\bimport\s*[{*"']/);
    expect((await bundleConsole()).etag).toBe(bundle.etag);
  });
});

describe('postcodeDistrict', () => {
  it('is the outward code of a UK postcode, spaced or not, and null otherwise', () => {
    expect(postcodeDistrict('GL1 1AA')).toBe('GL1');
    expect(postcodeDistrict('gl50 2ab')).toBe('GL50');
    expect(postcodeDistrict('SW1A1AA')).toBe('SW1A');
    expect(postcodeDistrict('not a postcode')).toBeNull();
    expect(postcodeDistrict(undefined)).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { protocolFor } from './protocols.ts';

describe('protocols', () => {
  it('a night exit has its own protocol: the home first, then a responder, then the police', () => {
    const exit = protocolFor('door.exit-at-night');
    expect(exit.title).toBe('Left the home at night');
    expect(exit.steps[0]).toContain('home unit');
    expect(exit.steps.findIndex((step) => step.includes('police'))).toBeGreaterThan(
      exit.steps.findIndex((step) => step.includes('first responder')),
    );
  });

  it('a wellbeing alert without a protocol of its own gets the generic one', () => {
    expect(protocolFor('chair.too-long')).toMatchObject({ title: 'chair.too-long' });
  });
});

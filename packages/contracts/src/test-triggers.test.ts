import { describe, expect, it } from 'vitest';
import { CONNECTION_ONLY_TYPES, DEVICE_KINDS, TAXONOMY, TEST_TRIGGERS, testTriggerOf } from './index.ts';

describe('the test-call trigger of each device kind', () => {
  it('names, for every kind, device events that are not connection-only, and an action', () => {
    for (const kind of DEVICE_KINDS) {
      const { passes, action } = testTriggerOf(kind);
      expect(passes.length, kind).toBeGreaterThan(0);
      for (const type of passes) {
        expect(TAXONOMY[type].derived, `${kind}: ${type}`).toBe(false);
        expect(CONNECTION_ONLY_TYPES, `${kind}: ${type}`).not.toContain(type);
      }
      expect(action, kind).toMatch(/^[a-z]/);
    }
    expect(Object.keys(TEST_TRIGGERS).sort()).toEqual([...DEVICE_KINDS].sort());
  });

  it('asks for the act the device exists for, not a press of everything', () => {
    expect(testTriggerOf('pendant')).toEqual({
      passes: ['pendant.pressed'],
      action: 'press the pendant button',
    });
    expect(testTriggerOf('bed-sensor').passes).toEqual(['bed.occupied']);
    expect(testTriggerOf('bed-sensor').action).toMatch(/^get into bed/);
    expect(testTriggerOf('smoke-detector').action).toBe('press the smoke test button');
    expect(testTriggerOf('door-contact').action).toBe('open the door');
    expect(testTriggerOf('door-contact').passes).toEqual(['door.opened', 'door.closed']);
  });
});

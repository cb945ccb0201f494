import { describe, expect, it } from 'vitest';
import type { Principal } from './people.ts';
import { revealRefusal } from './reveal-policy.ts';

const person = (id: string, role: Principal['role']): Principal => ({ id, username: id, name: id, role });
const olive = person('usr_olive', 'operator');
const mallory = person('usr_mallory', 'operator');
const sue = person('usr_sue', 'supervisor');

describe('revealRefusal', () => {
  it('lets the operator holding an accepted or held case read, and nobody else of that role', () => {
    for (const state of ['accepted', 'on_hold'] as const) {
      expect(revealRefusal({ state, assignedTo: olive.id }, olive)).toBeUndefined();
      expect(revealRefusal({ state, assignedTo: olive.id }, mallory)).toMatch(/another operator/);
    }
  });

  it('refuses operators on queued or offered cases, even when offered to them', () => {
    expect(revealRefusal({ state: 'queued', assignedTo: null }, olive)).toMatch(/accept the case/);
    expect(revealRefusal({ state: 'offered', assignedTo: null }, olive)).toMatch(/accept the case/);
  });

  it('lets a supervisor or admin read on any open case, and nobody on a resolved or closed one', () => {
    const admin = person('admin', 'admin');
    for (const state of ['queued', 'offered', 'accepted', 'on_hold'] as const)
      for (const who of [sue, admin])
        expect(revealRefusal({ state, assignedTo: olive.id }, who)).toBeUndefined();
    for (const state of ['resolved', 'closed'] as const)
      for (const who of [olive, sue, admin])
        expect(revealRefusal({ state, assignedTo: olive.id }, who)).toMatch(new RegExp(state));
  });

  it('refuses roles that do not work cases', () => {
    expect(revealRefusal({ state: 'accepted', assignedTo: 'x' }, person('i', 'installer'))).toBeDefined();
    expect(revealRefusal({ state: 'accepted', assignedTo: 'x' }, person('c', 'commissioner'))).toBeDefined();
  });
});

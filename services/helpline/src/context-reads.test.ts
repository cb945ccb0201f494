import { describe, expect, it } from 'vitest';
import { caseInHand, ownContextRead, readGround } from './context-reads.ts';
import { ADMIN_PRINCIPAL, type Principal } from './people.ts';

const operator: Principal = { id: 'usr_op', username: 'op', name: 'op', role: 'operator' };
const supervisor: Principal = { id: 'usr_sup', username: 'sup', name: 'sup', role: 'supervisor' };
const open = { state: 'accepted', assignedTo: 'usr_other', offeredTo: null } as const;

describe('ownContextRead', () => {
  it("is the reader's own work: held or offered to them, queued, or any open case for a supervisor", () => {
    expect(ownContextRead({ ...open, assignedTo: operator.id }, operator)).toBe(true);
    expect(ownContextRead({ ...open, state: 'on_hold', assignedTo: operator.id }, operator)).toBe(true);
    expect(ownContextRead({ state: 'offered', assignedTo: null, offeredTo: operator.id }, operator)).toBe(
      true,
    );
    expect(ownContextRead({ state: 'queued', assignedTo: null, offeredTo: null }, operator)).toBe(true);
    expect(ownContextRead(open, supervisor)).toBe(true);
    expect(ownContextRead({ ...open, state: 'resolved' }, ADMIN_PRINCIPAL)).toBe(true);
  });

  it("is not: a colleague's case for an operator, and history for anyone", () => {
    expect(ownContextRead(open, operator)).toBe(false);
    expect(ownContextRead({ state: 'offered', assignedTo: null, offeredTo: 'usr_other' }, operator)).toBe(
      false,
    );
    expect(ownContextRead({ ...open, state: 'resolved', assignedTo: operator.id }, operator)).toBe(false);
    expect(ownContextRead({ ...open, state: 'closed' }, supervisor)).toBe(false);
  });
});

describe('caseInHand', () => {
  it('is the case a person holds (accepted or on hold) or is offered, whatever their role', () => {
    expect(caseInHand({ ...open, assignedTo: operator.id }, operator)).toBe(true);
    expect(caseInHand({ ...open, state: 'on_hold', assignedTo: operator.id }, operator)).toBe(true);
    expect(caseInHand({ state: 'offered', assignedTo: null, offeredTo: operator.id }, operator)).toBe(true);
    expect(caseInHand({ ...open, assignedTo: supervisor.id }, supervisor)).toBe(true);
  });

  it('is not the queue, a colleague’s case, any open case for a supervisor, or history', () => {
    expect(caseInHand({ state: 'queued', assignedTo: null, offeredTo: null }, operator)).toBe(false);
    expect(caseInHand({ state: 'offered', assignedTo: null, offeredTo: 'usr_other' }, operator)).toBe(false);
    expect(caseInHand(open, operator)).toBe(false);
    expect(caseInHand(open, supervisor)).toBe(false);
    expect(caseInHand({ state: 'queued', assignedTo: null, offeredTo: null }, supervisor)).toBe(false);
    expect(caseInHand({ ...open, state: 'resolved', assignedTo: operator.id }, operator)).toBe(false);
  });
});

describe('readGround', () => {
  it("names why a read is the reader's work, and `outside` when it is not", () => {
    const queued = { state: 'queued', assignedTo: null, offeredTo: null } as const;
    expect(readGround({ ...open, assignedTo: operator.id }, operator)).toBe('in-hand');
    expect(readGround({ ...open, assignedTo: supervisor.id }, supervisor)).toBe('in-hand');
    expect(readGround(queued, operator)).toBe('queue');
    expect(readGround(queued, supervisor)).toBe('queue');
    expect(readGround({ state: 'offered', assignedTo: null, offeredTo: null }, operator)).toBe('queue');
    expect(readGround(open, supervisor)).toBe('oversight');
    expect(readGround({ ...open, state: 'closed' }, ADMIN_PRINCIPAL)).toBe('program');
    expect(readGround(open, operator)).toBe('outside');
    expect(readGround({ ...open, state: 'resolved' }, supervisor)).toBe('outside');
  });
});

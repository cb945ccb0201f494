import type { HelplineCase } from '@telecare/contracts';
import { ADMIN_PRINCIPAL, type Principal } from './people.ts';

/** A case as far as who may read it: its state and who holds it or is offered it. */
type CaseHands = Pick<HelplineCase, 'state' | 'assignedTo' | 'offeredTo'>;

/**
 * On what ground `who` reads the resident of case `c` (their context, the numbers to call, the
 * case's steps): the case in their hand (held or offered to them), a case waiting in the queue
 * (anyone may look before accepting it), any other open case for a supervisor or admin, who
 * oversee them all (`oversight`), the admin token (the deployment's own program, not a person).
 * What is left is `outside`: history (a resolved or closed case) and, for an operator, a case a
 * colleague holds or is offered; reading those in bulk is how a person would copy the register.
 * Every read is logged with its ground, whatever it is: only `outside` is limited.
 */
export type ReadGround = 'in-hand' | 'queue' | 'oversight' | 'program' | 'outside';

export function readGround(c: CaseHands, who: Principal): ReadGround {
  if (who.id === ADMIN_PRINCIPAL.id) return 'program';
  if (c.state === 'resolved' || c.state === 'closed') return 'outside';
  if (caseInHand(c, who)) return 'in-hand';
  if (c.state === 'queued' || (c.state === 'offered' && c.offeredTo === null)) return 'queue';
  if (who.role === 'supervisor' || who.role === 'admin') return 'oversight';
  return 'outside';
}

/**
 * Whether reading the resident of case `c` is the reader's own work (`readGround`), never limited
 * by CONTEXT_READS_PER_HOUR: an alarm call is never held up by it, nor an operator clicking through
 * the queue in a storm, nor a supervisor overseeing the floor. Logged all the same.
 */
export const ownContextRead = (c: CaseHands, who: Principal): boolean => readGround(c, who) !== 'outside';

/**
 * Whether case `c` is in `who`'s hand: accepted or on hold by them, or offered to them. Only these
 * are read past the person's read budget (REQUESTS_PER_MINUTE), under a bound of their own
 * (CASE_IN_HAND_READS_PER_MINUTE): an operator answering an alarm is never refused it, however
 * many reads came before. A case waiting in the queue is anyone's to accept (a write, never refused
 * by the budget) but in no one's hand, and a supervisor oversees every open case without holding
 * them: reads of those count against the budget, or a stolen session could read them in a loop.
 */
export function caseInHand(c: CaseHands, who: Principal): boolean {
  if (c.state === 'offered') return c.offeredTo === who.id;
  return (c.state === 'accepted' || c.state === 'on_hold') && c.assignedTo === who.id;
}

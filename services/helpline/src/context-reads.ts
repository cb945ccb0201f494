import type { HelplineCase } from '@telecare/contracts';
import { ADMIN_PRINCIPAL, type Principal } from './people.ts';

/**
 * Whether reading the resident of case `c` (their context, the numbers to call) is the reader's
 * own work, never limited: the case an operator holds or is offered, a case waiting in the queue
 * (anyone may look before accepting it), any open case for a supervisor or admin, who oversee
 * them all. What is left is history (a resolved or closed case) and, for an operator, a case a
 * colleague holds or is offered: reading those in bulk is how a person would copy the register.
 * The admin token is the deployment's own program, not a person.
 */
export function ownContextRead(
  c: Pick<HelplineCase, 'state' | 'assignedTo' | 'offeredTo'>,
  who: Principal,
): boolean {
  if (who.id === ADMIN_PRINCIPAL.id) return true;
  if (c.state === 'resolved' || c.state === 'closed') return false;
  if (who.role === 'supervisor' || who.role === 'admin') return true;
  if (c.state === 'queued') return true;
  if (c.state === 'offered') return c.offeredTo === who.id || c.offeredTo === null;
  return c.assignedTo === who.id;
}

/**
 * Whether case `c` is in `who`'s hand: accepted or on hold by them, or offered to them. Only these
 * are read past the person's read budget (REQUESTS_PER_MINUTE), under a bound of their own
 * (CASE_IN_HAND_READS_PER_MINUTE): an operator answering an alarm is never refused it, however
 * many reads came before. A case waiting in the queue is anyone's to accept (a write, never refused
 * by the budget) but in no one's hand, and a supervisor oversees every open case without holding
 * them: reads of those count against the budget, or a stolen session could read them in a loop.
 */
export function caseInHand(
  c: Pick<HelplineCase, 'state' | 'assignedTo' | 'offeredTo'>,
  who: Principal,
): boolean {
  if (c.state === 'offered') return c.offeredTo === who.id;
  return (c.state === 'accepted' || c.state === 'on_hold') && c.assignedTo === who.id;
}

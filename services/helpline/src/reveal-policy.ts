import type { HelplineCase } from '@telecare/contracts';
import type { Principal } from './people.ts';

/**
 * Why a principal may not read a case's key-safe code or medical summary now, or undefined when
 * it may: only while the case is open, and only the operator who holds it (accepted or on hold by
 * them); a supervisor or admin on any open case.
 */
export function revealRefusal(
  c: Pick<HelplineCase, 'state' | 'assignedTo'>,
  who: Principal,
): string | undefined {
  if (c.state === 'resolved' || c.state === 'closed') return `the case is ${c.state}`;
  if (who.role === 'supervisor' || who.role === 'admin') return undefined;
  if (who.role !== 'operator') return 'only operators, supervisors and admins read these fields';
  if ((c.state === 'accepted' || c.state === 'on_hold') && c.assignedTo === who.id) return undefined;
  return c.state === 'accepted' || c.state === 'on_hold'
    ? 'another operator holds this case'
    : 'accept the case before reading its key-safe code or medical summary';
}

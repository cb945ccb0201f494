import type { Alert } from '@telecare/contracts';
import { $, esc } from './dom.ts';
import { deviceText, timeText, typeLabel } from './format.ts';
import { beep } from './sound.ts';
import { state } from './state.ts';

/** An alarm the helpline holds but cannot make a case of (its database down or refusing writes). */
export type HeldAlarm = Pick<
  Alert,
  'priority' | 'type' | 'residentId' | 'deviceSerial' | 'deviceKind' | 'raisedAt' | 'testMode'
> & { readonly alertId: string };

/** What the helpline instance this console streams from holds now (`event: held`). */
let held: { alerts: HeldAlarm[]; total: number } = { alerts: [], total: 0 };
/** The P1s this console has sounded for: each new one sounds once as it comes, as a new P1 case does. */
const sounded = new Set<string>();

/** Whether a P1 waits in the panel: the reminder tone keeps sounding while one does. */
export const heldAlarmWaits = (): boolean => held.alerts.some((a) => a.priority === 1);

/**
 * The panel of alarms that are not yet in the queue: no case holds them while the case database is
 * down, so the queue cannot show them; the operator calls the resident from the phone system.
 */
export function heardHeld(next: { alerts: HeldAlarm[]; total: number }): void {
  held = next;
  const fresh = held.alerts.filter((a) => a.priority === 1 && !sounded.has(a.alertId));
  for (const a of fresh) sounded.add(a.alertId);
  const ids = new Set(held.alerts.map((a) => a.alertId));
  for (const id of [...sounded]) if (!ids.has(id)) sounded.delete(id);
  if (fresh.length > 0) beep(3);
  renderHeld();
}

function renderHeld(): void {
  const panel = $('held');
  panel.classList.toggle('hidden', held.alerts.length === 0);
  if (held.alerts.length === 0) {
    panel.innerHTML = '';
    return;
  }
  const items = held.alerts.map((a) => {
    const who = state.residentNames.get(a.residentId);
    const device = a.deviceSerial ? ` · ${esc(deviceText(a))}` : '';
    return `<li class="p${a.priority}"><strong>P${a.priority} ${esc(typeLabel(a.type))}</strong>${a.testMode ? ' (test)' : ''} · ${who ? `${esc(who)} (${esc(a.residentId)})` : `resident ${esc(a.residentId)}`}${device} · raised ${esc(timeText(a.raisedAt))}</li>`;
  });
  const more =
    held.total > held.alerts.length ? `<p>and ${held.total - held.alerts.length} more, older.</p>` : '';
  panel.innerHTML = `<h2 id="held-heading">Alarms not yet in the queue (${held.total})</h2><p>The case database cannot take new cases (down, or refusing writes): call the resident from your phone system; each alarm here becomes a case when the database takes writes again.</p><ul>${items.join('')}</ul>${more}`;
}

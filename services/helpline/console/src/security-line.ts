import type { SupervisorOverview } from '@telecare/contracts';
import type { z } from 'zod';
import { esc } from './dom.ts';
import { nameOf } from './state.ts';

type Listed = z.output<typeof SupervisorOverview>['securityEvents'][number];

/** Another service's event names the device (a serial or a DC-09 account), never a person. */
const fromDevice = (e: Listed): string => {
  if (e.service === 'helpline') return '';
  const device = typeof e.detail.serial === 'string' ? e.detail.serial : e.detail.account;
  return ` from ${esc(e.service)}${typeof device === 'string' ? `, device ${esc(device)}` : ''}`;
};

/**
 * Why triage did not take a device's cancel (`cancel-not-taken`): the alert it left for an operator,
 * whose resident (an id: the list carries no names), and what gave the login away.
 */
const cancelNotTaken = (d: Listed['detail']): string => {
  const why =
    typeof d.otherDevice === 'string'
      ? `the alert holds ${esc(d.otherDevice)}'s press`
      : `after ${esc(d.orphanCancels)} cancels with no alarm to cancel in the hour`;
  return `: its cancel of alert ${esc(d.alertId)} (resident ${esc(d.residentId)}) was not taken, ${why}`;
};

/** One security event as the supervisor's overview lists it (markup, every value escaped). */
export function securityEventLine(e: Listed): string {
  return `${esc(new Date(e.at).toLocaleTimeString())} ${esc(e.kind)}${e.userId ? ` by ${esc(nameOf(e.userId))}` : ''}${e.caseId ? ` on ${esc(e.caseId)}` : ''}${fromDevice(e)}${e.kind === 'cancel-not-taken' ? cancelNotTaken(e.detail) : ''}`;
}

import { type Alert, type Because, TAXONOMY } from '@telecare/contracts';

/**
 * Where an alert came from, as a case's `because` and its audit trail say it: the one device it is
 * from (serial and kind, as far as the alert names them), or, for an alert about the whole home or
 * an area (`TAXONOMY[type].about`), that instead: the device such an alert names is only the last
 * one that saw the person, not what raised it.
 */
export function sourceOf(
  alert: Pick<Alert, 'type' | 'deviceSerial' | 'deviceKind'>,
): Pick<Because, 'deviceSerial' | 'deviceKind' | 'about'> {
  const about = TAXONOMY[alert.type].about;
  if (about !== 'device') return { about };
  return {
    ...(alert.deviceSerial ? { deviceSerial: alert.deviceSerial } : {}),
    ...(alert.deviceKind ? { deviceKind: alert.deviceKind } : {}),
  };
}

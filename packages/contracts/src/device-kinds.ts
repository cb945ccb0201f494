/**
 * Device kinds in words. Kept apart from the schemas (nothing here needs zod), so that the
 * operator console's bundle takes these few lines (`@telecare/contracts/device-kinds`) and not
 * the schemas with them.
 */
import type { DeviceKind } from './taxonomy.ts';

/** Each kind as an operator says it, with its serial after it: "smoke detector SD-123". */
export const DEVICE_KIND_LABELS = {
  pendant: 'pendant',
  pullcord: 'pull-cord',
  'fall-detector': 'fall detector',
  'smoke-detector': 'smoke detector',
  'heat-detector': 'heat detector',
  'co-detector': 'carbon monoxide detector',
  'gas-detector': 'gas detector',
  'flood-detector': 'flood detector',
  'temperature-sensor': 'temperature sensor',
  'door-contact': 'door contact',
  pir: 'movement sensor',
  'bed-sensor': 'bed sensor',
  'chair-sensor': 'chair sensor',
  'medication-dispenser': 'medication dispenser',
  'epilepsy-sensor': 'epilepsy sensor',
  'enuresis-sensor': 'enuresis sensor',
  'bogus-caller-button': 'bogus caller button',
  'home-unit': 'home unit',
} as const satisfies Record<DeviceKind, string>;

/** A kind in words; one the registry does not know (a newer one's) by its id, dashes as spaces. */
export const deviceKindLabel = (kind: string): string =>
  Object.hasOwn(DEVICE_KIND_LABELS, kind)
    ? DEVICE_KIND_LABELS[kind as DeviceKind]
    : kind.replaceAll('-', ' ');

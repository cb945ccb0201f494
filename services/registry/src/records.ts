import { DeviceKind, DeviceProtocol, DeviceState } from '@telecare/contracts';
import type { z } from 'zod';

/** A `residents` row as pg returns it. */
export interface ResidentRow {
  id: string;
  name: string;
  address: string;
  postcode: string;
  postcode_district: string;
  phone: string | null;
  lives_alone: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A `devices` row as pg returns it. `kind` and `state` are checked on the way out (see toDevice). */
export interface DeviceRow {
  id: string;
  serial: string;
  resident_id: string | null;
  kind: string;
  model: string | null;
  protocol: string;
  location: string | null;
  supervision_interval_s: number | null;
  state: string;
  test_mode: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A resident as the API shows it. */
export interface Resident {
  id: string;
  name: string;
  address: string;
  postcode: string;
  postcodeDistrict: string;
  phone: string | null;
  livesAlone: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A device as the API shows it. */
export interface Device {
  id: string;
  serial: string;
  residentId: string | null;
  kind: DeviceKind;
  model: string | null;
  protocol: z.infer<typeof DeviceProtocol>;
  location: string | null;
  supervisionIntervalS: number | null;
  state: z.infer<typeof DeviceState>;
  testMode: boolean;
  createdAt: string;
  updatedAt: string;
}

export function toResident(row: ResidentRow): Resident {
  return {
    id: row.id,
    name: row.name,
    address: row.address,
    postcode: row.postcode,
    postcodeDistrict: row.postcode_district,
    phone: row.phone,
    livesAlone: row.lives_alone,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * The database does not constrain kind and state to the contracts' lists (so the taxonomy can
 * grow without a migration); parsing here means a row written by something else fails loudly
 * instead of reaching a gateway.
 */
export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    serial: row.serial,
    residentId: row.resident_id,
    kind: DeviceKind.parse(row.kind),
    model: row.model,
    protocol: DeviceProtocol.parse(row.protocol),
    location: row.location,
    supervisionIntervalS: row.supervision_interval_s,
    state: DeviceState.parse(row.state),
    testMode: row.test_mode,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

import {
  type CohortResidentView,
  Dc09CodeOverrides,
  Dc09KeyEncoding,
  DeviceKind,
  DeviceProtocol,
  DeviceState,
} from '@telecare/contracts';
import type { z } from 'zod';

/** What a normal read shows in place of a sensitive field that is set. */
export const MASK = '••••••';

/** A `residents` row as pg returns it. */
export interface ResidentRow {
  id: string;
  external_ref: string | null;
  name: string;
  address: string;
  postcode: string;
  postcode_district: string;
  phone: string | null;
  lives_alone: boolean;
  mobility_notes: string | null;
  risk_notes: string | null;
  key_safe_enc: string | null;
  medical_summary_enc: string | null;
  consent_given: boolean;
  consent_at: Date | null;
  /** A `date` column: pg gives local midnight of that day (see dayOf). */
  referred_on?: Date | null;
  first_installed_at?: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The day of a `date` column as pg returns it (local midnight), as `YYYY-MM-DD`. */
export function dayOf(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** A `devices` row as pg returns it. `kind` and `state` are checked on the way out (see toDevice). */
export interface DeviceRow {
  id: string;
  serial: string;
  resident_id: string | null;
  kind: string;
  model: string | null;
  voice_uri: string | null;
  protocol: string;
  location: string | null;
  supervision_interval_s: number | null;
  state: string;
  test_mode: boolean;
  dc09_account: string | null;
  dc09_key_enc: string | null;
  dc09_key_encoding: string;
  /** The key the last key change replaced, sealed as it was (this device's dc09Key), in its grace. */
  dc09_prev_key_enc: string | null;
  dc09_prev_key_encoding: string | null;
  dc09_prev_key_until: Date | null;
  dc09_key_changed_at: Date | null;
  /** Keyed fingerprints of the current and previous keys (`FieldCipher.fingerprint`); null: none, or not yet filled. */
  dc09_key_fp: string | null;
  dc09_prev_key_fp: string | null;
  credential_hash: string | null;
  credential_issued_at: Date | null;
  /** The issued secret sealed under the data key (broker repair); never shown. */
  credential_enc: string | null;
  /** jsonb, `{"CID 120": "fall.detected"}`; checked against the contracts on the way out. */
  dc09_code_overrides: unknown;
  /** The zone the DC-09 panel's clock is on (IANA name); null: UTC. */
  dc09_clock_zone: string | null;
  /** When the device joined its resident's home (set by the database when resident_id changes). */
  paired_at: Date | null;
  /**
   * The device's pairing before this one (set by the database when a resident it had is replaced):
   * whose, since when (where known) and until when. Null when it had none since this was kept.
   */
  previous_resident_id: string | null;
  previous_paired_at: Date | null;
  previous_pairing_ended_at: Date | null;
  /**
   * When the device entered stock before its pairing (or the spell in stock it is in): registered
   * into stock, or taken back from a home (set by the database). Null when it came straight from a
   * home, was registered with its resident, or entered stock before this was kept.
   */
  stocked_at: Date | null;
  decommissioned_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** A resident as the API shows it. */
export interface Resident {
  id: string;
  /** The commissioning organisation's reference (`ref` in residents.csv), unique; null when none. */
  externalRef: string | null;
  name: string;
  address: string;
  postcode: string;
  postcodeDistrict: string;
  phone: string | null;
  livesAlone: boolean;
  mobilityNotes: string | null;
  riskNotes: string | null;
  /** Masked: `MASK` when set, null when not; the value only comes from the audited reveal. */
  keySafe: string | null;
  medicalSummary: string | null;
  consent: boolean;
  consentAt: string | null;
  /** When the resident was referred for telecare (a day); null when not recorded. */
  referredOn: string | null;
  /** When a device was first installed in the home (or the day given from earlier records); null: not yet. */
  firstInstalledAt: string | null;
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
  /** The device's speech line (a home unit): a phone number or sip: URI; null when it has none. */
  voiceUri: string | null;
  protocol: z.infer<typeof DeviceProtocol>;
  location: string | null;
  supervisionIntervalS: number | null;
  state: z.infer<typeof DeviceState>;
  testMode: boolean;
  dc09Account: string | null;
  dc09KeyEncoding: 'hex' | 'ascii';
  /** Whether a DC-09 key is stored; the key itself is never shown. */
  dc09KeySet: boolean;
  /** Until when the key the last key change replaced is accepted beside it (null: none is). */
  dc09PreviousKeyUntil: string | null;
  /** Vendor codes this account maps differently from the standard tables (DC-09 only). */
  dc09CodeOverrides: z.infer<typeof Dc09CodeOverrides>;
  /** The zone the panel's clock is on, when not UTC (DC-09 only): its timestamps are read there. */
  dc09ClockZone: string | null;
  /** When the current MQTT secret was issued (null: none); the secret is shown once only. */
  credentialIssuedAt: string | null;
  decommissionedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export function toResident(row: ResidentRow): Resident {
  return {
    id: row.id,
    externalRef: row.external_ref ?? null,
    name: row.name,
    address: row.address,
    postcode: row.postcode,
    postcodeDistrict: row.postcode_district,
    phone: row.phone,
    livesAlone: row.lives_alone,
    mobilityNotes: row.mobility_notes,
    riskNotes: row.risk_notes,
    keySafe: row.key_safe_enc === null ? null : MASK,
    medicalSummary: row.medical_summary_enc === null ? null : MASK,
    consent: row.consent_given,
    consentAt: row.consent_at?.toISOString() ?? null,
    referredOn: row.referred_on ? dayOf(row.referred_on) : null,
    firstInstalledAt: row.first_installed_at?.toISOString() ?? null,
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
    voiceUri: row.voice_uri ?? null,
    protocol: DeviceProtocol.parse(row.protocol),
    location: row.location,
    supervisionIntervalS: row.supervision_interval_s,
    state: DeviceState.parse(row.state),
    testMode: row.test_mode,
    dc09Account: row.dc09_account,
    dc09KeyEncoding: Dc09KeyEncoding.parse(row.dc09_key_encoding),
    dc09KeySet: row.dc09_key_enc !== null,
    dc09PreviousKeyUntil:
      row.dc09_prev_key_enc === null ? null : (row.dc09_prev_key_until?.toISOString() ?? null),
    dc09CodeOverrides: Dc09CodeOverrides.parse(row.dc09_code_overrides ?? {}),
    dc09ClockZone: row.dc09_clock_zone ?? null,
    credentialIssuedAt: row.credential_issued_at?.toISOString() ?? null,
    decommissionedAt: row.decommissioned_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export interface Responder {
  id: string;
  name: string;
  relationship: string;
  phone: string;
  order: number;
}

export interface CarePackage {
  id: string;
  residentId: string;
  hoursPerWeek: number;
  startDate: string;
  endDate: string | null;
}

/** A declared away period (`GET /api/residents/:id/away`). */
export interface AwayRecord {
  id: string;
  residentId: string;
  from: string;
  until: string | null;
  reason: 'holiday' | 'hospital' | 'respite' | 'other';
  note: string | null;
  setBy: string;
  setAt: string;
  endedBy: string | null;
  endedAt: string | null;
}

/** One resident as the reports service sees them (`GET /api/cohort`): nothing that identifies. */
export type CohortFacts = CohortResidentView;

/** One event that reached a test call, the trigger or not. */
export interface TestArrival {
  type: string;
  /** Device time of the event. */
  at: string;
  eventId: string;
  /** Whether it is the event the device kind is tested with (TEST_TRIGGERS). */
  trigger: boolean;
  /** A DC-09 message that decrypted only with its account's previous key (the panel is not re-keyed). */
  previousKey?: true;
}

/** A message of the device a gateway refused: its dead letter's reason and words, never its bytes. */
export interface DeviceRefusal {
  reason: string;
  detail: string;
  /** When the gateway refused it. */
  at: string;
  deadLetterId: string;
}

/**
 * A life-critical alarm the gateways stored although the device's registered kind does not report
 * it (`mayReport`): a pendant registered as a pull-cord. Never refused, so no dead letter says so.
 */
export interface KindMismatch {
  type: string;
  /** The device's registered kind. */
  kind: string;
  /** In the installer's words: the type, the kind, and what to check. */
  detail: string;
  /** Event time of the alarm. */
  at: string;
  eventId: string;
}

/**
 * How far a test call got, in the installer's words: nothing yet; something arrived (a connection,
 * a heartbeat, a DC-09 poll) but not the trigger; an alarm arrived that the device's registered kind
 * does not report (the latest named); the device's messages arrive but a gateway refuses them (the
 * latest refusal named); the trigger.
 */
export type TestProgress =
  | 'nothing arrived yet'
  | 'connected, no trigger yet'
  | `kind mismatch: ${string}`
  | `messages arrive but are refused: ${string}`
  | 'trigger arrived';

export interface TestCall {
  id: string;
  serial: string;
  kind: DeviceKind;
  /** The event types that pass this test: the device kind's trigger. */
  expected: readonly string[];
  /** What the installer is asked to do ("press the pendant button", "get into bed"). */
  action: string;
  status: 'waiting' | 'passed' | 'failed' | 'cancelled';
  progress: TestProgress;
  /** When the first event of any type arrived from the device during the test. */
  connectedAt: string | null;
  /** What arrived during the test, in order (at most the first 20, then the trigger). */
  arrived: TestArrival[];
  /** The device's messages refused during the test, oldest first (at most 20, the newest kept). */
  refused: DeviceRefusal[];
  /** Alarms that arrived although the device's registered kind does not report them (at most 20). */
  mismatched: KindMismatch[];
  /** What to put right although the test passed: an alarm stored despite its form or kind, refusals. */
  warnings: string[];
  startedAt: string;
  deadline: string;
  finishedAt: string | null;
  reason: string | null;
  eventId: string | null;
  eventType: string | null;
  latencyMs: number | null;
  batteryPercent: number | null;
  signalDbm: number | null;
}

export interface LoginContested {
  at: string;
  eventId: string;
  /** Takeovers within the gateway's window, and the distinct addresses they came from. */
  takeovers: number | null;
  addresses: number | null;
}

export interface DeviceHealth {
  serial: string;
  residentId: string | null;
  state: string;
  supervisionIntervalS: number | null;
  lastEventAt: string | null;
  lastEventType: string | null;
  lastHeartbeatAt: string | null;
  batteryPercent: number | null;
  mains: boolean | null;
  signalDbm: number | null;
  lastPendantAt: string | null;
  /** Past its supervision interval without a heartbeat (counted from installation if none yet). */
  overdue: boolean;
  overdueSince: string | null;
  /** The device's messages refused by a gateway over the last 24 hours (counted to the minute). */
  refusedLast24h: number;
  lastRefusal: DeviceRefusal | null;
  /**
   * The latest life-critical alarm stored although the device's kind does not report it, over the
   * last 24 hours.
   */
  lastKindMismatch: KindMismatch | null;
  /**
   * The latest finding that the device's login is in use from two places (gateway-mqtt's
   * `device.login-contested`), until the device is issued a new secret.
   */
  lastLoginContested: LoginContested | null;
  /**
   * The kind mismatches of the last 24 hours (counted to the minute, each event once): how many,
   * and the first and last seen (event time); null when there was none.
   */
  kindMismatchesLast24h: { count: number; firstAt: string; lastAt: string } | null;
  /** A DC-09 previous key in its grace, and when it was last used since the key change. */
  dc09PreviousKey: { until: string; lastUsedAt: string | null } | null;
}

import { createHash } from 'node:crypto';
import {
  DeviceKind,
  defaultTokenDays,
  newId,
  type ResidentAwayEntry,
  readRepairedAlarm,
  testTriggerOf,
} from '@telecare/contracts';
import { type Pool, type PoolClient, TokenStore, withTransaction } from '@telecare/platform';
import type { QueryResultRow } from 'pg';
import type { DeviceCredential } from './credentials.ts';
import { dc09KeyBytes, type FieldCipher } from './crypto.ts';
import {
  DependencyError,
  DuplicateSerialError,
  NotFoundError,
  RateLimitedError,
  RefusedError,
  UnknownResidentError,
} from './errors.ts';
import { kindMismatchDetail } from './kind-mismatch.ts';
import {
  type AwayRecord,
  type CarePackage,
  type CohortFacts,
  type Device,
  type DeviceHealth,
  type DeviceRefusal,
  type DeviceRow,
  dayOf,
  type KindMismatch,
  type Resident,
  type ResidentRow,
  type Responder,
  type TestArrival,
  type TestCall,
  toDevice,
  toResident,
} from './records.ts';
import {
  type ApiRole,
  type SensitiveField,
  sharedKeyProblem,
  type UpdateDeviceBody,
  type UpdateResidentBody,
} from './schemas.ts';

/** Who a reveal is for and who asked: the person (as data), the case, and the calling token. */
export interface RevealAudit {
  readonly actor: { readonly id: string; readonly role: string };
  readonly caseId?: string | undefined;
  readonly reason: string;
  readonly via: { readonly actor: string; readonly role: ApiRole };
}

/** One recorded read of a sensitive field. */
export interface SensitiveRead {
  field: string;
  reason: string | null;
  at: string;
  caseId: string | null;
  actor: { id: string; role: string | null };
  via: { actor: string; role: string | null };
}

export interface NewResident {
  externalRef?: string | null;
  name: string;
  address: string;
  /** Already normalised (see postcode.ts). */
  postcode: string;
  phone: string | null;
  livesAlone: boolean;
  mobilityNotes: string | null;
  riskNotes: string | null;
  keySafe: string | null;
  medicalSummary: string | null;
  consent: boolean;
  /** When referred for telecare (a day). */
  referredOn?: string | null;
  /** When telecare was first installed, from records kept before the registry (a day). */
  firstInstalledOn?: string | null;
}

/**
 * What is wrong with a resident's referral and first-install days: in the future (by the
 * service's clock), or an install before the referral. Empty when nothing is.
 */
export function referralDayIssues(
  days: { referredOn: string | null; firstInstalledOn: string | null },
  now: Date,
): { path: 'referredOn' | 'firstInstalledOn'; message: string }[] {
  const today = now.toISOString().slice(0, 10);
  const issues: { path: 'referredOn' | 'firstInstalledOn'; message: string }[] = [];
  for (const path of ['referredOn', 'firstInstalledOn'] as const) {
    const day = days[path];
    if (day && day > today) issues.push({ path, message: 'must not be in the future' });
  }
  if (days.referredOn && days.firstInstalledOn && days.firstInstalledOn < days.referredOn)
    issues.push({
      path: 'firstInstalledOn',
      message: `must be on or after the referral (${days.referredOn})`,
    });
  return issues;
}

function checkReferralDays(
  days: { referredOn: string | null; firstInstalledOn: string | null },
  now: Date,
): void {
  const issues = referralDayIssues(days, now);
  if (issues.length > 0)
    throw new RefusedError(
      422,
      'referral-dates',
      issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      issues,
    );
}

/** A day as the start of that day in UTC, for a timestamptz column. */
const startOfDay = (day: string | null | undefined): Date | null =>
  day ? new Date(`${day}T00:00:00Z`) : null;

/** A reference already in use: a 409 naming its holder. */
function duplicateRef(ref: string, holder = 'another resident'): RefusedError {
  return new RefusedError(409, 'duplicate-ref', `reference ${ref} is already used by ${holder}`, [
    { path: 'externalRef', message: `already used by ${holder}` },
  ]);
}

/**
 * Rows written in one statement (`insertMany`): an import's thousands a chunk at a time, each
 * statement's arrays a few megabytes at most.
 */
const WRITE_CHUNK = 2_000;

type Columns = ReadonlyArray<readonly [name: string, type: string]>;

const RESIDENT_COLUMNS: Columns = [
  ['id', 'text'],
  ['name', 'text'],
  ['address', 'text'],
  ['postcode', 'text'],
  ['phone', 'text'],
  ['lives_alone', 'boolean'],
  ['mobility_notes', 'text'],
  ['risk_notes', 'text'],
  ['key_safe_enc', 'text'],
  ['medical_summary_enc', 'text'],
  ['consent_given', 'boolean'],
  ['consent_at', 'timestamptz'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['external_ref', 'text'],
  ['referred_on', 'date'],
  ['first_installed_at', 'timestamptz'],
];

const DEVICE_COLUMNS: Columns = [
  ['id', 'text'],
  ['serial', 'text'],
  ['resident_id', 'text'],
  ['kind', 'text'],
  ['model', 'text'],
  ['protocol', 'text'],
  ['location', 'text'],
  ['supervision_interval_s', 'integer'],
  ['state', 'text'],
  ['test_mode', 'boolean'],
  ['dc09_account', 'text'],
  ['dc09_key_enc', 'text'],
  ['dc09_key_encoding', 'text'],
  ['credential_hash', 'text'],
  ['credential_issued_at', 'timestamptz'],
  ['created_at', 'timestamptz'],
  ['updated_at', 'timestamptz'],
  ['credential_enc', 'text'],
  ['dc09_code_overrides', 'jsonb'],
  ['voice_uri', 'text'],
  ['dc09_clock_zone', 'text'],
  ['dc09_key_fp', 'text'],
];

/**
 * Inserts `rows` (values in the order of `columns`) in one statement, each column sent as one array
 * and read back with `unnest`, so a thousand rows cost one round trip. The table's triggers run for
 * each row as for a single insert. A row that meets a unique constraint is skipped, not raised, and
 * left out of what is returned (`returning`): the caller says which and why, and keeps the others.
 */
async function insertMany<R extends QueryResultRow>(
  db: Pick<PoolClient, 'query'>,
  table: string,
  columns: Columns,
  rows: ReadonlyArray<readonly unknown[]>,
  returning: string,
): Promise<R[]> {
  if (rows.length === 0) return [];
  const { rows: written } = await db.query<R>(
    `insert into ${table} (${columns.map(([name]) => name).join(', ')})
     select * from unnest(${columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
     on conflict do nothing
     returning ${returning}`,
    columns.map((_, i) => rows.map((row) => row[i])),
  );
  return written;
}

/** Why a new device's row was not written (`insertDevices`): checked as it was written. */
export type DeviceNotWritten =
  | { refused: 'unknown-resident' }
  | { refused: 'duplicate-serial'; registered: string }
  | { refused: 'duplicate-dc09-account' }
  /** `heldBy`: the serial of the device that holds the key (REGISTRY_DC09_SHARED_KEY=refuse). */
  | { refused: 'shared-dc09-key'; heldBy: string };

/** A registration's refusal for a device not written. */
function deviceRefusal(input: NewDevice, why: DeviceNotWritten): RefusedError {
  switch (why.refused) {
    case 'unknown-resident':
      return new UnknownResidentError(input.residentId ?? '');
    case 'duplicate-serial':
      return new DuplicateSerialError(input.serial, { registered: why.registered });
    case 'duplicate-dc09-account':
      return new RefusedError(
        409,
        'duplicate-dc09-account',
        `DC-09 account ${input.dc09Account} is already in use`,
        [{ path: 'dc09Account', message: 'already in use by another device' }],
      );
    case 'shared-dc09-key':
      return sharedKeyRefusal(why.heldBy);
  }
}

/** A DC-09 key refused because the device `heldBy` holds it: named, the key never said. */
export function sharedKeyRefusal(heldBy: string): RefusedError {
  const message = sharedKeyProblem(`device ${heldBy}`);
  return new RefusedError(409, 'shared-dc09-key', message, [{ path: 'dc09Key', message }]);
}

/** A device holding DC-09 keys, by fingerprint (`RegistryStore.dc09KeyHolders`). */
export interface Dc09KeyHolder {
  id: string;
  serial: string;
  dc09Account: string | null;
}

export interface NewDevice {
  serial: string;
  residentId: string | null;
  kind: DeviceKind;
  model: string | null;
  /** A home unit's speech line (phone number or sip: URI). */
  voiceUri?: string | null;
  protocol: 'mqtt' | 'dc09';
  location: string | null;
  supervisionIntervalS: number | null;
  dc09Account: string | null;
  dc09Key: string | null;
  dc09KeyEncoding: 'hex' | 'ascii';
  /** Validated against the contracts' Dc09CodeOverrides (see schemas.ts). */
  dc09CodeOverrides?: Record<string, string>;
  /** An IANA zone name, checked and made canonical by the request schema; null or absent: UTC. */
  dc09ClockZone?: string | null;
}

/**
 * What MQTT secret a device held before a write: none issued, or one (its value when it can be
 * recovered, sealed under the data key; null when it cannot).
 */
export type HeldSecret = { issued: false } | { issued: true; hash: string; secret: string | null };

/**
 * Work done before a write commits (installing broker credentials), told the secret the device
 * held before it: if it throws, nothing is written.
 */
export type BeforeCommit = (device: Device, held: HeldSecret) => Promise<void>;

/** How a device awaiting a broker repair was repaired: its secret given back, or its client removed. */
export type BrokerRepairOutcome = 'secret-restored' | 'client-removed';

export interface Page {
  limit: number;
  offset: number;
}

/** A device row with the fields of its resident the device map needs. */
export interface MapRows {
  device: DeviceRow;
  resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null;
}

interface MapJoinRow extends DeviceRow {
  r_id: string | null;
  r_postcode_district: string | null;
  r_updated_at: Date | null;
}

/** Refuses a change to a DC-09 setting (`field`, the device's DC-09 `what`) of a device on MQTT. */
function onlyDc09(row: DeviceRow, field: keyof UpdateDeviceBody, what: string): void {
  if (row.protocol === 'dc09') return;
  throw new RefusedError(422, 'not-dc09', `device ${row.serial} reports over MQTT and has no DC-09 ${what}`, [
    { path: field, message: 'only for protocol dc09' },
  ]);
}

/** How long a replaced DC-09 key is still accepted by default: 72 h, for an installer to re-key the panel. */
export const DEFAULT_DC09_KEY_GRACE_S = 72 * 3600;

/** The key a DC-09 key change replaced, as the device row keeps it. */
interface PreviousKeyColumns {
  enc: string | null;
  encoding: string | null;
  until: Date | null;
  changedAt: Date | null;
}

const PG_UNIQUE_VIOLATION = '23505';
const PG_FOREIGN_KEY_VIOLATION = '23503';

const pgCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

const SENSITIVE_COLUMN: Record<SensitiveField, 'key_safe_enc' | 'medical_summary_enc'> = {
  keySafe: 'key_safe_enc',
  medicalSummary: 'medical_summary_enc',
};

/** The registry's tables in its own schema. Every write is one transaction. */
export class RegistryStore {
  readonly #pool: Pool;
  readonly #cipher: FieldCipher | undefined;
  readonly #dc09KeyGraceMs: number;
  readonly #dc09SharedKey: 'refuse' | 'allow';
  readonly #residents: string;
  readonly #devices: string;
  readonly #tokens: TokenStore;
  readonly #t: (table: string) => string;

  /** Why sensitive fields are refused when there is no usable cipher. */
  readonly #noCipher: string;

  readonly #schema: string;
  /** This process's turn at `exclusively`: one waits here, not on a pooled connection. */
  #turn: Promise<unknown> = Promise.resolve();

  constructor(
    pool: Pool,
    schema: string,
    cipher?: FieldCipher,
    noCipherReason?: string,
    /** How long a DC-09 key a key change replaces is still accepted (REGISTRY_DC09_KEY_GRACE_S). */
    dc09KeyGraceS: number = DEFAULT_DC09_KEY_GRACE_S,
    /** Whether a DC-09 key another device holds is refused (REGISTRY_DC09_SHARED_KEY). */
    dc09SharedKey: 'refuse' | 'allow' = 'refuse',
  ) {
    this.#dc09KeyGraceMs = dc09KeyGraceS * 1000;
    this.#dc09SharedKey = dc09SharedKey;
    this.#pool = pool;
    this.#schema = schema;
    this.#cipher = cipher;
    this.#noCipher = noCipherReason ?? 'REGISTRY_DATA_KEY is not set';
    // Qualified names rather than search_path: the pool's connections are shared and reused.
    this.#t = (table) => `${quoteIdent(schema)}.${table}`;
    this.#residents = this.#t('residents');
    this.#devices = this.#t('devices');
    this.#tokens = new TokenStore(pool, schema, {
      secretPrefix: 'tct_',
      newId: (at) => newId('tok', at.getTime()),
    });
  }

  get pool(): Pool {
    return this.#pool;
  }

  /**
   * Runs `work` while no other `exclusively(what)` runs on this schema, in this registry or
   * another: a PostgreSQL advisory lock across instances, taken in turn within this one (so the
   * waiting holds no pooled connection). For work that reads, decides and then writes, as an
   * import does, which must not decide on what another one is half-way through writing.
   */
  async exclusively<T>(what: string, work: () => Promise<T>): Promise<T> {
    const mine = this.#turn.then(async () => (await this.#advisory(what, 'pg_advisory_lock', work))!.done);
    this.#turn = mine.catch(() => undefined);
    return mine;
  }

  /**
   * Runs `work` only if no `exclusively(what)` runs now, in any registry (holding it off meanwhile);
   * undefined, without running it, when one does.
   */
  async unlessBusy<T>(what: string, work: () => Promise<T>): Promise<{ done: T } | undefined> {
    return this.#advisory(what, 'pg_try_advisory_lock', work);
  }

  async #advisory<T>(
    what: string,
    lock: 'pg_advisory_lock' | 'pg_try_advisory_lock',
    work: () => Promise<T>,
  ): Promise<{ done: T } | undefined> {
    const client = await this.#pool.connect();
    const key = `${this.#schema}:${what}`;
    // A connection that could not unlock is closed, not pooled: closing it frees the lock.
    let broken: Error | undefined;
    try {
      const { rows } = await client.query<{ held: boolean | null }>(`select ${lock}(hashtext($1)) as held`, [
        key,
      ]);
      if (rows[0]?.held === false) return undefined;
      try {
        return { done: await work() };
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [key]).catch((err: Error) => {
          broken = err;
        });
      }
    } finally {
      client.release(broken);
    }
  }

  /** Whether sensitive fields can be stored (a data key is configured). */
  get canSeal(): boolean {
    return this.#cipher !== undefined;
  }

  /** Encrypts a sensitive value, or refuses (naming the field) when no data key is configured. */
  seal(value: string | null, recordId: string, field: string): string | null {
    if (value === null) return null;
    if (!this.#cipher) {
      throw new RefusedError(
        422,
        'sensitive-fields-disabled',
        `${field} cannot be stored: ${this.#noCipher}`,
        [{ path: field, message: 'cannot be stored without REGISTRY_DATA_KEY (encryption at rest)' }],
      );
    }
    return this.#cipher.encrypt(value, recordId, field);
  }

  open(stored: string | null, recordId: string, field: string): string | null {
    if (stored === null) return null;
    if (!this.#cipher) {
      throw new RefusedError(422, 'sensitive-fields-disabled', `${field} cannot be read: ${this.#noCipher}`);
    }
    return this.#cipher.decrypt(stored, recordId, field);
  }

  /** Whether a DC-09 key another device holds is refused (REGISTRY_DC09_SHARED_KEY=refuse). */
  get refusesSharedKeys(): boolean {
    return this.#dc09SharedKey === 'refuse' && this.#cipher !== undefined;
  }

  /**
   * The keyed fingerprint of a DC-09 key, of its bytes as the gateway uses them (hex decoded), or
   * null for no key, or without a data key (no key can be stored then).
   */
  dc09KeyFingerprint(key: string | null, encoding: string): string | null {
    if (key === null || !this.#cipher) return null;
    return this.#cipher.fingerprint(dc09KeyBytes(key, encoding));
  }

  /** The fingerprint of a device row's sealed key (this device's dc09Key), or null for none. */
  #sealedKeyFingerprint(row: { id: string }, enc: string | null, encoding: string | null): string | null {
    return enc === null
      ? null
      : this.dc09KeyFingerprint(this.open(enc, row.id, 'dc09Key'), encoding ?? 'hex');
  }

  /**
   * The devices holding each of the DC-09 keys `fingerprints` name, as their current key or as a
   * previous key still in its grace at `now`. Rows whose fingerprints are not filled yet (written
   * before they were kept) are opened and compared, so none is missed.
   */
  async dc09KeyHolders(
    fingerprints: readonly string[],
    now: Date,
    db: Pick<PoolClient, 'query'> = this.#pool,
  ): Promise<Map<string, Dc09KeyHolder[]>> {
    const held = new Map<string, Dc09KeyHolder[]>();
    if (fingerprints.length === 0 || !this.#cipher) return held;
    const { rows } = await db.query<
      Pick<
        DeviceRow,
        | 'id'
        | 'serial'
        | 'dc09_account'
        | 'dc09_key_fp'
        | 'dc09_prev_key_fp'
        | 'dc09_key_enc'
        | 'dc09_key_encoding'
        | 'dc09_prev_key_enc'
        | 'dc09_prev_key_encoding'
      > & { prev_live: boolean }
    >(
      `select id, serial, dc09_account, dc09_key_fp, dc09_prev_key_fp, dc09_key_enc, dc09_key_encoding,
              dc09_prev_key_enc, dc09_prev_key_encoding,
              coalesce(dc09_prev_key_until > $2, false) as prev_live
         from ${this.#devices}
        where dc09_key_fp = any($1::text[])
           or (dc09_prev_key_fp = any($1::text[]) and dc09_prev_key_until > $2)
           or (dc09_key_enc is not null and dc09_key_fp is null)
           or (dc09_prev_key_enc is not null and dc09_prev_key_fp is null and dc09_prev_key_until > $2)`,
      [fingerprints, now],
    );
    const wanted = new Set(fingerprints);
    for (const row of rows) {
      const current =
        row.dc09_key_fp ?? this.#sealedKeyFingerprint(row, row.dc09_key_enc, row.dc09_key_encoding);
      const previous = row.prev_live
        ? (row.dc09_prev_key_fp ??
          this.#sealedKeyFingerprint(row, row.dc09_prev_key_enc, row.dc09_prev_key_encoding))
        : null;
      for (const fp of new Set([current, previous])) {
        if (fp === null || !wanted.has(fp)) continue;
        const holders = held.get(fp) ?? [];
        holders.push({ id: row.id, serial: row.serial, dc09Account: row.dc09_account });
        held.set(fp, holders);
      }
    }
    return held;
  }

  /**
   * Holds the DC-09 keys `fingerprints` name until the transaction ends (advisory locks, taken in
   * one order): two writes giving one key at once are checked one after the other, so the second
   * sees the first's row.
   */
  async #lockDc09Keys(db: Pick<PoolClient, 'query'>, fingerprints: Iterable<string>): Promise<void> {
    const ids = [...new Set(fingerprints)]
      .map((fp) => createHash('sha256').update(`${this.#schema}\u001f${fp}`).digest().readBigInt64BE(0))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const id of ids) await db.query('select pg_advisory_xact_lock($1::bigint)', [id.toString()]);
  }

  /**
   * Fills the key fingerprints of rows written before they were kept (at start-up), `chunk` rows a
   * statement, each row's keys opened with the data key. Gives how many rows were filled.
   */
  async fillDc09KeyFingerprints(chunk = 500): Promise<number> {
    if (!this.#cipher) return 0;
    let filled = 0;
    let after = '';
    for (;;) {
      const { rows } = await this.#pool.query<
        Pick<
          DeviceRow,
          'id' | 'dc09_key_enc' | 'dc09_key_encoding' | 'dc09_prev_key_enc' | 'dc09_prev_key_encoding'
        >
      >(
        `select id, dc09_key_enc, dc09_key_encoding, dc09_prev_key_enc, dc09_prev_key_encoding
           from ${this.#devices}
          where ((dc09_key_enc is not null and dc09_key_fp is null)
              or (dc09_prev_key_enc is not null and dc09_prev_key_fp is null))
            and id > $2
          order by id limit $1`,
        [chunk, after],
      );
      if (rows.length === 0) return filled;
      after = rows[rows.length - 1]!.id;
      // Only while the sealed keys are still the ones read: a change since wrote its own fingerprints.
      const { rowCount } = await this.#pool.query(
        `update ${this.#devices} d
            set dc09_key_fp = f.key_fp, dc09_prev_key_fp = f.prev_fp
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                  as f(id, key_enc, key_fp, prev_enc, prev_fp)
          where d.id = f.id and d.dc09_key_enc is not distinct from f.key_enc
            and d.dc09_prev_key_enc is not distinct from f.prev_enc`,
        [
          rows.map((r) => r.id),
          rows.map((r) => r.dc09_key_enc),
          rows.map((r) => this.#sealedKeyFingerprint(r, r.dc09_key_enc, r.dc09_key_encoding)),
          rows.map((r) => r.dc09_prev_key_enc),
          rows.map((r) => this.#sealedKeyFingerprint(r, r.dc09_prev_key_enc, r.dc09_prev_key_encoding)),
        ],
      );
      filled += rowCount ?? 0;
      if (rows.length < chunk) return filled;
    }
  }

  /**
   * An issued MQTT secret sealed for the broker resync, or null without a data key: unlike the
   * other sensitive fields this one is optional (the broker works without it; only the repair of
   * a deleted broker client needs it), so its absence never refuses a registration.
   */
  sealCredential(secret: string | undefined, deviceId: string): string | null {
    return secret && this.#cipher ? this.#cipher.encrypt(secret, deviceId, 'credential') : null;
  }

  /**
   * Every MQTT device with what the broker should hold for it: `secret` is the issued secret when
   * it is live and sealed, null when live but not recoverable (no data key when it was issued),
   * and `live` false when the broker must not admit it at all (decommissioned, or never issued).
   */
  async mqttCredentials(): Promise<DeviceCredential[]> {
    const { rows } = await this.#pool.query<DeviceRow>(
      `select id, serial, state, credential_hash, credential_enc from ${this.#devices}
        where protocol = 'mqtt' order by serial`,
    );
    return rows.map((row) => this.#brokerCredential(row));
  }

  #brokerCredential(row: Pick<DeviceRow, 'id' | 'serial' | 'state' | 'credential_hash' | 'credential_enc'>) {
    const held = this.#heldSecret(row);
    const live = row.state !== 'decommissioned' && held.issued;
    return { serial: row.serial, live, secret: live && held.issued ? held.secret : null };
  }

  /** The secret a device's row holds: its value when sealed under this data key, else null. */
  #heldSecret(row: Pick<DeviceRow, 'id' | 'credential_hash' | 'credential_enc'>): HeldSecret {
    if (row.credential_hash === null) return { issued: false };
    const hash = row.credential_hash;
    if (row.credential_enc === null || !this.#cipher) return { issued: true, hash, secret: null };
    try {
      return { issued: true, hash, secret: this.#cipher.decrypt(row.credential_enc, row.id, 'credential') };
    } catch {
      return { issued: true, hash, secret: null }; // sealed under another key: not recoverable, re-issue needed
    }
  }

  /**
   * Records an issue of a new secret to the device as under way before it sends its first broker
   * command, in a write of its own that commits at once: a registry that dies between the broker
   * taking the new secret and the commit leaves the issue's token behind, and once the grace has
   * passed the repair gives the broker back the secret the row holds. The transaction recording the
   * outcome deletes the token (`#settle`); so does `endBrokerIssue` when the broker was not told
   * anything. The token (an id no other issue shares) names the issue to those calls, and to the
   * write, which checks it still stands before telling the broker (`#issueStands`). Undefined when
   * there is no MQTT device in service to issue to.
   */
  async beginBrokerIssue(serial: string, now: Date): Promise<string | undefined> {
    const { rows } = await this.#pool.query<{ id: string }>(
      `insert into ${this.#t('broker_issues')} (serial, began_at)
       select serial, $2 from ${this.#devices}
        where serial = $1 and protocol = 'mqtt' and state <> 'decommissioned'
       returning id`,
      [serial, now],
    );
    return rows[0]?.id;
  }

  /** An issue that sent the broker nothing takes back its token, and only its own. */
  async endBrokerIssue(issue: string): Promise<void> {
    await this.#pool.query(`delete from ${this.#t('broker_issues')} where id = $1`, [issue]);
  }

  /**
   * Ends an issue (`issue`, or none begun) whose outcome the broker now holds, as the row does: its
   * token deleted, and any mark left by an earlier issue cleared. Another issue still under way
   * keeps its own token, and so the repair's hands off, until its own outcome.
   */
  async #settle(db: Pick<PoolClient, 'query'>, serial: string, issue: string | null): Promise<void> {
    await db.query(`update ${this.#devices} set broker_unconfirmed_since = null where serial = $1`, [serial]);
    if (issue !== null) await db.query(`delete from ${this.#t('broker_issues')} where id = $1`, [issue]);
  }

  /**
   * Refuses an issue whose token is gone, in the transaction that holds the device's row lock and
   * before any broker command: the repair took it for the issue of a registry that died (it waited
   * past the grace, for a pool connection or the lock) and gave the broker the row's secret. Told
   * anything now, the broker would hold a secret no token protects should this registry die before
   * the commit.
   */
  async #issueStands(
    db: Pick<PoolClient, 'query'>,
    serial: string,
    issue: string | undefined,
  ): Promise<void> {
    if (issue === undefined) return;
    const { rowCount } = await db.query(`select 1 from ${this.#t('broker_issues')} where id = $1`, [issue]);
    if (rowCount === 0) {
      throw new DependencyError(
        `the issue of a new secret for ${serial} waited too long and was taken over by the broker repair: nothing was issued, the device keeps the one it had; try again`,
      );
    }
  }

  /**
   * Puts a device's broker login back as it was (`putBack`), with the device's row locked and only
   * while the row still holds the credential `hash` (null: no such device, or none issued): a write
   * that did commit after all, or another issued since, is never undone. When it cannot be put
   * back — no `putBack` (no sealed copy of the secret) or one that fails (the broker went away) —
   * the row is marked (`broker_unconfirmed_since`), in the same transaction, as awaiting a broker
   * repair, so that start-up and the periodic pass (`repairBroker`) give the broker the row's secret
   * again, without waiting for the issue (`issue`, from `beginBrokerIssue`), whose token goes.
   */
  async putBackBrokerLogin(
    serial: string,
    hash: string | null,
    putBack: (() => Promise<void>) | undefined,
    now: Date,
    issue: string | null = null,
  ): Promise<
    { outcome: 'superseded' | 'put-back' } | { outcome: 'unconfirmed'; marked: boolean; err?: unknown }
  > {
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<{ credential_hash: string | null }>(
        `select credential_hash from ${this.#devices} where serial = $1 for update`,
        [serial],
      );
      const over = () =>
        issue === null
          ? undefined
          : client.query(`delete from ${this.#t('broker_issues')} where id = $1`, [issue]);
      if ((rows[0]?.credential_hash ?? null) !== hash) {
        // The secret issued since is what the broker must hold: any mark left is the repair's.
        await over();
        return { outcome: 'superseded' };
      }
      let err: unknown;
      try {
        if (putBack) {
          await putBack();
          await this.#settle(client, serial, issue);
          return { outcome: 'put-back' };
        }
      } catch (failed) {
        err = failed;
      }
      // A device registered in the failed request has no row to mark (its client holds a secret
      // nobody was shown, so it admits nobody, and the repair pass removes it as an orphan).
      const marked = await client.query(
        `update ${this.#devices} set broker_unconfirmed_since = coalesce(broker_unconfirmed_since, $2)
          where serial = $1`,
        [serial, now],
      );
      await over();
      return { outcome: 'unconfirmed', marked: (marked.rowCount ?? 0) > 0, err };
    });
  }

  /**
   * Serials of the devices awaiting a broker repair — marked, or left a token by an issue — the
   * longest waiting first, but for those an issue began on less than `graceMs` ago (it may still
   * be sending to the broker).
   */
  async brokerUnconfirmed(graceMs = 0): Promise<string[]> {
    const issues = this.#t('broker_issues');
    const { rows } = await this.#pool.query<{ serial: string }>(
      `select d.serial from ${this.#devices} d
         left join (select serial, min(began_at) as began_at,
                           bool_or(started_at > now() - $1 * interval '1 millisecond') as issuing
                      from ${issues} group by serial) i on i.serial = d.serial
        where (d.broker_unconfirmed_since is not null or i.serial is not null)
          and not coalesce(i.issuing, false)
        order by least(d.broker_unconfirmed_since, i.began_at), d.serial`,
      [graceMs],
    );
    return rows.map((row) => row.serial);
  }

  /**
   * Serials of the MQTT devices the broker must admit: issued a secret and not decommissioned
   * (`mqttCredentials`' live ones). A broker client or role of any other is the orphan sweep's.
   */
  async liveMqttSerials(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ serial: string }>(
      `select serial from ${this.#devices}
        where protocol = 'mqtt' and state <> 'decommissioned' and credential_hash is not null`,
    );
    return new Set(rows.map((row) => row.serial));
  }

  /**
   * Repairs one device awaiting it, its row locked so no issue of a secret sends a broker command
   * meanwhile, and only when no issue began on it less than `graceMs` ago (one in flight on another
   * instance, its commit or its putting back still to come): `repair` is told what the broker should
   * hold (as `mqttCredentials`) and makes it so, confirmed, or returns undefined when it cannot (a
   * live device whose secret cannot be recovered: re-issue needed, and the row stays marked). The
   * tokens of the issues seen are deleted in the same transaction: one of them that was only waiting
   * finds its token gone when it holds the row lock, and tells the broker nothing
   * (`#issueStands`). A repair made clears the mark and is recorded in `broker_repairs`. Undefined
   * when the device no longer awaits one, or was not repaired.
   */
  async repairBroker(
    serial: string,
    repair: (device: DeviceCredential) => Promise<BrokerRepairOutcome | undefined>,
    now: Date,
    graceMs = 0,
  ): Promise<{ outcome: BrokerRepairOutcome; since: Date } | undefined> {
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<DeviceRow & { broker_unconfirmed_since: Date | null }>(
        `select id, serial, state, credential_hash, credential_enc, broker_unconfirmed_since
           from ${this.#devices} where serial = $1 for update`,
        [serial],
      );
      const row = rows[0];
      if (!row) return undefined;
      // Read once the row is locked (a statement of its own): tokens as they are now, not as they
      // were before any wait for the lock.
      const { rows: seen } = await client.query<{ ids: string[]; since: Date | null; issuing: boolean }>(
        `select coalesce(array_agg(id), '{}') as ids, least($3::timestamptz, min(began_at)) as since,
                coalesce(bool_or(started_at > now() - $2 * interval '1 millisecond'), false) as issuing
           from ${this.#t('broker_issues')} where serial = $1`,
        [serial, graceMs, row.broker_unconfirmed_since],
      );
      const { ids, since, issuing } = seen[0]!;
      if (issuing || !since) return undefined;
      const outcome = await repair(this.#brokerCredential(row));
      await client.query(`delete from ${this.#t('broker_issues')} where id = any($1::bigint[])`, [ids]);
      // Not repaired: what the dead issues leave is a mark, until a secret is issued.
      await client.query(`update ${this.#devices} set broker_unconfirmed_since = $2 where serial = $1`, [
        serial,
        outcome ? null : since,
      ]);
      if (!outcome) return undefined;
      await this.#recordRepair(client, serial, since, now, outcome);
      return { outcome, since };
    });
  }

  /**
   * Notes the device clients and roles found in the broker that no live row holds (`serials`, seen
   * at `now` on the registry's clock), each since it was first seen so — by any registry, before any
   * restart — and forgets those no longer found so. Returns the ones seen so for `graceMs` or
   * longer, with since when (on the clock of the registry that first saw it). The grace is read on
   * PostgreSQL's clock, the one every instance shares: registries whose clocks disagree neither
   * remove an orphan early nor keep it late.
   */
  async brokerOrphans(
    serials: readonly string[],
    now: Date,
    graceMs: number,
  ): Promise<Array<{ serial: string; since: Date }>> {
    const orphans = this.#t('broker_orphans');
    return withTransaction(this.#pool, async (client) => {
      await client.query(`delete from ${orphans} where serial <> all($1::text[])`, [serials]);
      await client.query(
        `insert into ${orphans} (serial, seen_at, first_seen_at)
         select unnest($1::text[]), $2, now() on conflict (serial) do nothing`,
        [serials, now],
      );
      const { rows } = await client.query<{ serial: string; since: Date }>(
        `select serial, seen_at as since from ${orphans}
          where first_seen_at <= now() - $1 * interval '1 millisecond' order by first_seen_at, serial`,
        [graceMs],
      );
      return rows;
    });
  }

  /**
   * Removes an orphan the sweep found (`revoke`), recorded in `broker_repairs`: `orphan-removed`
   * for a serial with no row, `client-removed` for a device whose row the broker must not admit
   * (decommissioned, or never issued a secret: a removal from the broker that did not finish, or a
   * change made by a registry without broker credentials). Such a row is locked and read again
   * first, so an issue of a secret to it, which installs its client under that lock, is never undone:
   * a device found live by then is left (undefined).
   */
  async removeBrokerOrphan(
    serial: string,
    since: Date,
    now: Date,
    revoke: () => Promise<void>,
  ): Promise<'orphan-removed' | 'client-removed' | undefined> {
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<Pick<DeviceRow, 'protocol' | 'state' | 'credential_hash'>>(
        `select protocol, state, credential_hash from ${this.#devices} where serial = $1 for update`,
        [serial],
      );
      const row = rows[0];
      await client.query(`delete from ${this.#t('broker_orphans')} where serial = $1`, [serial]);
      if (row?.protocol === 'mqtt' && row.state !== 'decommissioned' && row.credential_hash !== null) return;
      await revoke();
      const outcome = row ? 'client-removed' : 'orphan-removed';
      await this.#recordRepair(client, serial, since, now, outcome);
      return outcome;
    });
  }

  #recordRepair(
    db: Pick<PoolClient, 'query'>,
    serial: string,
    since: Date,
    now: Date,
    outcome: BrokerRepairOutcome | 'orphan-removed',
  ) {
    return db.query(
      `insert into ${this.#t('broker_repairs')} (serial, unconfirmed_since, repaired_at, outcome)
       values ($1, $2, $3, $4)`,
      [serial, since, now, outcome],
    );
  }

  async createResident(input: NewResident, now: Date, client?: PoolClient): Promise<Resident> {
    const work = async (db: PoolClient) => {
      const [written] = await this.insertResidents(db, [input], now, '*');
      if (!written || 'heldBy' in written) throw duplicateRef(input.externalRef!, written?.heldBy);
      return toResident(written.row);
    };
    return client ? work(client) : withTransaction(this.#pool, work);
  }

  /**
   * Writes new residents, a chunk at a time in one statement each (an import's thousands cost a
   * round trip a chunk, not one a row), each checked as one registration is. Gives, in the order
   * given, each one's row (`returning` its columns), or the resident holding its external reference
   * (one registered meanwhile: the row is not written, and the rest are).
   */
  async insertResidents(
    db: PoolClient,
    residents: readonly NewResident[],
    now: Date,
    returning: '*' | 'id' = 'id',
  ): Promise<Array<{ row: ResidentRow } | { heldBy: string }>> {
    const out: Array<{ row: ResidentRow } | { heldBy: string }> = [];
    for (let start = 0; start < residents.length; start += WRITE_CHUNK) {
      const chunk = residents.slice(start, start + WRITE_CHUNK);
      const values = chunk.map((input) => {
        checkReferralDays(
          { referredOn: input.referredOn ?? null, firstInstalledOn: input.firstInstalledOn ?? null },
          now,
        );
        const id = newId('res', now.getTime());
        return [
          id,
          input.name,
          input.address,
          input.postcode,
          input.phone,
          input.livesAlone,
          input.mobilityNotes,
          input.riskNotes,
          this.seal(input.keySafe, id, 'keySafe'),
          this.seal(input.medicalSummary, id, 'medicalSummary'),
          input.consent,
          input.consent ? now : null,
          now,
          now,
          input.externalRef ?? null,
          input.referredOn ?? null,
          startOfDay(input.firstInstalledOn),
        ];
      });
      const rows = await insertMany<ResidentRow>(db, this.#residents, RESIDENT_COLUMNS, values, returning);
      const written = new Map(rows.map((row) => [row.id, row]));
      const taken = chunk.filter((_, i) => !written.has(values[i]![0] as string));
      // Skipped by the unique reference alone (ids are random): another registration holds it.
      const { rows: holders } =
        taken.length === 0
          ? { rows: [] }
          : await db.query<{ id: string; external_ref: string }>(
              `select id, external_ref from ${this.#residents} where external_ref = any($1::text[])`,
              [taken.map((input) => input.externalRef)],
            );
      const heldBy = new Map(holders.map((h) => [h.external_ref, h.id]));
      for (const [i, input] of chunk.entries()) {
        const row = written.get(values[i]![0] as string);
        out.push(row ? { row } : { heldBy: heldBy.get(input.externalRef ?? '') ?? 'another resident' });
      }
    }
    return out;
  }

  /** Runs a write that sets an external reference; a reference already in use is a 409 naming its holder. */
  async #refGuard<T>(ref: string | null | undefined, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      const constraint = String((err as { constraint?: string }).constraint ?? '');
      if (ref && pgCode(err) === PG_UNIQUE_VIOLATION && constraint.includes('external_ref')) {
        // Another connection: this transaction is aborted by the violation.
        const { rows } = await this.#pool.query<{ id: string }>(
          `select id from ${this.#residents} where external_ref = $1`,
          [ref],
        );
        throw duplicateRef(ref, rows[0]?.id);
      }
      throw err;
    }
  }

  /**
   * Changes a resident; returns the resident and the serials of its devices in service, whose
   * device-map and DC-09 entries carry the postcode district and must follow.
   */
  async updateResident(
    id: string,
    patch: UpdateResidentBody,
    now: Date,
    db?: PoolClient,
  ): Promise<{ resident: Resident; serials: string[] }> {
    const work = async (client: PoolClient) => {
      const { rows: found } = await client.query<ResidentRow>(
        `select * from ${this.#residents} where id = $1 for update`,
        [id],
      );
      const row = found[0];
      if (!row) throw new NotFoundError('resident', id);
      const keep = <T>(value: T | undefined, current: T): T => (value === undefined ? current : value);
      const consent = keep(patch.consent, row.consent_given);
      const installedOn = row.first_installed_at ? row.first_installed_at.toISOString().slice(0, 10) : null;
      if (
        patch.firstInstalledOn !== undefined &&
        installedOn !== null &&
        patch.firstInstalledOn !== installedOn
      )
        throw new RefusedError(
          409,
          'first-install-recorded',
          `the first install is recorded as ${installedOn}`,
          [{ path: 'firstInstalledOn', message: `already recorded as ${installedOn}; it does not move` }],
        );
      const referredOn = keep(patch.referredOn, row.referred_on ? dayOf(row.referred_on) : null);
      checkReferralDays({ referredOn, firstInstalledOn: patch.firstInstalledOn ?? installedOn }, now);
      const { rows } = await this.#refGuard(patch.externalRef, () =>
        client.query<ResidentRow>(
          `update ${this.#residents}
            set name = $2, address = $3, postcode = $4, phone = $5, lives_alone = $6, mobility_notes = $7,
                risk_notes = $8, key_safe_enc = $9, medical_summary_enc = $10, consent_given = $11,
                consent_at = $12, updated_at = $13, external_ref = $14, referred_on = $15,
                first_installed_at = coalesce(first_installed_at, $16)
          where id = $1 returning *`,
          [
            id,
            keep(patch.name, row.name),
            keep(patch.address, row.address),
            keep(patch.postcode, row.postcode),
            keep(patch.phone, row.phone),
            keep(patch.livesAlone, row.lives_alone),
            keep(patch.mobilityNotes, row.mobility_notes),
            keep(patch.riskNotes, row.risk_notes),
            patch.keySafe === undefined ? row.key_safe_enc : this.seal(patch.keySafe, id, 'keySafe'),
            patch.medicalSummary === undefined
              ? row.medical_summary_enc
              : this.seal(patch.medicalSummary, id, 'medicalSummary'),
            consent,
            // Consent keeps the time it was first given; withdrawing it clears the time.
            consent ? (row.consent_given ? row.consent_at : now) : null,
            now,
            keep(patch.externalRef, row.external_ref),
            referredOn,
            startOfDay(patch.firstInstalledOn),
          ],
        ),
      );
      const devices = await client.query<{ serial: string }>(
        `select serial from ${this.#devices} where resident_id = $1 and state <> 'decommissioned' order by serial`,
        [id],
      );
      return { resident: toResident(rows[0]!), serials: devices.rows.map((d) => d.serial) };
    };
    return db ? work(db) : withTransaction(this.#pool, work);
  }

  /**
   * A page of residents (by name), filtered as ListResidentsQuery says, with the serials of each
   * one's devices in service and the number of residents the filter matches in all.
   */
  async searchResidents(
    filter: {
      q?: string | undefined;
      name?: string | undefined;
      postcode?: string | undefined;
      serial?: string | undefined;
    },
    page: Page,
  ): Promise<{ residents: Array<Resident & { serials: string[] }>; total: number }> {
    const like = (value: string | undefined) =>
      value === undefined ? null : `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const postcodeStart = (value: string | undefined) =>
      value === undefined
        ? null
        : `${value
            .replace(/\s+/g, '')
            .toUpperCase()
            .replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const serialIn = (alias: string, param: string) =>
      `exists (select 1 from ${this.#devices} d where d.resident_id = ${alias}.id
                and d.state <> 'decommissioned' and upper(d.serial) = upper(${param}))`;
    const where = `
      ($1::text is null or r.name ilike $1)
      and ($2::text is null or replace(r.postcode, ' ', '') like $2)
      and ($3::text is null or ${serialIn('r', '$3')})
      and ($4::text is null or r.name ilike $5 or replace(r.postcode, ' ', '') like $6
           or lower(r.external_ref) = lower($4) or r.id = $4 or ${serialIn('r', '$4')})`;
    const params = [
      like(filter.name),
      postcodeStart(filter.postcode),
      filter.serial ?? null,
      filter.q ?? null,
      like(filter.q),
      postcodeStart(filter.q),
    ];
    const { rows } = await this.#pool.query<ResidentRow & { serials: string[] | null; total: string }>(
      `select r.*, count(*) over () as total,
              (select array_agg(d.serial order by d.serial) from ${this.#devices} d
                where d.resident_id = r.id and d.state <> 'decommissioned') as serials
         from ${this.#residents} r
        where ${where}
        order by lower(r.name), r.id
        limit $7 offset $8`,
      [...params, page.limit, page.offset],
    );
    let total = rows[0] ? Number(rows[0].total) : 0;
    if (rows.length === 0 && page.offset > 0) {
      // Past the last page: the window count has no row to ride on.
      const counted = await this.#pool.query<{ n: string }>(
        `select count(*) as n from ${this.#residents} r where ${where}`,
        params,
      );
      total = Number(counted.rows[0]?.n ?? 0);
    }
    return {
      residents: rows.map(({ serials, total: _total, ...row }) => ({
        ...toResident(row),
        serials: serials ?? [],
      })),
      total,
    };
  }

  /** Residents by external reference, for an import to update or skip instead of adding. */
  async residentsByRef(refs: readonly string[]): Promise<Map<string, ResidentRow>> {
    const { rows } = await this.#pool.query<ResidentRow>(
      `select * from ${this.#residents} where external_ref = any($1)`,
      [refs],
    );
    return new Map(rows.map((row) => [row.external_ref!, row]));
  }

  /**
   * Residents with no external reference, by name (any case) and normalised postcode: one of them
   * and a new row of an import are most likely the same person, registered before refs existed.
   */
  async residentsWithoutRef(
    people: ReadonlyArray<{ name: string; postcode: string }>,
  ): Promise<Array<{ id: string; name: string; postcode: string }>> {
    if (people.length === 0) return [];
    const { rows } = await this.#pool.query<{ id: string; name: string; postcode: string }>(
      `select r.id, r.name, r.postcode from ${this.#residents} r
         join unnest($1::text[], $2::text[]) as p(name, postcode)
           on lower(r.name) = lower(p.name) and r.postcode = p.postcode
        where r.external_ref is null
        order by r.id`,
      [people.map((p) => p.name), people.map((p) => p.postcode)],
    );
    return rows;
  }

  /** Devices by serial, for an import to update or skip instead of refusing a known serial. */
  async devicesBySerial(serials: readonly string[]): Promise<Map<string, DeviceRow>> {
    const { rows } = await this.#pool.query<DeviceRow>(
      `select * from ${this.#devices} where serial = any($1)`,
      [serials],
    );
    return new Map(rows.map((row) => [row.serial, row]));
  }

  async getResident(id: string): Promise<Resident> {
    const { rows } = await this.#pool.query<ResidentRow>(`select * from ${this.#residents} where id = $1`, [
      id,
    ]);
    if (!rows[0]) throw new NotFoundError('resident', id);
    return toResident(rows[0]);
  }

  /**
   * The plain values of sensitive fields, each read recorded (who, when, which field, why) in the
   * same transaction: if the audit row cannot be written, nothing is revealed.
   */
  async reveal(
    residentId: string,
    fields: readonly SensitiveField[],
    audit: RevealAudit,
    now: Date,
  ): Promise<Partial<Record<SensitiveField, string | null>>> {
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<ResidentRow>(`select * from ${this.#residents} where id = $1`, [
        residentId,
      ]);
      const row = rows[0];
      if (!row) throw new NotFoundError('resident', residentId);
      const out: Partial<Record<SensitiveField, string | null>> = {};
      for (const field of new Set(fields)) {
        await client.query(
          `insert into ${this.#t('sensitive_reads')}
             (resident_id, field, actor, reason, at, case_id, actor_id, actor_role, via_role)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            residentId,
            field,
            audit.via.actor,
            audit.reason,
            now,
            audit.caseId ?? null,
            audit.actor.id,
            audit.actor.role,
            audit.via.role,
          ],
        );
        out[field] = this.open(row[SENSITIVE_COLUMN[field]], residentId, field);
      }
      return out;
    });
  }

  async sensitiveReads(residentId: string): Promise<SensitiveRead[]> {
    await this.getResident(residentId);
    const { rows } = await this.#pool.query<{
      field: string;
      actor: string;
      reason: string | null;
      at: Date;
      case_id: string | null;
      actor_id: string | null;
      actor_role: string | null;
      via_role: string | null;
    }>(
      `select field, actor, reason, at, case_id, actor_id, actor_role, via_role
         from ${this.#t('sensitive_reads')} where resident_id = $1 order by at, id`,
      [residentId],
    );
    return rows.map((row) => ({
      field: row.field,
      reason: row.reason,
      at: row.at.toISOString(),
      caseId: row.case_id,
      // Rows written before the structured audit know only the token that asked.
      actor: { id: row.actor_id ?? row.actor, role: row.actor_role },
      via: { actor: row.actor, role: row.via_role },
    }));
  }

  /** The call list; `client`: read in that transaction (one that has just changed it). */
  async listResponders(residentId: string, client?: PoolClient): Promise<Responder[]> {
    await this.getResident(residentId);
    const { rows } = await (client ?? this.#pool).query<{
      id: string;
      name: string;
      relationship: string;
      phone: string;
      position: number;
    }>(
      `select id, name, relationship, phone, position from ${this.#t('responders')}
        where resident_id = $1 order by position`,
      [residentId],
    );
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      relationship: row.relationship,
      phone: row.phone,
      order: row.position,
    }));
  }

  /** Adds a responder at `order` (moving later ones down one), or last. */
  async addResponder(
    residentId: string,
    input: { name: string; relationship: string; phone: string; order?: number | undefined },
    now: Date,
    /** The caller's transaction, when the addition is part of a larger one. */
    db?: PoolClient,
  ): Promise<Responder> {
    const id = newId('rsp', now.getTime());
    const work = async (client: PoolClient) => {
      // Row lock on the resident serialises concurrent additions to one call list.
      const found = await client.query(`select 1 from ${this.#residents} where id = $1 for update`, [
        residentId,
      ]);
      if (found.rowCount === 0) throw new NotFoundError('resident', residentId);
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from ${this.#t('responders')} where resident_id = $1`,
        [residentId],
      );
      const count = rows[0]!.n;
      const position = input.order === undefined || input.order > count ? count + 1 : input.order;
      await client.query(
        `update ${this.#t('responders')} set position = position + 1 where resident_id = $1 and position >= $2`,
        [residentId, position],
      );
      await client.query(
        `insert into ${this.#t('responders')} (id, resident_id, name, relationship, phone, position, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [id, residentId, input.name, input.relationship, input.phone, position, now],
      );
      return position;
    };
    const order = await (db ? work(db) : withTransaction(this.#pool, work));
    return { id, name: input.name, relationship: input.relationship, phone: input.phone, order };
  }

  /** Removes a responder, closing the gap; under the resident's row lock, as additions are. */
  async removeResponder(residentId: string, responderId: string): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      // Without it, a removal renumbering the list met an addition's renumbering row by row, in
      // another order: a deadlock, or two responders at one position (both refused, 500).
      await client.query(`select 1 from ${this.#residents} where id = $1 for update`, [residentId]);
      const { rows } = await client.query<{ position: number }>(
        `delete from ${this.#t('responders')} where resident_id = $1 and id = $2 returning position`,
        [residentId, responderId],
      );
      if (!rows[0]) throw new NotFoundError('responder', responderId);
      await client.query(
        `update ${this.#t('responders')} set position = position - 1 where resident_id = $1 and position > $2`,
        [residentId, rows[0].position],
      );
    });
  }

  /**
   * What the reports service needs per resident, and nothing that identifies them: the postcode
   * district, when they were registered, when a device was first installed (null: not yet), and
   * their care packages.
   */
  async cohortFacts(): Promise<CohortFacts[]> {
    const { rows } = await this.#pool.query<{
      id: string;
      postcode_district: string;
      registered_at: Date;
      referred_on: Date | null;
      first_installed_at: Date | null;
      packages: { hoursPerWeek: string; from: string; to: string | null }[];
    }>(
      `select r.id, r.postcode_district, r.created_at as registered_at, r.referred_on, r.first_installed_at,
              coalesce(json_agg(json_build_object(
                'hoursPerWeek', c.hours_per_week::text,
                'from', to_char(c.start_date, 'YYYY-MM-DD'),
                'to', to_char(c.end_date, 'YYYY-MM-DD')) order by c.start_date, c.id)
                filter (where c.id is not null), '[]') as packages
         from ${this.#residents} r left join ${this.#t('care_packages')} c on c.resident_id = r.id
        group by r.id order by r.id`,
    );
    return rows.map((row) => ({
      residentId: row.id,
      postcodeDistrict: row.postcode_district,
      registeredAt: row.registered_at.toISOString(),
      referredOn: row.referred_on ? dayOf(row.referred_on) : null,
      firstInstalledAt: row.first_installed_at?.toISOString() ?? null,
      carePackages: row.packages.map((c) => ({
        hoursPerWeek: Number(c.hoursPerWeek),
        from: c.from,
        to: c.to,
      })),
    }));
  }

  async addCarePackage(
    residentId: string,
    input: { hoursPerWeek: number; startDate: string; endDate: string | null },
    now: Date,
    client?: PoolClient,
  ): Promise<CarePackage> {
    const id = `cpk_${newId('res', now.getTime()).slice(4)}`;
    try {
      await (client ?? this.#pool).query(
        `insert into ${this.#t('care_packages')} (id, resident_id, hours_per_week, start_date, end_date, created_at)
         values ($1, $2, $3, $4, $5, $6)`,
        [id, residentId, input.hoursPerWeek, input.startDate, input.endDate, now],
      );
    } catch (err) {
      if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) throw new NotFoundError('resident', residentId);
      throw err;
    }
    return { id, residentId, ...input };
  }

  /** Declares the resident away; `setBy` is the caller (token label and role). */
  async addAway(
    residentId: string,
    input: { from: string; until?: string | null; reason: AwayRecord['reason']; note?: string | null },
    setBy: string,
    now: Date,
    client?: PoolClient,
  ): Promise<AwayRecord> {
    const id = `awy_${newId('res', now.getTime()).slice(4)}`;
    try {
      const { rows } = await (client ?? this.#pool).query<AwayRow>(
        `insert into ${this.#t('away_periods')} (id, resident_id, starts_at, ends_at, reason, note, set_by, set_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning *`,
        // As instants: PostgreSQL does not parse every ISO-8601 offset (+23:59).
        [
          id,
          residentId,
          new Date(input.from),
          input.until ? new Date(input.until) : null,
          input.reason,
          input.note ?? null,
          setBy,
          now,
        ],
      );
      return awayOf(rows[0] as AwayRow);
    } catch (err) {
      if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) throw new NotFoundError('resident', residentId);
      throw err;
    }
  }

  /** A resident's away periods, the latest first. */
  async listAway(residentId: string): Promise<AwayRecord[]> {
    await this.getResident(residentId);
    const { rows } = await this.#pool.query<AwayRow>(
      `select * from ${this.#t('away_periods')} where resident_id = $1 order by starts_at desc, id`,
      [residentId],
    );
    return rows.map(awayOf);
  }

  /**
   * Ends a period at `at` (now when not given): its `until` becomes that moment. A period already
   * over by then, or one that has not begun (then it is withdrawn: `until` = its start is not a
   * period), is refused with 409.
   */
  async endAway(
    residentId: string,
    awayId: string,
    at: Date,
    endedBy: string,
    now: Date,
  ): Promise<AwayRecord> {
    return withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<AwayRow>(
        `select * from ${this.#t('away_periods')} where id = $1 and resident_id = $2 for update`,
        [awayId, residentId],
      );
      const row = rows[0];
      if (!row) throw new NotFoundError('away period', awayId);
      if (row.ends_at !== null && row.ends_at.getTime() <= at.getTime())
        throw new RefusedError(409, 'away-ended', `away period ${awayId} had ended by then`, [
          { path: 'at', message: `the period ended at ${row.ends_at.toISOString()}` },
        ]);
      if (at.getTime() <= row.starts_at.getTime())
        throw new RefusedError(409, 'away-not-begun', `away period ${awayId} begins after that time`, [
          { path: 'at', message: `the period begins at ${row.starts_at.toISOString()}` },
        ]);
      const updated = await client.query<AwayRow>(
        `update ${this.#t('away_periods')} set ends_at = $2, ended_by = $3, ended_at = $4 where id = $1 returning *`,
        [awayId, at, endedBy, now],
      );
      return awayOf(updated.rows[0] as AwayRow);
    });
  }

  /**
   * What triage is given for a resident: the periods not over a week before `now` (a "not back"
   * check runs from a declared return, so a recent end still matters), ids and times only.
   */
  async awayEntry(residentId: string, now: Date): Promise<ResidentAwayEntry> {
    const { rows } = await this.#pool.query<AwayRow>(
      `select * from ${this.#t('away_periods')}
        where resident_id = $1 and (ends_at is null or ends_at > $2)
        order by starts_at, id limit 32`,
      [residentId, new Date(now.getTime() - AWAY_KEPT_MS)],
    );
    return {
      residentId,
      periods: rows.map((row) => ({
        id: row.id,
        from: row.starts_at.toISOString(),
        ...(row.ends_at ? { until: row.ends_at.toISOString() } : {}),
        reason: row.reason,
      })),
      updatedAt: now.toISOString(),
    };
  }

  /** Residents with a period not over a week before `now`: the keys the away bucket should hold. */
  async residentsAway(now: Date): Promise<string[]> {
    const { rows } = await this.#pool.query<{ resident_id: string }>(
      `select distinct resident_id from ${this.#t('away_periods')} where ends_at is null or ends_at > $1`,
      [new Date(now.getTime() - AWAY_KEPT_MS)],
    );
    return rows.map((row) => row.resident_id);
  }

  async listCarePackages(residentId: string): Promise<CarePackage[]> {
    await this.getResident(residentId);
    const { rows } = await this.#pool.query<{
      id: string;
      resident_id: string;
      hours_per_week: string;
      start_date: string;
      end_date: string | null;
    }>(
      `select id, resident_id, hours_per_week, to_char(start_date, 'YYYY-MM-DD') as start_date,
              to_char(end_date, 'YYYY-MM-DD') as end_date
         from ${this.#t('care_packages')} where resident_id = $1 order by start_date, id`,
      [residentId],
    );
    return rows.map((row) => ({
      id: row.id,
      residentId: row.resident_id,
      hoursPerWeek: Number(row.hours_per_week),
      startDate: row.start_date,
      endDate: row.end_date,
    }));
  }

  async createDevice(
    input: NewDevice,
    now: Date,
    options: {
      credentialHash?: string | null;
      /** The issued secret, sealed for broker repair when a data key is configured. */
      credentialSecret?: string;
      beforeCommit?: BeforeCommit;
      client?: PoolClient;
    } = {},
  ): Promise<Device> {
    const work = async (client: PoolClient) => {
      const [written] = await this.insertDevices(client, [{ ...options, input }], now, '*');
      if (!written) throw new Error(`device ${input.serial} neither written nor refused`);
      if ('refused' in written) throw deviceRefusal(input, written);
      const device = toDevice(written.row);
      await options.beforeCommit?.(device, { issued: false });
      return device;
    };
    return options.client ? work(options.client) : withTransaction(this.#pool, work);
  }

  /**
   * Writes new devices, a chunk at a time in one statement each (an import's thousands cost a
   * round trip a chunk, not three a row), each checked as one registration is: its resident held
   * against deletion until the commit (KEY SHARE), one device to a serial in any letter case, one to
   * a DC-09 account. Gives, in the order given, each one's row (`returning` its columns), or why it
   * was not written — its resident gone, its serial or account registered meanwhile — the others
   * written all the same.
   */
  async insertDevices(
    db: PoolClient,
    devices: ReadonlyArray<{
      input: NewDevice;
      credentialHash?: string | null | undefined;
      credentialSecret?: string | undefined;
    }>,
    now: Date,
    returning: '*' | 'serial' = 'serial',
  ): Promise<Array<{ row: DeviceRow } | DeviceNotWritten>> {
    const out: Array<{ row: DeviceRow } | DeviceNotWritten> = [];
    const keyFps = new Map(
      devices.map(({ input }) => [input, this.dc09KeyFingerprint(input.dc09Key, input.dc09KeyEncoding)]),
    );
    /** Who holds each key: the registry's devices, then this call's as they are written. */
    const holders = new Map<string, Dc09KeyHolder[]>();
    if (this.refusesSharedKeys) {
      const fps = [...keyFps.values()].filter((fp) => fp !== null);
      await this.#lockDc09Keys(db, fps);
      for (const [fp, held] of await this.dc09KeyHolders(fps, now, db)) holders.set(fp, held);
    }
    for (let start = 0; start < devices.length; start += WRITE_CHUNK) {
      const chunk = devices.slice(start, start + WRITE_CHUNK);
      /** A device given a key another device (another account) holds: refused before it is written. */
      const sharing = new Map<NewDevice, string>();
      for (const { input } of chunk) {
        const fp = keyFps.get(input);
        if (!this.refusesSharedKeys || !fp) continue;
        // Its own serial or account again is refused as that, when the row is not written.
        const serial = input.serial.toLowerCase();
        const holder = holders
          .get(fp)
          ?.find((h) => h.dc09Account !== input.dc09Account && h.serial.toLowerCase() !== serial);
        if (holder) sharing.set(input, holder.serial);
        else
          holders.set(fp, [
            ...(holders.get(fp) ?? []),
            { id: '', serial: input.serial, dc09Account: input.dc09Account },
          ]);
      }
      const residentIds = [...new Set(chunk.flatMap(({ input }) => input.residentId ?? []))];
      const { rows: held } =
        residentIds.length === 0
          ? { rows: [] }
          : await db.query<{ id: string }>(
              `select id from ${this.#residents} where id = any($1::text[]) order by id for key share`,
              [residentIds],
            );
      const present = new Set(held.map((r) => r.id));
      const writable = chunk.filter(
        ({ input }) => (input.residentId === null || present.has(input.residentId)) && !sharing.has(input),
      );
      const rows = await insertMany<DeviceRow>(
        db,
        this.#devices,
        DEVICE_COLUMNS,
        writable.map(({ input, credentialHash, credentialSecret }) => {
          const id = newId('dev', now.getTime());
          return [
            id,
            input.serial,
            input.residentId,
            input.kind,
            input.model,
            input.protocol,
            input.location,
            input.supervisionIntervalS,
            input.residentId ? 'installed' : 'stock',
            false,
            input.dc09Account,
            this.seal(input.dc09Key, id, 'dc09Key'),
            input.dc09KeyEncoding,
            credentialHash ?? null,
            credentialHash ? now : null,
            now,
            now,
            this.sealCredential(credentialSecret, id),
            JSON.stringify(input.dc09CodeOverrides ?? {}),
            input.voiceUri ?? null,
            input.dc09ClockZone ?? null,
            keyFps.get(input) ?? null,
          ];
        }),
        returning,
      );
      const written = new Map(rows.map((row) => [row.serial, row]));
      const skipped = writable.filter(({ input }) => !written.has(input.serial));
      // Skipped by a unique constraint (ids are random): its serial in some letter case, or its account.
      const twins = await this.serialsAnyCase(
        skipped.map(({ input }) => input.serial),
        db,
      );
      for (const { input } of chunk) {
        const row = written.get(input.serial);
        const twin = twins.get(input.serial.toLowerCase());
        const heldBy = sharing.get(input);
        out.push(
          row
            ? { row }
            : input.residentId !== null && !present.has(input.residentId)
              ? { refused: 'unknown-resident' }
              : heldBy !== undefined
                ? { refused: 'shared-dc09-key', heldBy }
                : twin !== undefined
                  ? { refused: 'duplicate-serial', registered: twin }
                  : { refused: 'duplicate-dc09-account' },
        );
      }
    }
    return out;
  }

  async getDevice(serial: string): Promise<Device> {
    return toDevice(await this.getDeviceRow(serial));
  }

  async getDeviceRow(serial: string): Promise<DeviceRow> {
    const { rows } = await this.#pool.query<DeviceRow>(`select * from ${this.#devices} where serial = $1`, [
      serial,
    ]);
    if (!rows[0]) throw new NotFoundError('device', serial);
    return rows[0];
  }

  async listDevices(filter: { residentId?: string | undefined }, page: Page): Promise<Device[]> {
    const { rows } = await this.#pool.query<DeviceRow>(
      `select * from ${this.#devices}
        where ($1::text is null or resident_id = $1)
        order by serial limit $2 offset $3`,
      [filter.residentId ?? null, page.limit, page.offset],
    );
    return rows.map(toDevice);
  }

  /**
   * The previous DC-09 key a patch leaves the device with. A new key keeps the one it replaces for
   * the grace (`dc09KeyGraceS`, else the registry's default; 0 keeps none), so a panel still sending
   * with it is answered until an installer re-keys it; only the last one replaced is kept. The same
   * key again changes nothing. `dc09KeyGraceS` alone shortens or ends the grace, counted from now.
   */
  #previousKey(row: DeviceRow, patch: UpdateDeviceBody, now: Date): PreviousKeyColumns {
    const kept: PreviousKeyColumns = {
      enc: row.dc09_prev_key_enc,
      encoding: row.dc09_prev_key_encoding,
      until: row.dc09_prev_key_until,
      changedAt: row.dc09_key_changed_at,
    };
    if (patch.dc09KeyGraceS !== undefined) onlyDc09(row, 'dc09KeyGraceS', 'key');
    const graceMs = patch.dc09KeyGraceS === undefined ? this.#dc09KeyGraceMs : patch.dc09KeyGraceS * 1000;
    const none = (changedAt: Date | null): PreviousKeyColumns => ({
      enc: null,
      encoding: null,
      until: null,
      changedAt,
    });
    if (patch.dc09Key === null) return none(now);
    if (patch.dc09Key !== undefined) {
      const encoding = patch.dc09KeyEncoding ?? row.dc09_key_encoding;
      if (
        row.dc09_key_enc !== null &&
        encoding === row.dc09_key_encoding &&
        this.open(row.dc09_key_enc, row.id, 'dc09Key') === patch.dc09Key
      )
        return kept;
      if (row.dc09_key_enc === null || graceMs === 0) return none(now);
      return {
        enc: row.dc09_key_enc,
        encoding: row.dc09_key_encoding,
        until: new Date(now.getTime() + graceMs),
        changedAt: now,
      };
    }
    if (patch.dc09KeyGraceS === undefined || kept.enc === null || kept.until === null) return kept;
    const until = Math.min(kept.until.getTime(), now.getTime() + graceMs);
    return until <= now.getTime() ? none(kept.changedAt) : { ...kept, until: new Date(until) };
  }

  /**
   * The fingerprints of the keys a patch leaves the device with. A new key another device holds
   * (current, or previous in its grace) is refused under REGISTRY_DC09_SHARED_KEY=refuse, checked
   * under the key's lock until the commit; the device's own keys never conflict with it.
   */
  async #keyChangeFingerprints(
    db: PoolClient,
    row: DeviceRow,
    patch: UpdateDeviceBody,
    previous: PreviousKeyColumns,
    now: Date,
  ): Promise<{ key: string | null; previous: string | null }> {
    const current = () =>
      row.dc09_key_fp ?? this.#sealedKeyFingerprint(row, row.dc09_key_enc, row.dc09_key_encoding);
    // The previous key is the current one moved, the one kept, or none.
    const previousFp =
      previous.enc === null ? null : previous.enc === row.dc09_key_enc ? current() : row.dc09_prev_key_fp;
    if (patch.dc09Key === undefined) return { key: row.dc09_key_fp, previous: previousFp };
    const key = this.dc09KeyFingerprint(patch.dc09Key, patch.dc09KeyEncoding ?? row.dc09_key_encoding);
    if (key !== null && this.refusesSharedKeys && key !== current()) {
      await this.#lockDc09Keys(db, [key]);
      const holder = (await this.dc09KeyHolders([key], now, db)).get(key)?.find((h) => h.id !== row.id);
      if (holder) throw sharedKeyRefusal(holder.serial);
    }
    return { key, previous: previousFp };
  }

  /** Changes a device (pairing is a new residentId); returns the device before and after. */
  /**
   * Changes a device. With `rekey`, an MQTT device that leaves its resident (moved to another, or
   * back to stock) gets that new secret, the broker told before the commit: whatever held the old
   * one in the home it left cannot speak as the device in its new one. `rekeyed` says whether it did.
   */
  async updateDevice(
    serial: string,
    patch: UpdateDeviceBody,
    now: Date,
    db?: PoolClient,
    /** `issue`: its token (`beginBrokerIssue`). */
    rekey?: { hash: string; secret: string; beforeCommit: BeforeCommit; issue?: string | undefined },
  ): Promise<{ before: Device; after: Device; rekeyed: boolean }> {
    const work = async (client: PoolClient) => {
      const row = await this.#lockDevice(client, serial);
      const before = toDevice(row);
      if (row.state === 'decommissioned') {
        throw new RefusedError(409, 'decommissioned', `device ${serial} is decommissioned and cannot change`);
      }
      if (row.state === 'test') {
        throw new RefusedError(409, 'in-test', `device ${serial} is in a test call; end it first`);
      }
      const residentId = patch.residentId === undefined ? row.resident_id : patch.residentId;
      if (residentId && residentId !== row.resident_id) {
        const found = await client.query(`select 1 from ${this.#residents} where id = $1 for key share`, [
          residentId,
        ]);
        if (found.rowCount === 0) throw new UnknownResidentError(residentId);
      }
      let state = patch.state ?? row.state;
      // Pairing installs a device from stock; unpairing returns an installed one to stock.
      if (patch.state === undefined && residentId && row.state === 'stock') state = 'installed';
      if (patch.state === undefined && !residentId && row.state === 'installed') state = 'stock';
      if (state === 'installed' && !residentId) {
        throw new RefusedError(422, 'no-resident', `device ${serial} needs a resident to be installed`, [
          { path: 'residentId', message: 'required for state installed' },
        ]);
      }
      const encoding = patch.dc09KeyEncoding ?? row.dc09_key_encoding;
      let keyEnc = row.dc09_key_enc;
      const previous = this.#previousKey(row, patch, now);
      const fps = await this.#keyChangeFingerprints(client, row, patch, previous, now);
      if (patch.dc09Key !== undefined) keyEnc = this.seal(patch.dc09Key, row.id, 'dc09Key');
      else if (
        patch.dc09KeyEncoding !== undefined &&
        patch.dc09KeyEncoding !== row.dc09_key_encoding &&
        keyEnc
      ) {
        throw new RefusedError(422, 'key-encoding', 'changing dc09KeyEncoding needs the key again', [
          { path: 'dc09Key', message: 'required when dc09KeyEncoding changes' },
        ]);
      }
      if (patch.dc09CodeOverrides !== undefined) onlyDc09(row, 'dc09CodeOverrides', 'codes');
      if (patch.dc09ClockZone !== undefined) onlyDc09(row, 'dc09ClockZone', 'clock');
      const { rows } = await client.query<DeviceRow>(
        `update ${this.#devices}
            set resident_id = $2, location = $3, supervision_interval_s = $4, model = $5, state = $6,
                dc09_key_enc = $7, dc09_key_encoding = $8, updated_at = $9,
                dc09_code_overrides = coalesce($10::jsonb, dc09_code_overrides), voice_uri = $11,
                dc09_prev_key_enc = $12, dc09_prev_key_encoding = $13, dc09_prev_key_until = $14,
                dc09_key_changed_at = $15, dc09_clock_zone = $16, dc09_key_fp = $17, dc09_prev_key_fp = $18
          where serial = $1 returning *`,
        [
          serial,
          residentId,
          patch.location === undefined ? row.location : patch.location,
          patch.supervisionIntervalS === undefined ? row.supervision_interval_s : patch.supervisionIntervalS,
          patch.model === undefined ? row.model : patch.model,
          state,
          keyEnc,
          encoding,
          now,
          patch.dc09CodeOverrides === undefined ? null : JSON.stringify(patch.dc09CodeOverrides),
          patch.voiceUri === undefined ? row.voice_uri : patch.voiceUri,
          previous.enc,
          previous.encoding,
          previous.until,
          previous.changedAt,
          patch.dc09ClockZone === undefined ? row.dc09_clock_zone : patch.dc09ClockZone,
          fps.key,
          fps.previous,
        ],
      );
      const leaves = row.resident_id !== null && residentId !== row.resident_id;
      if (!(rekey && leaves && row.protocol === 'mqtt'))
        return { before, after: toDevice(rows[0]!), rekeyed: false };
      await this.#issueStands(client, serial, rekey.issue);
      const rekeyed = await client.query<DeviceRow>(
        `update ${this.#devices} set credential_hash = $2, credential_issued_at = $3, credential_enc = $4
          where serial = $1 returning *`,
        [serial, rekey.hash, now, this.sealCredential(rekey.secret, row.id)],
      );
      await this.#settle(client, serial, rekey.issue ?? null);
      const after = toDevice(rekeyed.rows[0]!);
      await rekey.beforeCommit(after, this.#heldSecret(row));
      return { before, after, rekeyed: true };
    };
    return db ? work(db) : withTransaction(this.#pool, work);
  }

  /** Records a newly issued MQTT secret (hash only), the broker change done before the commit. */
  async setCredential(
    serial: string,
    /** `issue`: its token (`beginBrokerIssue`). */
    credential: { hash: string; secret: string; issue?: string | undefined },
    now: Date,
    beforeCommit: BeforeCommit,
    db?: PoolClient,
  ): Promise<Device> {
    return this.#inTransaction(db, async (client) => {
      const row = await this.#lockDevice(client, serial);
      if (row.state === 'decommissioned') {
        throw new RefusedError(409, 'decommissioned', `device ${serial} is decommissioned`);
      }
      if (row.protocol !== 'mqtt') {
        throw new RefusedError(422, 'not-mqtt', `device ${serial} reports over DC-09 and has no MQTT secret`);
      }
      await this.#issueStands(client, serial, credential.issue);
      const { rows } = await client.query<DeviceRow>(
        `update ${this.#devices} set credential_hash = $2, credential_issued_at = $3, updated_at = $3,
                credential_enc = $4
          where serial = $1 returning *`,
        [serial, credential.hash, now, this.sealCredential(credential.secret, row.id)],
      );
      await this.#settle(client, serial, credential.issue ?? null);
      const device = toDevice(rows[0]!);
      await beforeCommit(device, this.#heldSecret(row));
      return device;
    });
  }

  /**
   * Takes a device out of service for good: its secret and DC-09 key are forgotten, its account
   * freed, a waiting test call cancelled. `beforeCommit` revokes the broker credential, so a
   * device is never recorded as decommissioned while the broker still admits it.
   */
  async decommission(
    serial: string,
    now: Date,
    beforeCommit: BeforeCommit,
  ): Promise<{ before: Device; after: Device }> {
    return withTransaction(this.#pool, async (client) => {
      const row = await this.#lockDevice(client, serial);
      const before = toDevice(row);
      if (row.state === 'decommissioned') return { before, after: before };
      await client.query(
        `update ${this.#t('test_calls')} set status = 'cancelled', finished_at = $2, reason = 'device decommissioned'
          where serial = $1 and status = 'waiting'`,
        [serial, now],
      );
      const { rows } = await client.query<DeviceRow>(
        `update ${this.#devices}
            set state = 'decommissioned', test_mode = false, credential_hash = null, credential_issued_at = null,
                credential_enc = null, broker_unconfirmed_since = null,
                dc09_account = null, dc09_key_enc = null, dc09_prev_key_enc = null,
                dc09_prev_key_encoding = null, dc09_prev_key_until = null,
                dc09_key_fp = null, dc09_prev_key_fp = null,
                decommissioned_at = $2, updated_at = $2
          where serial = $1 returning *`,
        [serial, now],
      );
      // An issue still waiting finds its token gone, and then the device decommissioned.
      await client.query(`delete from ${this.#t('broker_issues')} where serial = $1`, [serial]);
      const after = toDevice(rows[0]!);
      await beforeCommit(after, this.#heldSecret(row));
      return { before, after };
    });
  }

  /** `work` in the caller's transaction (`db`, an Idempotency-Key's), else in one of its own. */
  #inTransaction<T>(db: PoolClient | undefined, work: (client: PoolClient) => Promise<T>): Promise<T> {
    return db ? work(db) : withTransaction(this.#pool, work);
  }

  /**
   * The devices' rows, by serial, locked for the rest of the caller's transaction (an import
   * re-checks them), a chunk at a time in serial order; a serial with no row is a 404.
   */
  async lockDeviceRows(client: PoolClient, serials: readonly string[]): Promise<Map<string, DeviceRow>> {
    const sorted = [...serials].sort();
    const locked = new Map<string, DeviceRow>();
    for (let start = 0; start < sorted.length; start += WRITE_CHUNK) {
      const { rows } = await client.query<DeviceRow>(
        `select * from ${this.#devices} where serial = any($1::text[]) order by serial for update`,
        [sorted.slice(start, start + WRITE_CHUNK)],
      );
      for (const row of rows) locked.set(row.serial, row);
    }
    const gone = sorted.find((serial) => !locked.has(serial));
    if (gone !== undefined) throw new NotFoundError('device', gone);
    return locked;
  }

  async #lockDevice(client: PoolClient, serial: string): Promise<DeviceRow> {
    const { rows } = await client.query<DeviceRow>(
      `select * from ${this.#devices} where serial = $1 for update`,
      [serial],
    );
    if (!rows[0]) throw new NotFoundError('device', serial);
    return rows[0];
  }

  // --- test calls -------------------------------------------------------------------------------

  /**
   * Puts an installed device in test mode with a deadline; one waiting test per device, and at most
   * `perActor` waiting tests started by one token (counted under a lock of its own, so tests
   * started at once cannot all pass the count): past it, 429 with the wait until its next ends.
   */
  async startTest(
    serial: string,
    timeoutS: number,
    actor: string,
    now: Date,
    perActor?: number,
    db?: PoolClient,
  ): Promise<TestCall> {
    return this.#inTransaction(db, async (client) => {
      if (perActor !== undefined) {
        await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [
          `${this.#t('test_calls')}:${actor}`,
        ]);
        const { rows: held } = await client.query<{ n: number; next: Date | null }>(
          `select count(*)::int as n, min(deadline) as next from ${this.#t('test_calls')}
            where started_by = $1 and status = 'waiting'`,
          [actor],
        );
        const { n, next } = held[0] ?? { n: 0, next: null };
        if (n >= perActor) {
          const waitS = Math.max(1, Math.ceil(((next?.getTime() ?? now.getTime()) - now.getTime()) / 1000));
          throw new RateLimitedError(
            'start a test call',
            waitS,
            'too-many-tests',
            `this token already holds ${n} test calls waiting (at most ${perActor} at once, REGISTRY_TESTS_PER_TOKEN): end one, or wait ${waitS} s for the next to end`,
          );
        }
      }
      const row = await this.#lockDevice(client, serial);
      if (row.state === 'test') {
        throw new RefusedError(409, 'test-running', `device ${serial} is already in a test call`);
      }
      if (row.state !== 'installed' || !row.resident_id) {
        throw new RefusedError(
          409,
          'not-installed',
          `device ${serial} is ${row.state}; only an installed device can be tested`,
        );
      }
      const id = `tst_${newId('dev', now.getTime()).slice(4)}`;
      const deadline = new Date(now.getTime() + timeoutS * 1000);
      const { rows } = await client.query<TestRow>(
        `insert into ${this.#t('test_calls')} (id, serial, kind, status, started_at, deadline, started_by)
         values ($1, $2, $3, 'waiting', $4, $5, $6) returning *`,
        [id, serial, row.kind, now, deadline, actor],
      );
      await client.query(
        `update ${this.#devices} set state = 'test', test_mode = true, updated_at = $2 where serial = $1`,
        [serial, now],
      );
      return toTestCall(rows[0]!);
    });
  }

  /**
   * Ends a waiting test (passed, failed or cancelled) and puts the device back to installed.
   * Returns undefined if the test was no longer waiting (another path ended it first).
   */
  async finishTest(
    testId: string,
    outcome: {
      status: 'passed' | 'failed' | 'cancelled';
      reason?: string | null;
      eventId?: string;
      eventType?: string;
      latencyMs?: number;
      batteryPercent?: number | null;
      signalDbm?: number | null;
      /** The trigger that passed it, added to what arrived. */
      arrival?: TestArrival;
    },
    now: Date,
  ): Promise<TestCall | undefined> {
    return withTransaction(this.#pool, async (client) => {
      // The device's row first, as every other change of a device and its calls takes them: a
      // call's row taken first met a decommission holding the device and waiting for the call.
      await client.query(
        `select 1 from ${this.#devices} where serial = (select serial from ${this.#t('test_calls')} where id = $1)
            for update`,
        [testId],
      );
      const { rows } = await client.query<TestRow>(
        `update ${this.#t('test_calls')}
            set status = $2, finished_at = $3, reason = $4, event_id = $5, event_type = $6, latency_ms = $7,
                battery_percent = $8, signal_dbm = $9,
                arrived = case when $10::jsonb is null then arrived else arrived || $10::jsonb end,
                connected_at = case when $10::jsonb is null then connected_at else coalesce(connected_at, $3) end
          where id = $1 and status = 'waiting' returning *`,
        [
          testId,
          outcome.status,
          now,
          outcome.reason ?? null,
          outcome.eventId ?? null,
          outcome.eventType ?? null,
          outcome.latencyMs === undefined ? null : Math.round(outcome.latencyMs),
          outcome.batteryPercent ?? null,
          outcome.signalDbm ?? null,
          outcome.arrival ? JSON.stringify([outcome.arrival]) : null,
        ],
      );
      const test = rows[0];
      if (!test) return undefined;
      await client.query(
        `update ${this.#devices} set state = 'installed', test_mode = false, updated_at = $2
          where serial = $1 and state = 'test'`,
        [test.serial, now],
      );
      return toTestCall(test);
    });
  }

  /**
   * Adds an event that is not the trigger to a waiting test's list of what arrived, and an alarm of
   * a type the device's registered kind does not report to its kind mismatches (a redelivered event
   * is not added twice; each list stops growing at MAX_ARRIVALS). Returns the test, or undefined if
   * it is no longer waiting.
   */
  async noteTestArrival(
    testId: string,
    arrival: TestArrival,
    now: Date,
    mismatch?: KindMismatch,
  ): Promise<TestCall | undefined> {
    const { rows } = await this.#pool.query<TestRow>(
      `update ${this.#t('test_calls')}
          set arrived = case when jsonb_array_length(arrived) >= $4
                               or arrived @> jsonb_build_array(jsonb_build_object('eventId', $3::text))
                             then arrived else arrived || $2::jsonb end,
              mismatched = case when $6::jsonb is null or jsonb_array_length(mismatched) >= $4
                                  or mismatched @> jsonb_build_array(jsonb_build_object('eventId', $3::text))
                                then mismatched else mismatched || $6::jsonb end,
              connected_at = coalesce(connected_at, $5)
        where id = $1 and status = 'waiting' returning *`,
      [
        testId,
        JSON.stringify([arrival]),
        arrival.eventId,
        MAX_ARRIVALS,
        now,
        mismatch ? JSON.stringify([mismatch]) : null,
      ],
    );
    return rows[0] ? toTestCall(rows[0]) : undefined;
  }

  /** The test calls a token started that are still waiting (its devices held in test mode). */
  async waitingTestsBy(actor: string): Promise<TestCall[]> {
    const { rows } = await this.#pool.query<TestRow>(
      `select * from ${this.#t('test_calls')} where started_by = $1 and status = 'waiting' order by started_at, id`,
      [actor],
    );
    return rows.map(toTestCall);
  }

  async waitingTest(serial: string): Promise<TestCall | undefined> {
    const { rows } = await this.#pool.query<TestRow>(
      `select * from ${this.#t('test_calls')} where serial = $1 and status = 'waiting'`,
      [serial],
    );
    return rows[0] ? toTestCall(rows[0]) : undefined;
  }

  async latestTest(serial: string): Promise<TestCall | undefined> {
    const { rows } = await this.#pool.query<TestRow>(
      `select * from ${this.#t('test_calls')} where serial = $1 order by started_at desc, id desc limit 1`,
      [serial],
    );
    return rows[0] ? toTestCall(rows[0]) : undefined;
  }

  /**
   * Serials of devices holding a previous DC-09 key whose grace has ended by `now` (at most
   * `limit`, the longest ended first): their account entries still hand the old key on.
   */
  async endedPreviousKeys(now: Date, limit = 500): Promise<string[]> {
    const { rows } = await this.#pool.query<{ serial: string }>(
      `select serial from ${this.#devices}
        where dc09_prev_key_enc is not null and dc09_prev_key_until <= $1
        order by dc09_prev_key_until limit $2`,
      [now, limit],
    );
    return rows.map((row) => row.serial);
  }

  /**
   * Forgets a previous DC-09 key whose grace has ended (its sealed secret and encoding; the end of
   * its grace stays, as the record of when it ended). Only while it is still the one whose grace
   * ended by `now`: a key change since, with a grace of its own, is left alone. Whether this call
   * forgot it (another registry instance may have first).
   */
  async forgetPreviousKey(serial: string, now: Date): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `update ${this.#devices} set dc09_prev_key_enc = null, dc09_prev_key_encoding = null,
              dc09_prev_key_fp = null
        where serial = $1 and dc09_prev_key_enc is not null and dc09_prev_key_until <= $2`,
      [serial, now],
    );
    return (rowCount ?? 0) > 0;
  }

  async expiredTests(now: Date): Promise<TestCall[]> {
    const { rows } = await this.#pool.query<TestRow>(
      `select * from ${this.#t('test_calls')} where status = 'waiting' and deadline <= $1 order by deadline`,
      [now],
    );
    return rows.map(toTestCall);
  }

  async nextDeadline(): Promise<Date | undefined> {
    const { rows } = await this.#pool.query<{ d: Date | null }>(
      `select min(deadline) as d from ${this.#t('test_calls')} where status = 'waiting'`,
    );
    return rows[0]?.d ?? undefined;
  }

  /**
   * A gateway refused a message of this device (its dead letter): counted in the device's health,
   * and kept with its latest test call when that is waiting, or ended less than
   * REFUSAL_AFTER_TEST_MS before the refusal (the letter of an alarm stored despite its form is
   * written after the alarm, which may pass the test first). Returns the test call it was kept
   * with, or undefined (also for a device the registry does not know: nothing is kept). The device
   * is named by its serial (an MQTT topic) or by the DC-09 account a refused frame named, which
   * holds no more than that: the account of a device in service (a decommissioned one has none).
   */
  async recordRefusal(
    device: { readonly serial: string } | { readonly dc09Account: string },
    refusal: DeviceRefusal,
    now: Date,
  ): Promise<TestCall | undefined> {
    return withTransaction(this.#pool, async (client) => {
      const known = await client.query<{ serial: string }>(
        'serial' in device
          ? `select serial from ${this.#devices} where serial = $1`
          : `select serial from ${this.#devices} where dc09_account = $1`,
        ['serial' in device ? device.serial : device.dc09Account],
      );
      const serial = known.rows[0]?.serial;
      if (serial === undefined) return undefined;
      const at = new Date(refusal.at);
      // The latest letter again (a redelivery) is not counted twice; one redelivered after a later
      // letter was counted would be, which only a registry stopped mid-batch can cause.
      const health = await client.query<{ refused_letter: string | null }>(
        `select refused_letter from ${this.#t('device_health')} where serial = $1`,
        [serial],
      );
      if (health.rows[0]?.refused_letter !== refusal.deadLetterId) {
        await client.query(
          `insert into ${this.#t('device_health')} as h (serial, refused_at, refused_reason, refused_detail, refused_letter)
           values ($1, $2, $3, $4, $5)
           on conflict (serial) do update set
             refused_at = excluded.refused_at, refused_reason = excluded.refused_reason,
             refused_detail = excluded.refused_detail, refused_letter = excluded.refused_letter
           where h.refused_at is null or h.refused_at <= excluded.refused_at`,
          [serial, at, refusal.reason, refusal.detail, refusal.deadLetterId],
        );
        await client.query(
          `insert into ${this.#t('device_refusals')} as r (serial, minute, refusals)
           values ($1, date_trunc('minute', $2::timestamptz), 1)
           on conflict (serial, minute) do update set refusals = r.refusals + 1`,
          [serial, at],
        );
        // Every device's, so the table holds one day: a device that stopped being refused leaves nothing.
        await client.query(
          `delete from ${this.#t('device_refusals')} where minute < $1::timestamptz - interval '24 hours'`,
          [now],
        );
      }
      const { rows } = await client.query<TestRow>(
        `update ${this.#t('test_calls')} t
            set refused = (select coalesce(jsonb_agg(e order by e->>'at', e->>'deadLetterId'), '[]'::jsonb)
                             from (select e from jsonb_array_elements(t.refused || $2::jsonb) e
                                    order by e->>'at' desc, e->>'deadLetterId' desc limit $5) newest)
          where t.id = (select id from ${this.#t('test_calls')} where serial = $1 order by started_at desc, id desc limit 1)
            and t.started_at <= $3
            and (t.status = 'waiting' or t.finished_at >= $3::timestamptz - make_interval(secs => $6))
            and not t.refused @> jsonb_build_array(jsonb_build_object('deadLetterId', $4::text))
          returning *`,
        [
          serial,
          JSON.stringify([{ ...refusal, at: at.toISOString() }]),
          at,
          refusal.deadLetterId,
          MAX_REFUSALS,
          REFUSAL_AFTER_TEST_MS / 1000,
        ],
      );
      return rows[0] ? toTestCall(rows[0]) : undefined;
    });
  }

  // --- device health ----------------------------------------------------------------------------

  /**
   * Folds one event into the device's health. Each field only moves forward in event time, so
   * redelivered or out-of-order events never roll health back.
   */
  async recordHealth(
    serial: string,
    event: {
      type: string;
      at: Date;
      batteryPercent?: number;
      mains?: boolean;
      signalDbm?: number;
      /** A life-critical alarm the device's kind does not report (its kind and event id). */
      kindMismatch?: { kind: string; eventId: string };
      /** When a DC-09 message that decrypted only with its account's previous key was received. */
      previousKeyAt?: Date;
      /** The device's login found in use from two places (`device.login-contested`). */
      loginContested?: { eventId: string; takeovers: number | null; addresses: number | null };
    },
    now: Date = new Date(),
  ): Promise<void> {
    if (event.kindMismatch) {
      // Counted for the last day (see migration 016): once per event, in its minute of event time.
      await this.#pool.query(
        `insert into ${this.#t('device_kind_mismatches')} as m (serial, minute, events, first_at, last_at)
         values ($1, date_trunc('minute', $2::timestamptz), array[$3::text], $2::timestamptz, $2::timestamptz)
         on conflict (serial, minute) do update set
           events = m.events || excluded.events,
           first_at = least(m.first_at, excluded.first_at),
           last_at = greatest(m.last_at, excluded.last_at)
         where not m.events @> excluded.events`,
        [serial, event.at, event.kindMismatch.eventId],
      );
      // Every device's, so the table holds one day: a device corrected leaves nothing.
      await this.#pool.query(
        `delete from ${this.#t('device_kind_mismatches')} where minute < $1::timestamptz - interval '24 hours'`,
        [now],
      );
    }
    const heartbeat = event.type === 'heartbeat' || event.type.startsWith('test.') ? event.at : null;
    const pendant = event.type === 'pendant.pressed' || event.type === 'pullcord.pulled' ? event.at : null;
    const mains =
      event.mains ??
      (event.type === 'mains.lost' ? false : event.type === 'mains.restored' ? true : undefined);
    await this.#pool.query(
      `insert into ${this.#t('device_health')} as h
         (serial, last_event_at, last_event_type, last_heartbeat_at, battery_percent, battery_at, mains, mains_at,
          signal_dbm, signal_at, last_pendant_at, mismatch_at, mismatch_type, mismatch_kind, mismatch_event,
          previous_key_at, contested_at, contested_event, contested_takeovers, contested_addresses)
       values ($1, $2::timestamptz, $3, $4::timestamptz, $5::real,
               case when $5::real is null then null else $2::timestamptz end, $6::boolean,
               case when $6::boolean is null then null else $2::timestamptz end, $7::real,
               case when $7::real is null then null else $2::timestamptz end, $8::timestamptz,
               case when $9::text is null then null else $2::timestamptz end,
               case when $9::text is null then null else $3 end, $9::text, $10::text,
               $11::timestamptz, case when $12::text is null then null else $2::timestamptz end, $12::text,
               $13::integer, $14::integer)
       on conflict (serial) do update set
         last_event_type = case when h.last_event_at is null or excluded.last_event_at >= h.last_event_at
                                then excluded.last_event_type else h.last_event_type end,
         last_event_at = greatest(h.last_event_at, excluded.last_event_at),
         last_heartbeat_at = greatest(h.last_heartbeat_at, excluded.last_heartbeat_at),
         battery_percent = case when excluded.battery_at is not null and (h.battery_at is null or excluded.battery_at >= h.battery_at)
                                then excluded.battery_percent else h.battery_percent end,
         battery_at = greatest(h.battery_at, excluded.battery_at),
         mains = case when excluded.mains_at is not null and (h.mains_at is null or excluded.mains_at >= h.mains_at)
                      then excluded.mains else h.mains end,
         mains_at = greatest(h.mains_at, excluded.mains_at),
         signal_dbm = case when excluded.signal_at is not null and (h.signal_at is null or excluded.signal_at >= h.signal_at)
                           then excluded.signal_dbm else h.signal_dbm end,
         signal_at = greatest(h.signal_at, excluded.signal_at),
         last_pendant_at = greatest(h.last_pendant_at, excluded.last_pendant_at),
         mismatch_type = case when excluded.mismatch_at is not null and (h.mismatch_at is null or excluded.mismatch_at >= h.mismatch_at)
                              then excluded.mismatch_type else h.mismatch_type end,
         mismatch_kind = case when excluded.mismatch_at is not null and (h.mismatch_at is null or excluded.mismatch_at >= h.mismatch_at)
                              then excluded.mismatch_kind else h.mismatch_kind end,
         mismatch_event = case when excluded.mismatch_at is not null and (h.mismatch_at is null or excluded.mismatch_at >= h.mismatch_at)
                               then excluded.mismatch_event else h.mismatch_event end,
         mismatch_at = greatest(h.mismatch_at, excluded.mismatch_at),
         previous_key_at = greatest(h.previous_key_at, excluded.previous_key_at),
         contested_event = case when excluded.contested_at is not null and (h.contested_at is null or excluded.contested_at >= h.contested_at)
                                then excluded.contested_event else h.contested_event end,
         contested_takeovers = case when excluded.contested_at is not null and (h.contested_at is null or excluded.contested_at >= h.contested_at)
                                    then excluded.contested_takeovers else h.contested_takeovers end,
         contested_addresses = case when excluded.contested_at is not null and (h.contested_at is null or excluded.contested_at >= h.contested_at)
                                    then excluded.contested_addresses else h.contested_addresses end,
         contested_at = greatest(h.contested_at, excluded.contested_at)`,
      [
        serial,
        event.at,
        event.type,
        heartbeat,
        event.batteryPercent ?? null,
        mains ?? null,
        event.signalDbm ?? null,
        pendant,
        event.kindMismatch?.kind ?? null,
        event.kindMismatch?.eventId ?? null,
        event.previousKeyAt ?? null,
        event.loginContested?.eventId ?? null,
        event.loginContested?.takeovers ?? null,
        event.loginContested?.addresses ?? null,
      ],
    );
  }

  async health(
    filter: { serial?: string; overdue?: boolean; batteryBelow?: number | undefined },
    now: Date,
  ): Promise<DeviceHealth[]> {
    const { rows } = await this.#pool.query<HealthRow>(
      `select d.serial, d.resident_id, d.state, d.supervision_interval_s, d.created_at, d.updated_at,
              h.last_event_at, h.last_event_type, h.last_heartbeat_at, h.battery_percent, h.mains, h.signal_dbm,
              h.last_pendant_at, h.refused_at, h.refused_reason, h.refused_detail, h.refused_letter,
              h.mismatch_at, h.mismatch_type, h.mismatch_kind, h.mismatch_event,
              h.previous_key_at, d.dc09_prev_key_enc is not null as previous_key_set,
              h.contested_at, h.contested_event, h.contested_takeovers, h.contested_addresses,
              d.credential_issued_at,
              d.dc09_prev_key_until, d.dc09_key_changed_at,
              coalesce(r.refused, 0) as refused_24h,
              km.mismatches as mismatches_24h, km.first_at as mismatch_first_at, km.last_at as mismatch_last_at,
              case when d.supervision_interval_s is null then null
                   else coalesce(h.last_heartbeat_at, d.created_at) + make_interval(secs => d.supervision_interval_s)
              end as due_by
         from ${this.#devices} d left join ${this.#t('device_health')} h on h.serial = d.serial
         -- One pass over the day's refusals for the whole fleet, not a probe per device.
         left join (select serial, sum(refusals)::int as refused from ${this.#t('device_refusals')}
                     where ($1::text is null or serial = $1)
                       and minute >= date_trunc('minute', $2::timestamptz - interval '24 hours')
                     group by serial) r on r.serial = d.serial
         left join (select serial, sum(cardinality(events))::int as mismatches,
                           min(first_at) as first_at, max(last_at) as last_at
                      from ${this.#t('device_kind_mismatches')}
                     where ($1::text is null or serial = $1)
                       and minute >= date_trunc('minute', $2::timestamptz - interval '24 hours')
                     group by serial) km on km.serial = d.serial
        where ($1::text is null or d.serial = $1)
          and d.state in ('installed', 'test', 'faulty')
          and ($3::real is null or h.battery_percent < $3)
          and (not $4 or (d.supervision_interval_s is not null
               and coalesce(h.last_heartbeat_at, d.created_at) + make_interval(secs => d.supervision_interval_s) < $2))
        order by ${filter.batteryBelow === undefined ? 'd.serial' : 'h.battery_percent, d.serial'}`,
      [filter.serial ?? null, now, filter.batteryBelow ?? null, filter.overdue ?? false],
    );
    return rows.map((row) => {
      const overdue = row.due_by !== null && row.due_by.getTime() < now.getTime();
      return {
        serial: row.serial,
        residentId: row.resident_id,
        state: row.state,
        supervisionIntervalS: row.supervision_interval_s,
        lastEventAt: row.last_event_at?.toISOString() ?? null,
        lastEventType: row.last_event_type,
        lastHeartbeatAt: row.last_heartbeat_at?.toISOString() ?? null,
        batteryPercent: row.battery_percent,
        mains: row.mains,
        signalDbm: row.signal_dbm,
        lastPendantAt: row.last_pendant_at?.toISOString() ?? null,
        overdue,
        overdueSince: overdue ? row.due_by!.toISOString() : null,
        refusedLast24h: row.refused_24h,
        lastRefusal:
          row.refused_at === null
            ? null
            : {
                reason: row.refused_reason ?? '',
                detail: row.refused_detail ?? '',
                at: row.refused_at.toISOString(),
                deadLetterId: row.refused_letter ?? '',
              },
        lastKindMismatch:
          // Of the last day, as refusals are counted: one from before a corrected registration fades.
          row.mismatch_at === null ||
          row.mismatch_type === null ||
          row.mismatch_kind === null ||
          row.mismatch_at.getTime() < now.getTime() - 24 * 3600_000
            ? null
            : {
                type: row.mismatch_type,
                kind: row.mismatch_kind,
                detail: kindMismatchDetail(row.mismatch_kind, row.mismatch_type),
                at: row.mismatch_at.toISOString(),
                eventId: row.mismatch_event ?? '',
              },
        lastLoginContested:
          // Until the device is given a new secret, which shuts the copy out.
          row.contested_at === null ||
          (row.credential_issued_at !== null && row.contested_at <= row.credential_issued_at)
            ? null
            : {
                at: row.contested_at.toISOString(),
                eventId: row.contested_event ?? '',
                takeovers: row.contested_takeovers,
                addresses: row.contested_addresses,
              },
        kindMismatchesLast24h:
          row.mismatches_24h === null || row.mismatch_first_at === null || row.mismatch_last_at === null
            ? null
            : {
                count: row.mismatches_24h,
                firstAt: row.mismatch_first_at.toISOString(),
                lastAt: row.mismatch_last_at.toISOString(),
              },
        dc09PreviousKey:
          row.previous_key_set && row.dc09_prev_key_until !== null && row.dc09_prev_key_until > now
            ? {
                until: row.dc09_prev_key_until.toISOString(),
                // Only a use since this key change: one from an earlier rotation says nothing now.
                lastUsedAt:
                  row.previous_key_at !== null &&
                  (row.dc09_key_changed_at === null || row.previous_key_at >= row.dc09_key_changed_at)
                    ? row.previous_key_at.toISOString()
                    : null,
              }
            : null,
      };
    });
  }

  // --- API tokens -------------------------------------------------------------------------------

  /** Issues a program's token with a role: the secret is in the answer only, its hash is kept. */
  async createToken(
    input: { name: string; role: ApiRole; expiresInDays?: number | undefined },
    now: Date,
    db?: PoolClient,
  ): Promise<{
    id: string;
    name: string;
    role: ApiRole;
    createdAt: string;
    expiresAt: string;
    token: string;
  }> {
    const days = input.expiresInDays ?? defaultTokenDays(input.role);
    const expiresAt = new Date(now.getTime() + days * 86_400_000);
    const issued = await this.#tokens.issue({ label: input.name, role: input.role, expiresAt }, now, db);
    return {
      id: issued.id,
      name: input.name,
      role: input.role,
      createdAt: issued.createdAt,
      expiresAt: expiresAt.toISOString(),
      token: issued.token,
    };
  }

  /** The live token with this secret: its id and role. */
  async tokenFor(token: string, now: Date): Promise<{ id: string; role: string } | undefined> {
    const found = await this.#tokens.find(token, now);
    return found?.role ? { id: found.id, role: found.role } : undefined;
  }

  async revokeToken(id: string, now: Date): Promise<void> {
    if (!(await this.#tokens.revoke(id, now))) throw new NotFoundError('token', id);
  }

  /** Serials and DC-09 accounts (with their holder) already registered, for validating an import. */
  async existingKeys(
    serials: readonly string[],
    accounts: readonly string[],
  ): Promise<{ serials: Set<string>; accounts: Map<string, string> }> {
    const a = await this.#pool.query<{ serial: string }>(
      `select serial from ${this.#devices} where serial = any($1)`,
      [serials],
    );
    const b = await this.#pool.query<{ dc09_account: string; serial: string }>(
      `select dc09_account, serial from ${this.#devices} where dc09_account = any($1)`,
      [accounts],
    );
    return {
      serials: new Set(a.rows.map((r) => r.serial)),
      /** Account → the serial that holds it. */
      accounts: new Map(b.rows.map((r) => [r.dc09_account, r.serial])),
    };
  }

  /** The registered serial of each of these in any letter case, by its lower case. */
  async serialsAnyCase(
    serials: readonly string[],
    db: Pick<PoolClient, 'query'> = this.#pool,
  ): Promise<Map<string, string>> {
    if (serials.length === 0) return new Map();
    const { rows } = await db.query<{ serial: string }>(
      `select serial from ${this.#devices} where lower(serial) = any($1)`,
      [serials.map((s) => s.toLowerCase())],
    );
    return new Map(rows.map((r) => [r.serial.toLowerCase(), r.serial]));
  }

  async residentsExist(ids: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ id: string }>(
      `select id from ${this.#residents} where id = any($1)`,
      [ids],
    );
    return new Set(rows.map((r) => r.id));
  }

  /** The rows behind one device-map entry, or undefined if no device has this serial. */
  async mapRowsFor(serial: string): Promise<MapRows | undefined> {
    const { rows } = await this.#pool.query<MapJoinRow>(`${this.#mapSelect()} where d.serial = $1`, [serial]);
    return rows[0] ? splitMapRow(rows[0]) : undefined;
  }

  /** `mapRowsFor` of many serials in one statement, by serial; a serial with no device is left out. */
  async mapRowsForMany(serials: readonly string[]): Promise<Map<string, MapRows>> {
    const { rows } = await this.#pool.query<MapJoinRow>(
      `${this.#mapSelect()} where d.serial = any($1::text[])`,
      [serials],
    );
    return new Map(rows.map((row) => [row.serial, splitMapRow(row)]));
  }

  /**
   * Every device's map rows, in serial order, a batch at a time (keyset pagination, so a large
   * estate is never held in memory at once).
   */
  async *allMapRows(batchSize = 500): AsyncGenerator<MapRows> {
    let after = '';
    for (;;) {
      const { rows } = await this.#pool.query<MapJoinRow>(
        `${this.#mapSelect()} where d.serial > $1 order by d.serial limit $2`,
        [after, batchSize],
      );
      for (const row of rows) yield splitMapRow(row);
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1]!.serial;
    }
  }

  #mapSelect(): string {
    return `select d.*, r.id as r_id, r.postcode_district as r_postcode_district, r.updated_at as r_updated_at
              from ${this.#devices} d left join ${this.#residents} r on r.id = d.resident_id`;
  }
}

/** What arrived before the trigger is listed up to this many events: enough to diagnose, bounded. */
const MAX_ARRIVALS = 20;

/** A test call keeps the newest of the device's refusals, up to this many. */
const MAX_REFUSALS = 20;

/**
 * A refusal this long after a test call ended still belongs to it: gateway-mqtt dead-letters an
 * alarm it stored despite its form only once stored, and the alarm may have passed the test already.
 */
const REFUSAL_AFTER_TEST_MS = 60_000;

interface TestRow {
  id: string;
  serial: string;
  kind: string;
  status: TestCall['status'];
  connected_at: Date | null;
  arrived: TestArrival[];
  refused: DeviceRefusal[];
  mismatched: KindMismatch[];
  started_at: Date;
  deadline: Date;
  finished_at: Date | null;
  reason: string | null;
  event_id: string | null;
  event_type: string | null;
  latency_ms: number | null;
  battery_percent: number | null;
  signal_dbm: number | null;
}

function toTestCall(row: TestRow): TestCall {
  const kind = DeviceKind.parse(row.kind);
  const trigger = testTriggerOf(kind);
  const arrived = row.arrived ?? [];
  const refused = row.refused ?? [];
  const mismatched = row.mismatched ?? [];
  const latest = refused.at(-1);
  const mismatch = mismatched.at(-1);
  return {
    id: row.id,
    serial: row.serial,
    kind,
    expected: trigger.passes,
    action: trigger.action,
    status: row.status,
    progress:
      row.status === 'passed'
        ? 'trigger arrived'
        : mismatch
          ? `kind mismatch: ${mismatch.detail}`
          : latest
            ? `messages arrive but are refused: ${latest.reason}: ${latest.detail}`
            : arrived.length > 0
              ? 'connected, no trigger yet'
              : 'nothing arrived yet',
    connectedAt: row.connected_at?.toISOString() ?? null,
    arrived,
    refused,
    mismatched,
    warnings: testWarnings(row.status, refused, mismatched, arrived),
    startedAt: row.started_at.toISOString(),
    deadline: row.deadline.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    reason: row.reason,
    eventId: row.event_id,
    eventType: row.event_type,
    latencyMs: row.latency_ms,
    batteryPercent: row.battery_percent,
    signalDbm: row.signal_dbm,
  };
}

/**
 * What the installer should still put right: an alarm gateway-mqtt stored although its payload
 * broke the contract (it passes the test, yet the device is wrong), and, once passed, an alarm its
 * registered kind does not report and any other refusal. One line per distinct fault.
 */
function testWarnings(
  status: TestCall['status'],
  refused: readonly DeviceRefusal[],
  mismatched: readonly KindMismatch[],
  arrived: readonly TestArrival[],
): string[] {
  const lines = new Set<string>();
  // A panel re-keyed in the registry and not yet on site passes its call in the key's grace: the
  // installer must not leave believing it is done, for after the grace its alarms are refused.
  if (arrived.some((a) => a.previousKey))
    lines.add(
      'the panel sent with its previous DC-09 key, accepted only until the grace after the key change ends (dc09PreviousKey in its health): re-key the panel',
    );
  if (status === 'passed') for (const m of mismatched) lines.add(`kind mismatch: ${m.detail}`);
  for (const r of refused) {
    const alarm = readRepairedAlarm(r.detail);
    if (r.reason === 'schema' && alarm)
      lines.add(
        `${alarm.type} breaks the device contract (${alarm.wrong}): stored only because an alarm is never refused for its form${alarm.datedOnReceipt ? ', dated on receipt' : ''}; put the device's messages right`,
      );
    else if (status === 'passed') lines.add(`messages refused: ${r.reason}: ${r.detail}`);
  }
  return [...lines];
}

interface HealthRow {
  serial: string;
  resident_id: string | null;
  state: string;
  supervision_interval_s: number | null;
  last_event_at: Date | null;
  last_event_type: string | null;
  last_heartbeat_at: Date | null;
  battery_percent: number | null;
  mains: boolean | null;
  signal_dbm: number | null;
  last_pendant_at: Date | null;
  refused_at: Date | null;
  refused_reason: string | null;
  refused_detail: string | null;
  refused_letter: string | null;
  refused_24h: number;
  mismatches_24h: number | null;
  mismatch_first_at: Date | null;
  mismatch_last_at: Date | null;
  mismatch_at: Date | null;
  mismatch_type: string | null;
  mismatch_kind: string | null;
  mismatch_event: string | null;
  previous_key_at: Date | null;
  previous_key_set: boolean;
  contested_at: Date | null;
  contested_event: string | null;
  contested_takeovers: number | null;
  contested_addresses: number | null;
  credential_issued_at: Date | null;
  dc09_prev_key_until: Date | null;
  dc09_key_changed_at: Date | null;
  due_by: Date | null;
}

function splitMapRow(row: MapJoinRow): MapRows {
  const { r_id, r_postcode_district, r_updated_at, ...device } = row;
  return {
    device,
    resident:
      r_id !== null && r_postcode_district !== null && r_updated_at !== null
        ? { id: r_id, postcode_district: r_postcode_district, updated_at: r_updated_at }
        : null,
  };
}

/** How long after its end a period is still given to triage. */
const AWAY_KEPT_MS = 7 * 86_400_000;

interface AwayRow {
  id: string;
  resident_id: string;
  starts_at: Date;
  ends_at: Date | null;
  reason: AwayRecord['reason'];
  note: string | null;
  set_by: string;
  set_at: Date;
  ended_by: string | null;
  ended_at: Date | null;
}

function awayOf(row: AwayRow): AwayRecord {
  return {
    id: row.id,
    residentId: row.resident_id,
    from: row.starts_at.toISOString(),
    until: row.ends_at?.toISOString() ?? null,
    reason: row.reason,
    note: row.note,
    setBy: row.set_by,
    setAt: row.set_at.toISOString(),
    endedBy: row.ended_by,
    endedAt: row.ended_at?.toISOString() ?? null,
  };
}

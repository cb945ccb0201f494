import {
  ForbiddenError as Forbidden,
  NotFoundError as NotFound,
  RefusedError,
  RequestError,
  UnavailableError,
} from '@telecare/platform';

export { InvalidRequestError, type Issue, RateLimitedError, RefusedError } from '@telecare/platform';

export class NotFoundError extends NotFound {
  constructor(
    what: 'resident' | 'device' | 'responder' | 'token' | 'test call' | 'away period',
    key: string,
  ) {
    super(`${what} ${key} not found`, { context: { what, key } });
  }
}

export class DuplicateSerialError extends RefusedError {
  /** `registered`: the serial as registered, when it differs from the one given in letter case. */
  constructor(serial: string, options: { cause?: unknown; registered?: string } = {}) {
    const as = options.registered && options.registered !== serial ? ` (as ${options.registered})` : '';
    super(409, 'duplicate-serial', `a device with serial ${serial} is already registered${as}`, [
      { path: 'serial', message: `already registered${as}` },
    ]);
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** A body refers to a resident that does not exist (the request is well formed, so not a 400). */
export class UnknownResidentError extends RefusedError {
  constructor(residentId: string, options: { cause?: unknown } = {}) {
    const message = `resident ${residentId} does not exist; create the resident first`;
    super(422, 'unknown-resident', message, [{ path: 'residentId', message }]);
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** The caller's token does not carry a role allowed to do this. */
export class ForbiddenError extends Forbidden {
  constructor(action: string, role: string) {
    super(`a ${role} token may not ${action}`, { context: { action, role } });
  }
}

/** A dependency the request needs (the MQTT broker's dynamic security) did not answer or refused. */
export class DependencyError extends UnavailableError {}

/**
 * The change is committed (PostgreSQL has it) but a copy the services read could not be written:
 * its KV bucket is full (its share of TELECARE_JETSTREAM_MAX_BYTES). 507: done, but not stored
 * where it must be. Not to be retried by the caller (a retry changes nothing; the registry writes
 * the copy again with backoff, every 30 s at most): grow the store.
 */
export abstract class CopyFullError extends RequestError {
  readonly status = 507;
}

/**
 * The device's entry is not in the device map: until it is, the gateways and triage go on with the
 * entry as it was (a new device has none: its messages are refused as from an unknown device).
 */
export class DeviceMapFullError extends CopyFullError {
  readonly code = 'device-map-full';
  readonly #serial: string;

  constructor(serial: string) {
    super(
      `device ${serial}: the change is saved, but the device map is full and does not hold it: until it has room the gateways and triage go on with the device's entry as it was before (a new device has none: its messages are refused; a decommissioned one is still taken), and the registry keeps trying. Grow TELECARE_JETSTREAM_MAX_BYTES and the NATS servers' max_file_store`,
      { context: { serial } },
    );
    this.#serial = serial;
  }

  override details(): Record<string, unknown> {
    return { serial: this.#serial, saved: true };
  }
}

/**
 * The panel's account entry is not in the DC-09 accounts bucket: until it is, the DC-09 gateway
 * goes on with the account as the bucket had it (a new account is unknown to it: NAK).
 */
export class Dc09AccountsFullError extends CopyFullError {
  readonly code = 'dc09-accounts-full';
  readonly #serial: string;
  readonly #account: string | null;

  constructor(serial: string, account: string | null) {
    super(
      `device ${serial}: the change is saved, but the DC-09 accounts bucket is full and does not hold it: until it has room the DC-09 gateway goes on with ${account ? `account ${account}` : "the panel's account"} as it was before (a new account is unknown to it: the panel's messages are answered NAK; a new key is not taken yet, the old one still is; a decommissioned panel's account is still taken), and the registry keeps trying. Grow TELECARE_JETSTREAM_MAX_BYTES and the NATS servers' max_file_store`,
      { context: { serial, account } },
    );
    this.#serial = serial;
    this.#account = account;
  }

  override details(): Record<string, unknown> {
    return { serial: this.#serial, account: this.#account, saved: true };
  }
}

/**
 * The resident's entry is not in the away-periods bucket: until it is, triage goes on with their
 * periods as they were.
 */
export class AwayPeriodsFullError extends CopyFullError {
  readonly code = 'away-periods-full';
  readonly #residentId: string;

  constructor(residentId: string) {
    super(
      `resident ${residentId}: the change is saved, but the away periods bucket is full and does not hold it: until it has room triage goes on with the resident's periods as they were before (a new period is not known: their absence alerts are raised as if they were home; an ended one still holds them until a return home is seen), and the registry keeps trying. Grow TELECARE_JETSTREAM_MAX_BYTES and the NATS servers' max_file_store`,
      { context: { residentId } },
    );
    this.#residentId = residentId;
  }

  override details(): Record<string, unknown> {
    return { residentId: this.#residentId, saved: true };
  }
}

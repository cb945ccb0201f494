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
 * The change is committed (PostgreSQL has it) but the device's entry could not be written to the
 * device map: the bucket is full (its share of TELECARE_JETSTREAM_MAX_BYTES). Until it is, the
 * gateways and triage go on with the entry as it was (a new device has none: its messages are
 * refused as from an unknown device); the registry writes it again with backoff (every 30 s at most). 507: done, but not stored where
 * it must be. Not to be retried by the caller (a retry changes nothing): grow the store.
 */
export class DeviceMapFullError extends RequestError {
  readonly status = 507;
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

import { TelecareError } from '@telecare/platform';

export interface Issue {
  /** The field at fault, dotted (`postcode`, `data.celsius`), or `(body)` for the whole body. */
  path: string;
  message: string;
}

/** The request body or query is not acceptable; every issue names its field. */
export class InvalidRequestError extends TelecareError {
  readonly retryable = false;
  readonly issues: readonly Issue[];
  constructor(issues: readonly Issue[]) {
    super(`invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.issues = issues;
  }
}

export class NotFoundError extends TelecareError {
  readonly retryable = false;
  constructor(what: 'resident' | 'device' | 'responder' | 'token' | 'test call', key: string) {
    super(`${what} ${key} not found`, { context: { what, key } });
  }
}

export class DuplicateSerialError extends TelecareError {
  readonly retryable = false;
  constructor(serial: string, options: { cause?: unknown } = {}) {
    super(`a device with serial ${serial} is already registered`, { ...options, context: { serial } });
  }
}

/** A body refers to a resident that does not exist (the request is well formed, so not a 400). */
export class UnknownResidentError extends TelecareError {
  readonly retryable = false;
  constructor(residentId: string, options: { cause?: unknown } = {}) {
    super(`resident ${residentId} does not exist; create the resident first`, {
      ...options,
      context: { residentId },
    });
  }
}

/** Well-formed, but the registry cannot do it in the record's present state (409 or 422). */
export class RefusedError extends TelecareError {
  readonly retryable = false;
  readonly status: 409 | 422;
  readonly code: string;
  readonly issues: readonly Issue[];
  constructor(status: 409 | 422, code: string, message: string, issues: readonly Issue[] = []) {
    super(message, { context: { code } });
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

/** The caller's token does not carry a role allowed to do this. */
export class ForbiddenError extends TelecareError {
  readonly retryable = false;
  constructor(action: string, role: string) {
    super(`a ${role} token may not ${action}`, { context: { action, role } });
  }
}

/** A dependency the request needs (the MQTT broker's dynamic security) did not answer or refused. */
export class DependencyError extends TelecareError {
  readonly retryable = true;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/** Too many attempts of one kind by one caller in the window: 429 with Retry-After. */
export class RateLimitedError extends TelecareError {
  readonly retryable = true;
  constructor(
    readonly action: string,
    readonly retryAfterS: number,
  ) {
    super(`too many attempts to ${action}; try again in ${retryAfterS} s`, {
      context: { action, retryAfterS },
    });
  }
}

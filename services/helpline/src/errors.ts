import type { CaseState } from '@telecare/contracts';
import {
  ForbiddenError as Forbidden,
  NotFoundError,
  RateLimitedError,
  RefusedError,
  RequestError,
} from '@telecare/platform';

export { RateLimitedError } from '@telecare/platform';

export class CaseNotFoundError extends NotFoundError {
  constructor(readonly caseId: string) {
    super(`no case ${caseId}`, { context: { caseId } });
  }
}

/** An operator action the case's state (or its owner) does not allow; nothing was changed (409). */
export class TransitionRefusedError extends RefusedError {
  constructor(
    readonly caseId: string,
    readonly action: string,
    readonly state: CaseState,
    reason: string,
    /** The user who has the case, when that is why it was refused. */
    readonly holder?: string | null,
  ) {
    super(409, 'refused', reason, [], { state, ...(holder ? { holder } : {}) });
  }
}

/**
 * An Idempotency-Key already used on the case by another person or for another action: nothing was
 * done (422). Answered as a retry, the request would be taken as done and lost.
 */
export class IdempotencyKeyReusedError extends RefusedError {
  constructor(readonly caseId: string) {
    super(
      422,
      'idempotency-key-reused',
      'this Idempotency-Key was used on this case for another request: send a new key for a new request',
      [{ path: 'idempotency-key', message: 'already used on this case for another request' }],
    );
  }
}

/** The principal's role does not allow the action. */
export class ForbiddenError extends Forbidden {
  constructor(
    readonly role: string,
    readonly needs: readonly string[],
    action: string,
  ) {
    super(`${action} needs the role ${needs.join(' or ')}; you are signed in as ${role}`, {
      context: { role, action },
    });
  }
}

/** Too many open streams for one principal: the newest is refused, the ones open keep going. */
export class TooManyStreamsError extends RateLimitedError {
  constructor(readonly max: number) {
    super(
      'open live streams',
      10,
      'too-many-requests',
      `at most ${max} live streams per user on one helpline instance; close a console you no longer use`,
    );
  }
}

/** A reveal the case does not allow this principal (not open, or not theirs); nothing was read. */
export class RevealRefusedError extends Forbidden {
  constructor(
    readonly caseId: string,
    reason: string,
  ) {
    super(reason, { context: { caseId } });
  }
}

/** No such call on this case. */
export class CallNotFoundError extends NotFoundError {
  constructor(
    readonly caseId: string,
    readonly callId: string,
  ) {
    super(`no call ${callId} on case ${caseId}`, { context: { caseId, callId } });
  }
}

/**
 * A call under this Idempotency-Key is still being placed (the phone system has not answered yet):
 * nothing was done (409). Sent again once the first has answered, it is answered with that call.
 */
export class CallInProgressError extends RefusedError {
  constructor(readonly caseId: string) {
    super(
      409,
      'call-in-progress',
      'a call under this Idempotency-Key is still being placed: wait for it, or send the same key again to be answered with it',
    );
  }
}

/** The registry names no such party for the case's resident (or has no number for it). */
export class PartyNotFoundError extends NotFoundError {
  constructor(
    readonly caseId: string,
    message: string,
  ) {
    super(message, { context: { caseId } });
  }
}

/** A request about a case that cannot be right (a fact timed in the future, say): 400, nothing changed. */
export class CaseInputRefusedError extends RequestError {
  readonly status = 400;
  readonly code = 'invalid-request';
  constructor(
    readonly caseId: string,
    readonly action: string,
    reason: string,
  ) {
    super(reason, { context: { caseId, action } });
  }
}

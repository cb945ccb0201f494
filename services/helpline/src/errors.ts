import type { CaseState } from '@telecare/contracts';
import { TelecareError } from '@telecare/platform';

export class CaseNotFoundError extends TelecareError {
  readonly retryable = false;
  constructor(readonly caseId: string) {
    super(`no case ${caseId}`, { context: { caseId } });
  }
}

/** An operator action the case's state (or its owner) does not allow; nothing was changed. */
export class TransitionRefusedError extends TelecareError {
  readonly retryable = false;
  constructor(
    readonly caseId: string,
    readonly action: string,
    readonly state: CaseState,
    reason: string,
    /** The user who has the case, when that is why it was refused. */
    readonly holder?: string | null,
  ) {
    super(reason, { context: { caseId, action, state } });
  }
}

/** The principal's role does not allow the action. */
export class ForbiddenError extends TelecareError {
  readonly retryable = false;
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
export class TooManyStreamsError extends TelecareError {
  readonly retryable = true;
  constructor(readonly max: number) {
    super(
      `at most ${max} live streams per user on one helpline instance; close a console you no longer use`,
      {
        context: { max },
      },
    );
  }
}

/** A reveal the case does not allow this principal (not open, or not theirs); nothing was read. */
export class RevealRefusedError extends TelecareError {
  readonly retryable = false;
  constructor(
    readonly caseId: string,
    reason: string,
  ) {
    super(reason, { context: { caseId } });
  }
}

/** Too many attempts by one principal in the window: 429 with Retry-After. */
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

/** No such call on this case. */
export class CallNotFoundError extends TelecareError {
  readonly retryable = false;
  constructor(
    readonly caseId: string,
    readonly callId: string,
  ) {
    super(`no call ${callId} on case ${caseId}`, { context: { caseId, callId } });
  }
}

/** The registry names no such party for the case's resident (or has no number for it). */
export class PartyNotFoundError extends TelecareError {
  readonly retryable = false;
  constructor(
    readonly caseId: string,
    message: string,
  ) {
    super(message, { context: { caseId } });
  }
}

/** A request about a case that cannot be right (a fact timed in the future, say): 400, nothing changed. */
export class CaseInputRefusedError extends TelecareError {
  readonly retryable = false;
  /** Answered as 400 by the API's error handler. */
  readonly statusCode = 400;
  constructor(
    readonly caseId: string,
    readonly action: string,
    reason: string,
  ) {
    super(reason, { context: { caseId, action } });
  }
}

import type { CaseState } from '@telecare/contracts';
import { TelecareError } from '@telecare/platform';
import type { Action } from './transitions.ts';

export class CaseNotFoundError extends TelecareError {
  readonly retryable = false;
  constructor(readonly caseId: string) {
    super(`no case ${caseId}`, { context: { caseId } });
  }
}

/** An operator action the case's state does not allow; nothing was changed. */
export class TransitionRefusedError extends TelecareError {
  readonly retryable = false;
  constructor(
    readonly caseId: string,
    readonly action: Action,
    readonly state: CaseState,
    reason: string,
  ) {
    super(reason, { context: { caseId, action, state } });
  }
}

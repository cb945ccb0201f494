export { type AlertContext, type AlertDecision, applyPatch, decideAlert, type NewCase } from './alerts.ts';
export { decide } from './decide.ts';
export { FACT_CLOCK_SKEW_MS, factTimeProblem } from './facts.ts';
export type {
  Actor,
  AlertInput,
  CasePatch,
  CaseSnapshot,
  Command,
  Decision,
  EventDraft,
  Input,
  RecordedKind,
  Refusal,
} from './model.ts';
export { SYSTEM_ACTOR } from './model.ts';
export { sourceOf } from './source.ts';

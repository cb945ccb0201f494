export {
  AREA_HOLD_PREFIX,
  type AreaEvaluation,
  type AreaHold,
  AreaState,
  areaRules,
  decideAreaHold,
  evaluateArea,
  holdForArea,
  initialAreaState,
  isAreaHold,
} from './area.ts';
export {
  ABSENCE_REASON,
  CARE_PLAN_WAKE_UP_RULE,
  DEFAULT_RULE_SET,
  RHYTHM_RULE,
  SHARE_ROUTINE_RULE,
  SUSTAINED_REASON,
  TRIGGER_REASON,
} from './default-rules.ts';
export {
  type EvaluateOptions,
  type Evaluation,
  evaluate,
  type HeldAlert,
  ResidentMismatchError,
  type ResidentSettings,
  residentSettings,
} from './evaluate.ts';
export {
  AbsenceRule,
  AreaRule,
  CorrelationRule,
  type DeviceContext,
  DeviceSupervision,
  type EventInput,
  initialState,
  RecentEvent,
  ResidentDefaults,
  ResidentOverrides,
  ResidentState,
  Rhythm,
  RhythmRule,
  Routine,
  RoutineRule,
  Rule,
  RuleId,
  type RuleInput,
  RuleSet,
  type RuleSetInput,
  RuleSetSettings,
  type RulesInput,
  SustainedRule,
  type TickInput,
  Timer,
  type TimerCommand,
  TriggerRule,
} from './model.ts';
export { parseRuleSet, RuleSetError, type RuleSetIssue } from './parse.ts';
export { REASON_PLACEHOLDERS, type ReasonPlaceholder, renderReason, templateIssues } from './reason.ts';
export { RulesRunner } from './runner.ts';
export { decodeState, encodeState, StateDecodeError } from './state-codec.ts';

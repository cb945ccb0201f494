export { DEFAULT_RULE_SET, TRIGGER_REASON } from './default-rules.ts';
export { type Evaluation, evaluate, ResidentMismatchError } from './evaluate.ts';
export {
  type EventInput,
  initialState,
  RecentEvent,
  ResidentState,
  Rule,
  RuleId,
  type RuleInput,
  RuleSet,
  type RuleSetInput,
  RuleSetSettings,
  type RulesInput,
  Timer,
  type TimerCommand,
  TriggerRule,
} from './model.ts';
export { parseRuleSet, RuleSetError, type RuleSetIssue } from './parse.ts';
export { REASON_PLACEHOLDERS, type ReasonPlaceholder, renderReason, templateIssues } from './reason.ts';

import { duplicateRuleIds, RuleSet } from './model.ts';

export interface RuleSetIssue {
  /** Where, as a dotted path into the rule set (`rules.3.on.0`), or `(rule set)` for the whole. */
  readonly path: string;
  readonly message: string;
}

/** A rule set that cannot be used. Every problem is listed, each with its path and reason. */
export class RuleSetError extends Error {
  readonly issues: readonly RuleSetIssue[];
  constructor(issues: readonly RuleSetIssue[]) {
    super(`invalid rule set\n${issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join('\n')}`);
    this.name = 'RuleSetError';
    this.issues = issues;
  }
}

/** Validates a rule set (from a file, an API, a test) and fills defaults; throws RuleSetError. */
export function parseRuleSet(input: unknown): RuleSet {
  const result = RuleSet.safeParse(input);
  if (result.success) return result.data;
  const issues: RuleSetIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(rule set)',
    message: issue.message,
  }));
  const rules =
    typeof input === 'object' && input !== null ? (input as { rules?: unknown }).rules : undefined;
  for (const { index, message } of duplicateRuleIds(rules)) {
    const path = `rules.${index}.id`;
    if (!issues.some((issue) => issue.path === path && issue.message === message))
      issues.push({ path, message });
  }
  throw new RuleSetError(issues);
}

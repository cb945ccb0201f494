/**
 * Reason templates: one readable line per alert, written as data in the rule. Only these
 * placeholders exist, so a rule cannot leak a field that might one day hold personal data.
 */
export const REASON_PLACEHOLDERS = {
  what: 'what happened, from the taxonomy (e.g. "Lifeline pendant pressed")',
  type: 'the event type (e.g. "pendant.pressed")',
  device: 'the device kind and where it is (e.g. "pendant in hallway")',
  kind: 'the device kind alone (e.g. "pendant")',
  location: 'the location in the home, or "location not recorded"',
  serial: 'the device serial',
  rule: 'the rule id and version (e.g. "trigger.pendant-pressed v1")',
  priority: 'the alert priority (e.g. "P1")',
  detail:
    'for a rule that watches over time: what held, or what did not happen, and since when (e.g. "no activity since 07:42 today (Tue 3 Dec)")',
  expected:
    'for an absence or routine rule: what was expected (e.g. "activity 09:00–10:00 on 26 of 28 days")',
  seen: 'for an absence or routine rule: what was seen instead (e.g. "none")',
} as const;
export type ReasonPlaceholder = keyof typeof REASON_PLACEHOLDERS;
export type ReasonValues = Record<ReasonPlaceholder, string>;

const PLACEHOLDER = /\{([^{}]*)\}/g;

const isPlaceholder = (name: string): name is ReasonPlaceholder => Object.hasOwn(REASON_PLACEHOLDERS, name);

/** Problems with a template, as readable messages (empty when it is fine). */
export function templateIssues(template: string): string[] {
  const issues: string[] = [];
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    if (!isPlaceholder(name)) {
      issues.push(
        `unknown placeholder {${name}}; use one of ${Object.keys(REASON_PLACEHOLDERS)
          .map((p) => `{${p}}`)
          .join(', ')}`,
      );
    }
  }
  if (/[\r\n]/.test(template)) issues.push('a reason is one line: no line breaks');
  return issues;
}

export function renderReason(template: string, values: ReasonValues): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => (isPlaceholder(name) ? values[name] : whole));
}

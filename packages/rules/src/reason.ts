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

/** A template split once: text at even indexes, placeholder names at odd ones. */
const compiled = new Map<string, readonly string[]>();

function partsOf(template: string): readonly string[] {
  let parts = compiled.get(template);
  if (!parts) {
    const split: string[] = [];
    let text = '';
    let from = 0;
    for (const match of template.matchAll(PLACEHOLDER)) {
      const name = match[1] ?? '';
      text += template.slice(from, match.index);
      from = match.index + match[0].length;
      if (isPlaceholder(name)) {
        split.push(text, name);
        text = '';
      } else text += match[0];
    }
    split.push(text + template.slice(from));
    parts = split;
    // Templates come from rule sets: a handful per set, so the cache stays small.
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(template, parts);
  }
  return parts;
}

/** Every alert renders its rule's template: split once per template, then joined. */
export function renderReason(template: string, values: ReasonValues): string {
  const parts = partsOf(template);
  let reason = parts[0] as string;
  for (let i = 1; i < parts.length; i += 2)
    reason += values[parts[i] as ReasonPlaceholder] + (parts[i + 1] as string);
  return reason;
}

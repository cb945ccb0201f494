import type { Alert } from '@telecare/contracts';

/**
 * What a case keeps of one alert. The alert's explanation travels with its case to every console
 * on every change (the case list, the live stream, the feed's replay buffer of 2,000 changes), so
 * an alert of a megabyte (a fault upstream, or a message nobody meant) would make each change of
 * its case cost a megabyte per console and could fill the helpline's memory. An alarm is never
 * refused for its size: it rings, with its reason, evidence and thresholds cut to these bounds.
 */
export const ALERT_BOUNDS = {
  /** One line an operator can read. */
  reason: 500,
  /** Evidence event ids kept, the first ones (the first names the press). */
  evidence: 100,
  /** Thresholds kept. */
  thresholds: 50,
  /** Any one id, key or text value. */
  text: 200,
} as const;

export type AlertPart = 'reason' | 'evidence' | 'thresholds' | 'rule' | 'deviceSerial';

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** The alert within `ALERT_BOUNDS`, and which of its parts had to be cut (none: the same alert). */
export function boundAlert(alert: Alert): { alert: Alert; cut: AlertPart[] } {
  const parts: AlertPart[] = [];
  const reason = cut(alert.reason, ALERT_BOUNDS.reason);
  if (reason !== alert.reason) parts.push('reason');
  const evidence = alert.evidence.slice(0, ALERT_BOUNDS.evidence).map((id) => cut(id, ALERT_BOUNDS.text));
  if (alert.evidence.length > evidence.length || evidence.some((id, i) => id !== alert.evidence[i]))
    parts.push('evidence');
  const entries = Object.entries(alert.thresholds);
  const kept = entries
    .slice(0, ALERT_BOUNDS.thresholds)
    .map(([key, value]): [string, Alert['thresholds'][string]] => [
      cut(key, ALERT_BOUNDS.text),
      typeof value === 'string' ? cut(value, ALERT_BOUNDS.text) : value,
    ]);
  if (
    entries.length > kept.length ||
    kept.some(([key, value], i) => key !== entries[i]?.[0] || value !== entries[i]?.[1])
  )
    parts.push('thresholds');
  const ruleId = cut(alert.rule.id, ALERT_BOUNDS.text);
  if (ruleId !== alert.rule.id) parts.push('rule');
  const serial = alert.deviceSerial === undefined ? undefined : cut(alert.deviceSerial, ALERT_BOUNDS.text);
  if (serial !== alert.deviceSerial) parts.push('deviceSerial');
  if (parts.length === 0) return { alert, cut: parts };
  return {
    alert: {
      ...alert,
      reason,
      evidence,
      thresholds: Object.fromEntries(kept),
      rule: { ...alert.rule, id: ruleId },
      ...(serial === undefined ? {} : { deviceSerial: serial }),
    },
    cut: parts,
  };
}

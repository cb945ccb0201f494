import { DeliverPolicy } from '@nats-io/jetstream';
import type { Alert, Names, TelecareEvent } from '@telecare/contracts';
import type { JetStreamClient, JetStreamManager } from '@telecare/platform';
import { areaRules, type RuleSet, RulesRunner } from '@telecare/rules';
import { readEvent } from './processor.ts';
import { type Pairing, pairAlerts } from './replay-import.ts';

export interface ReplayOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  /** Epoch ms: alerts raised from here… */
  readonly from: number;
  /** …to here (exclusive). */
  readonly to: number;
  /** The rules in force. */
  readonly current: RuleSet;
  /** Where the rules in force came from, for the report (`stored revision 7`, a file). */
  readonly currentSource?: string;
  /** The rules to try. */
  readonly candidate: RuleSet;
  /**
   * History read before `from` to build state (routines, open alarms, schedules) without
   * reporting its alerts. The learned routine needs days of it.
   */
  readonly warmupMs?: number;
}

export interface RuleSetOutcome {
  readonly version: number;
  readonly source?: string;
  readonly alerts: readonly Alert[];
  /** Per-home alerts not sent because their district raised an area incident (as triage does). */
  readonly withheld: number;
  /** Alerts by rule id. */
  readonly byRule: Readonly<Record<string, number>>;
}

export interface ReplayReport {
  readonly from: string;
  readonly to: string;
  readonly events: number;
  readonly skipped: number;
  readonly current: RuleSetOutcome;
  readonly candidate: RuleSetOutcome;
  /** Alerts only the candidate raises, only the rules in force raise, and both raise (same id). */
  readonly onlyCandidate: readonly Alert[];
  readonly onlyCurrent: readonly Alert[];
  readonly both: number;
  /**
   * The same alerts paired by incident: an alert of the same resident and type raised at another
   * time by the other set is the same incident moved, not one gone and one new.
   */
  readonly byIncident: Pairing;
}

const BATCH = 500;

/**
 * "What if": runs the rules in force and a candidate side by side over the stored EVENTS, each
 * event at the time triage received it, with timers fired at their due time, and compares the
 * alerts each would have raised in the range. Deterministic alert ids make the comparison exact:
 * the same alert from both sets has the same id.
 */
export async function replay(options: ReplayOptions): Promise<ReplayReport> {
  const warmupMs = options.warmupMs ?? 7 * 24 * 3600_000;
  const startAt = options.from - warmupMs;
  // A per-home alert raised before `to` may be held for its area decision until after it: read on
  // until every such hold is decided, as triage would, keeping only alerts raised in the range.
  const readUntil = options.to + Math.max(holdMs(options.current), holdMs(options.candidate));
  const current = new RulesRunner(options.current);
  const candidate = new RulesRunner(options.candidate);
  const raised = { current: [] as Alert[], candidate: [] as Alert[] };
  const raisedInRange = (alert: Alert) => {
    const at = Date.parse(alert.raisedAt);
    return at >= options.from && at < options.to;
  };
  const keep = (into: Alert[], alerts: readonly Alert[]) => {
    for (const alert of alerts) if (raisedInRange(alert)) into.push(alert);
  };
  const inRange = (alerts: readonly Alert[]) => alerts.filter(raisedInRange).length;

  const info = await options.jsm.streams.info(options.names.streams.events);
  const last = info.state.last_seq;
  let events = 0;
  let skipped = 0;
  if (info.state.messages > 0) {
    // Stored events arrive up to a little after their event time; start a margin early.
    const consumer = await options.js.consumers.get(options.names.streams.events, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(startAt - 3600_000).toISOString(),
    });
    let done = false;
    while (!done) {
      const batch = await consumer.fetch({ max_messages: BATCH, expires: 1_000 });
      let got = 0;
      for await (const msg of batch) {
        got++;
        if (msg.seq >= last) done = true;
        const read = readEvent(msg.data);
        if ('refusal' in read) {
          skipped++;
          continue;
        }
        const event: TelecareEvent = read.event;
        const now = Math.max(Date.parse(event.receivedat), Date.parse(event.time));
        if (now < startAt) continue;
        if (now >= readUntil) {
          done = true;
          break;
        }
        events++;
        keep(raised.current, current.event(event, now));
        keep(raised.candidate, candidate.event(event, now));
        if (done) break;
      }
      if (got === 0) done = true;
    }
    await consumer.delete().catch(() => undefined);
  }
  keep(raised.current, current.advance(readUntil - 1));
  keep(raised.candidate, candidate.advance(readUntil - 1));

  const currentIds = new Set(raised.current.map((alert) => alert.id));
  const candidateIds = new Set(raised.candidate.map((alert) => alert.id));
  return {
    from: new Date(options.from).toISOString(),
    to: new Date(options.to).toISOString(),
    events,
    skipped,
    current: outcome(options.current, raised.current, inRange(current.withheld), options.currentSource),
    candidate: outcome(options.candidate, raised.candidate, inRange(candidate.withheld)),
    onlyCandidate: raised.candidate.filter((alert) => !currentIds.has(alert.id)),
    onlyCurrent: raised.current.filter((alert) => !candidateIds.has(alert.id)),
    both: raised.candidate.filter((alert) => currentIds.has(alert.id)).length,
    byIncident: pairAlerts(raised.current, raised.candidate),
  };
}

/** The longest a per-home alert waits for its area decision: a window and the reorder grace. */
function holdMs(ruleSet: RuleSet): number {
  const windows = areaRules(ruleSet).map((rule) => rule.withinS);
  return windows.length === 0 ? 0 : (Math.max(...windows) + ruleSet.settings.reorderGraceS) * 1000;
}

function outcome(
  ruleSet: RuleSet,
  alerts: readonly Alert[],
  withheld: number,
  source?: string,
): RuleSetOutcome {
  const byRule: Record<string, number> = {};
  for (const alert of alerts) byRule[alert.rule.id] = (byRule[alert.rule.id] ?? 0) + 1;
  return { version: ruleSet.version, ...(source ? { source } : {}), alerts, withheld, byRule };
}

/** The report as an operator or clinical lead reads it. */
export function formatReport(report: ReplayReport): string {
  const lines = [
    `replay ${report.from} → ${report.to}: ${report.events} events${report.skipped ? `, ${report.skipped} unreadable skipped` : ''}`,
    `rules in force (v${report.current.version}${report.current.source ? `, ${report.current.source}` : ''}): ${report.current.alerts.length} alerts; candidate (v${report.candidate.version}): ${report.candidate.alerts.length} alerts; ${report.both} in both`,
    '',
    'alerts by rule            in force  candidate',
  ];
  const rules = [
    ...new Set([...Object.keys(report.current.byRule), ...Object.keys(report.candidate.byRule)]),
  ].sort();
  for (const rule of rules)
    lines.push(
      `  ${rule.padEnd(28)}${String(report.current.byRule[rule] ?? 0).padStart(6)}${String(report.candidate.byRule[rule] ?? 0).padStart(11)}`,
    );
  if (report.current.withheld || report.candidate.withheld)
    lines.push(
      `  ${'(per-home, withheld: area)'.padEnd(28)}${String(report.current.withheld).padStart(6)}${String(report.candidate.withheld).padStart(11)}`,
    );
  const list = (title: string, alerts: readonly Alert[]) => {
    lines.push('', `${title}: ${alerts.length}`);
    for (const alert of alerts.slice(0, 50))
      lines.push(`  ${alert.raisedAt} P${alert.priority} ${alert.residentId} ${alert.id} — ${alert.reason}`);
    if (alerts.length > 50) lines.push(`  … and ${alerts.length - 50} more (use --json)`);
  };
  const pairs = report.byIncident;
  lines.push(
    '',
    `by incident: ${pairs.same} the same, ${pairs.moved.length} moved, ${pairs.onlyCurrent.length} only in force, ${pairs.onlyCandidate.length} only the candidate`,
  );
  for (const m of pairs.moved.slice(0, 50))
    lines.push(
      `  moved ${m.byMs >= 0 ? '+' : '−'}${Math.round(Math.abs(m.byMs) / 60_000)} min: ${m.current.residentId} ${m.current.type} ${m.current.raisedAt} → ${m.candidate.raisedAt}`,
    );
  list('only the candidate would raise', pairs.onlyCandidate);
  list('only the rules in force raise', pairs.onlyCurrent);
  return lines.join('\n');
}

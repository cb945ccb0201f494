import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TelecareEvent } from '@telecare/contracts';
import {
  evaluate,
  initialState,
  parseRuleSet,
  type ResidentState,
  type RuleSet,
  RulesRunner,
  type Timer,
} from '@telecare/rules';
import {
  type BuiltScenario,
  buildScenario,
  deviceSpec,
  learningOf,
  type RaisedAlert,
  type ScenarioSpec,
  type Scorecard,
  score,
} from '@telecare/simulators';
import { carePlanRuleSet } from './care-plan.ts';

/**
 * The same scenario through the rules core alone (the in-memory `RulesRunner`, each event at its
 * own time, timers at their due time): no gateway, no broker, no accelerated clock. Where the
 * platform's scorecard and this one differ, the difference is in the platform or the way the run
 * drives it; where they agree, it is the rules or the corpus. Runs a day of five homes in well
 * under a second.
 *
 * One runner for every home, as one triage runs them all: area rules hold a home's own
 * `mains.lost` for its district's decision, as in production.
 */
export function runScenarioOnCore(
  spec: ScenarioSpec,
  ruleSet?: RuleSet,
): { built: BuiltScenario; card: Scorecard; alerts: RaisedAlert[] } {
  const built = buildScenario(spec);
  const residentOf = new Map(spec.homes.map((h) => [h.key, `res_${h.key.toLowerCase()}`] as const));
  const rules = ruleSet ?? parseRuleSet(carePlanRuleSet(spec.homes, residentOf));
  const supervision = new Map<string, number>();
  const device = (event: TelecareEvent) => {
    const intervalS = supervision.get(event.subject);
    return intervalS === undefined ? undefined : { supervisionIntervalS: intervalS };
  };
  const runner = new RulesRunner(rules, { device });
  const raw: Alert[] = [];
  for (const { event, supervisionS } of coreEvents(spec, built, residentOf)) {
    supervision.set(event.subject, supervisionS);
    raw.push(...runner.event(event, Date.parse(event.time)));
  }
  const until = Math.max(built.end, ...built.expectations.map((x) => x.at + x.deadlineS * 1000));
  raw.push(...runner.advance(until));
  const alerts = raw.filter((a) => !a.testMode).map((a) => raisedAlert(a));
  const card = score({
    expectations: built.expectations,
    alerts,
    residentOf,
    residentDays: built.residentDays,
    ...learningOf(built),
  });
  return { built, card, alerts };
}

/** An alert as the scorecard reads it, with the case that took it up when known. */
export function raisedAlert(a: Alert, caseId?: string): RaisedAlert {
  return {
    id: a.id,
    residentId: a.residentId,
    type: a.type,
    priority: a.priority,
    ruleId: a.rule.id,
    raisedAt: Date.parse(a.raisedAt),
    ...(caseId !== undefined ? { caseId } : {}),
    ...(a.closes ? { closes: a.closes } : {}),
    ...(a.repeats ? { repeats: a.repeats } : {}),
  };
}

/** The scenario's device events as the gateways store them, each at its own time, with its device's supervision interval. */
function coreEvents(
  spec: ScenarioSpec,
  built: BuiltScenario,
  residentOf: ReadonlyMap<string, string>,
): { event: TelecareEvent; supervisionS: number }[] {
  const seqs = new Map<string, number>();
  return built.events.map((e) => {
    const home = spec.homes.find((h) => h.key === e.home);
    const device = deviceSpec(e.device);
    const serial = `SIM-${e.home}-${e.device.replace('.', '-')}`;
    const seq = seqs.get(serial) ?? 0;
    seqs.set(serial, seq + 1);
    const at = new Date(e.at).toISOString();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: `evt_${createHash('sha256').update(`${serial}/${seq}`).digest('hex').slice(0, 32)}`,
      source: '/core',
      type: e.type,
      subject: serial,
      time: at,
      datacontenttype: 'application/json',
      residentid: residentOf.get(e.home) as string,
      devicekind: device.kind,
      deviceeventid: `${seq}`,
      partition: 0,
      receivedat: at,
      testmode: false,
      seq,
      ...(device.location ? { location: device.location } : {}),
      ...(home ? { postcodedistrict: home.postcode.split(' ')[0] as string } : {}),
      data: { ...(e.data ?? {}) },
    };
    return { event, supervisionS: device.supervisionS };
  });
}

/**
 * The same scenario through the rules core with triage `behindMs` behind: each timer fires only
 * once the events that much after its due time were evaluated (a backlog after an outage, or the
 * platform's accelerated runs, whose clock races through quiet hours). Each resident's own rules
 * only (no area holds). Gives every alert raised by the end, as `runScenarioOnCore` would.
 */
export function alertsOnCoreBehind(spec: ScenarioSpec, behindMs: number): Alert[] {
  const built = buildScenario(spec);
  const residentOf = new Map(spec.homes.map((h) => [h.key, `res_${h.key.toLowerCase()}`] as const));
  const rules = parseRuleSet(carePlanRuleSet(spec.homes, residentOf));
  const states = new Map<string, ResidentState>();
  const timers = new Map<string, Timer>();
  const alerts: Alert[] = [];
  const apply = (residentId: string, result: ReturnType<typeof evaluate>) => {
    states.set(residentId, result.state);
    alerts.push(...result.alerts);
    for (const command of result.timers)
      if (command.op === 'cancel') timers.delete(command.id);
      else timers.set(command.timer.id, command.timer);
  };
  const fireBy = (by: number, now: number) => {
    for (;;) {
      let due: Timer | undefined;
      for (const timer of timers.values())
        if (timer.dueAt <= by && (!due || timer.dueAt < due.dueAt)) due = timer;
      if (!due) return;
      timers.delete(due.id);
      const state = states.get(due.residentId) ?? initialState(due.residentId);
      apply(
        due.residentId,
        evaluate(state, { kind: 'tick', timer: due, now: Math.max(now, due.dueAt) }, rules),
      );
    }
  };
  for (const { event } of coreEvents(spec, built, residentOf)) {
    const at = Date.parse(event.time);
    fireBy(at - behindMs, at);
    const state = states.get(event.residentid) ?? initialState(event.residentid);
    apply(event.residentid, evaluate(state, { kind: 'event', event, now: at }, rules));
  }
  const until = Math.max(built.end, ...built.expectations.map((x) => x.at + x.deadlineS * 1000));
  // After the last event each timer fires at its own time, and so does the next one it sets.
  fireBy(until + 86_400_000, Number.NEGATIVE_INFINITY);
  return alerts.filter((a) => !a.testMode && Date.parse(a.raisedAt) <= until);
}

/**
 * Writes a scenario as `pnpm replay --import` reads it: `events.jsonl` (each device event with
 * its serial, kind, location and resident), `labels.jsonl` (each incident's resident and span:
 * from the incident to when its effects end, or its deadline) and `rules.json` (the default rules
 * with each resident's care plan, as the run puts in force).
 */
export function exportScenario(spec: ScenarioSpec, dir: string): { events: number; labels: number } {
  const built = buildScenario(spec);
  const residentOf = new Map(spec.homes.map((h) => [h.key, `res_${h.key.toLowerCase()}`] as const));
  mkdirSync(dir, { recursive: true });
  const seqs = new Map<string, number>();
  const lines: string[] = [];
  for (const e of built.events) {
    const home = spec.homes.find((h) => h.key === e.home);
    const device = deviceSpec(e.device);
    const serial = `SIM-${e.home}-${e.device.replace('.', '-')}`;
    const seq = seqs.get(serial) ?? 0;
    seqs.set(serial, seq + 1);
    lines.push(
      JSON.stringify({
        serial,
        kind: device.kind,
        ...(device.location ? { location: device.location } : {}),
        residentId: residentOf.get(e.home),
        ...(home ? { postcodeDistrict: home.postcode.split(' ')[0] } : {}),
        event: {
          id: `sim-${String(seq).padStart(8, '0')}`,
          type: e.type,
          at: new Date(e.at).toISOString(),
          data: e.data ?? {},
        },
      }),
    );
  }
  writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n`);
  const labels = built.expectations
    .filter((x) => !x.area && x.expect.length > 0)
    .map((x) =>
      JSON.stringify({
        residentId: residentOf.get(x.homes[0] ?? ''),
        from: new Date(x.at).toISOString(),
        to: new Date(Math.max(x.until ?? 0, x.at + x.deadlineS * 1000)).toISOString(),
        kind: x.kind,
      }),
    );
  writeFileSync(join(dir, 'labels.jsonl'), `${labels.join('\n')}\n`);
  writeFileSync(
    join(dir, 'rules.json'),
    `${JSON.stringify(carePlanRuleSet(spec.homes, residentOf), null, 2)}\n`,
  );
  return { events: lines.length, labels: labels.length };
}

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TelecareEvent } from '@telecare/contracts';
import { parseRuleSet, type RuleSet, RulesRunner } from '@telecare/rules';
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
  const seqs = new Map<string, number>();
  const raw: Alert[] = [];
  for (const e of built.events) {
    const home = spec.homes.find((h) => h.key === e.home);
    const device = deviceSpec(e.device);
    const serial = `SIM-${e.home}-${e.device.replace('.', '-')}`;
    supervision.set(serial, device.supervisionS);
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
    raw.push(...runner.event(event, e.at));
  }
  const until = Math.max(built.end, ...built.expectations.map((x) => x.at + x.deadlineS * 1000));
  raw.push(...runner.advance(until));
  const alerts = raw
    .filter((a) => !a.testMode)
    .map(
      (a): RaisedAlert => ({
        id: a.id,
        residentId: a.residentId,
        type: a.type,
        priority: a.priority,
        ruleId: a.rule.id,
        raisedAt: Date.parse(a.raisedAt),
        ...(a.closes ? { closes: a.closes } : {}),
        ...(a.repeats ? { repeats: a.repeats } : {}),
      }),
    );
  const card = score({
    expectations: built.expectations,
    alerts,
    residentOf,
    residentDays: built.residentDays,
    ...learningOf(built),
  });
  return { built, card, alerts };
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

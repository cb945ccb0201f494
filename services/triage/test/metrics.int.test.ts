import type { EventType } from '@telecare/contracts';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { DEFAULT_RULE_SET, parseRuleSet } from '@telecare/rules';
import { cleanupNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTriage, type TriageHandle } from '../src/index.ts';
import { drained, makeEvent, metricValue, publishEvent, scrape, T0, triageTestbed } from './support.ts';

const PARTITIONS = 2;
const logger = createLogger('triage-metrics-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const { ns, n, config, connect } = triageTestbed('triage-metrics', PARTITIONS, logger);
/** The triggers alone: heartbeats and movement concern no rule and are not read back. */
const TRIGGERS_ONLY = parseRuleSet({
  version: 1,
  rules: DEFAULT_RULE_SET.rules.filter((rule) => rule.kind === 'trigger'),
});

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let triage: TriageHandle;

let count = 0;
const event = (type: EventType) =>
  makeEvent({ residentId: 'res_metrics1', type, deviceEventId: `m-${++count}`, partitions: PARTITIONS });

beforeAll(async () => {
  ({ nc, js, jsm } = await connect());
  triage = await startTriage(config, { logger, clock: new ManualClock(T0), ruleSet: TRIGGERS_ONLY });
});

afterAll(async () => {
  await triage?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('triage metrics', () => {
  it('counts a duplicate only for an event already taken, not for one that changed nothing', async () => {
    const before = await scrape(triage.url);
    const quiet = [event('heartbeat'), event('heartbeat'), event('motion'), event('heartbeat')];
    const press = event('pendant.pressed');
    const battery = event('battery.low');
    for (const e of [...quiet, press, battery]) await publishEvent(js, n, e);
    await drained(jsm, n, PARTITIONS);
    // The same battery report stored again (a gateway that resent it after the dedup window).
    await publishEvent(js, n, battery, `${battery.id}-again`);
    await drained(jsm, n, PARTITIONS);

    const after = await scrape(triage.url);
    const grew = (pattern: RegExp) => metricValue(after, pattern) - metricValue(before, pattern);
    // The press read again by its partition lane after its alarm lane, and the battery report
    // stored twice: two repeats. The heartbeats and movement left the state as it was, every time,
    // and are evaluated events, not duplicates.
    expect(grew(/^triage_events_duplicate_total/)).toBe(2);
    expect(grew(/^triage_events_evaluated_total\{[^}]*type="heartbeat"/)).toBe(3);
    expect(grew(/^triage_events_evaluated_total\{[^}]*type="motion"/)).toBe(1);
    expect(grew(/^triage_events_evaluated_total\{[^}]*type="pendant.pressed"/)).toBe(1);
    expect(grew(/^triage_events_evaluated_total\{[^}]*type="battery.low"/)).toBe(1);
    expect(grew(/^triage_alerts_published_total\{/)).toBe(2);
    // Every delivery loads the state once: 6 events, the press twice, the battery report again.
    // The first finds none; once a change is saved, it is held in memory.
    const loads = (from: string) => grew(new RegExp(`^triage_state_loads_total\\{[^}]*from="${from}"`));
    expect(loads('memory') + loads('redis') + loads('none')).toBe(8);
    expect(loads('none')).toBeGreaterThanOrEqual(1);
    expect(loads('memory')).toBeGreaterThanOrEqual(2);
    expect(metricValue(after, /^triage_states_held/)).toBe(1);
  });
});

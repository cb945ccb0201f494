import { readFileSync } from 'node:fs';
import { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { addHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

let platform: RunningPlatform;
const scraped: Record<string, string> = {};

const RulesFile = z.object({
  groups: z
    .array(
      z.object({
        name: z.string().min(1),
        rules: z
          .array(
            z.object({
              alert: z.string().min(1),
              expr: z.string().min(1),
              for: z.string().optional(),
              labels: z.object({ severity: z.enum(['critical', 'warning']) }),
              annotations: z.object({ summary: z.string().min(1), description: z.string().min(1) }),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
});

const Dashboard = z.object({
  uid: z.string().min(1),
  panels: z.array(
    z.object({ title: z.string(), targets: z.array(z.object({ expr: z.string().min(1) })).min(1) }),
  ),
});

const infra = (file: string) =>
  readFileSync(new URL(`../../infra/observability/${file}`, import.meta.url), 'utf8');

/** Metric names in PromQL: ours, and the process metrics every service has; histogram series to their family. */
const metricsIn = (expr: string): string[] =>
  [
    ...expr.matchAll(
      /\b(?:gateway_mqtt|gateway_dc09|triage|helpline|registry|nats_consumer|consumer|process)_[a-z0-9_]+/g,
    ),
  ].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''));

/** The metric families a /metrics page declares. */
const familiesOf = (page: string): Set<string> =>
  new Set([...page.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));

/** What each service must report (issue: events in, alerts out, rule latency, queues, clocks, lag, dead letters, redeliveries). */
const EXPECTED: Record<string, string[]> = {
  'gateway-mqtt': [
    'gateway_mqtt_events_stored_total',
    'gateway_mqtt_rejects_total',
    'gateway_mqtt_queued_messages',
    'gateway_mqtt_store_seconds',
    'gateway_mqtt_retries_total',
  ],
  'gateway-dc09': [
    'gateway_dc09_events_stored_total',
    'gateway_dc09_rejects_total',
    'gateway_dc09_store_seconds',
    'gateway_dc09_retries_total',
  ],
  triage: [
    'triage_events_evaluated_total',
    'triage_alerts_published_total',
    'triage_alerts_published_by_type_total',
    'triage_rules_seconds',
    'triage_evaluation_seconds',
    'triage_deadletters_total',
    'triage_retries_total',
    'nats_consumer_pending_messages',
    'nats_consumer_ack_pending_messages',
    'nats_consumer_redelivered_messages',
    'consumer_messages_redelivered_total',
  ],
  helpline: [
    'helpline_alerts_ingested_total',
    'helpline_alerts_refused_total',
    'helpline_alerts_retried_total',
    'helpline_case_commit_seconds',
    'helpline_queue_waiting_cases',
    'helpline_queue_longest_wait_seconds',
    'helpline_cases_operator_gone',
    'helpline_answer_seconds',
    'nats_consumer_pending_messages',
    'nats_consumer_redelivered_messages',
    'consumer_messages_redelivered_total',
  ],
  registry: [
    'registry_device_map_puts_total',
    'nats_consumer_pending_messages',
    'nats_consumer_redelivered_messages',
  ],
};

beforeAll(async () => {
  platform = await startPlatform('observe');
  const serial = `E2E-OBS-${Date.now().toString(36).toUpperCase()}`;
  await addHome(platform, serial);
  const device = new SimulatedDevice({ serial, mqttUrl: servers.mqttUrl, namespace: platform.namespace });
  await device.connect();
  try {
    await device.send('pendant.pressed');
  } finally {
    await device.close();
  }
  const handles = {
    'gateway-mqtt': platform.gatewayMqtt,
    'gateway-dc09': platform.gatewayDc09,
    triage: platform.triage,
    helpline: platform.helpline,
    registry: platform.registry,
  };
  // The press has become a case before the pages are read, so its counters and gauges have samples.
  await waitFor(
    async () =>
      (await fetch(new URL('/metrics', platform.helpline.url)).then((r) => r.text())).includes(
        'helpline_alerts_ingested_total{',
      ),
    { what: 'the press committed to a case', timeoutMs: 15_000 },
  );
  for (const [service, handle] of Object.entries(handles)) {
    const response = await fetch(new URL('/metrics', handle.url));
    expect(response.status, service).toBe(200);
    scraped[service] = await response.text();
  }
});

afterAll(async () => {
  await platform?.stop();
});

describe("every service's /metrics", () => {
  for (const [service, expected] of Object.entries(EXPECTED))
    it(`${service} reports ${expected.length} figures of the pipeline`, () => {
      const families = familiesOf(scraped[service] ?? '');
      for (const name of expected) expect(families.has(name), `${service}: ${name}`).toBe(true);
    });

  it("reports each service's own consumer lag, and the helpline's queue per priority", () => {
    expect(scraped.triage).toMatch(/^nats_consumer_pending_messages\{[^}]*consumer="triage-p0"[^}]*\} \d+/m);
    for (const priority of ['1', '2', '3', '4', '5'])
      expect(scraped.helpline).toMatch(
        new RegExp(
          `^nats_consumer_pending_messages\\{[^}]*consumer="helpline-p${priority}"[^}]*\\} \\d+`,
          'm',
        ),
      );
    expect(scraped.registry).toMatch(
      /^nats_consumer_pending_messages\{[^}]*consumer="registry-health"[^}]*\} \d+/m,
    );
    expect(scraped.triage).not.toMatch(/consumer="helpline/);
    for (const priority of ['1', '2', '3', '4', '5'])
      expect(scraped.helpline).toMatch(
        new RegExp(`^helpline_queue_waiting_cases\\{[^}]*priority="${priority}"`, 'm'),
      );
    expect(scraped.triage).toMatch(
      /^triage_alerts_published_by_type_total\{[^}]*type="pendant.pressed"[^}]*\} 1$/m,
    );
    expect(scraped.triage).toMatch(/^triage_rules_seconds_count\{[^}]*\} [1-9]/m);
  });
});

describe('the dashboard and alert rules in infra/observability', () => {
  it('parse, and every rule has a severity, a summary and a description', () => {
    const rules = RulesFile.parse(parse(infra('prometheus-rules.yaml')));
    const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(names).toEqual(
      expect.arrayContaining([
        'TelecareP1WaitingOver60s',
        'TelecareConsumerLagGrowing',
        'TelecareSupervisionLossesRising',
        'TelecareDeadLetters',
        'TelecareDeviceLoginContested',
        'TelecareContextReadsRefused',
        'TelecareDc09FramesForged',
        'TelecareHttpConnectionsRefused',
      ]),
    );
    expect(Dashboard.parse(JSON.parse(infra('grafana-dashboard.json'))).panels.length).toBeGreaterThan(8);
  });

  it('name only metrics that some service reports', () => {
    const rules = RulesFile.parse(parse(infra('prometheus-rules.yaml')));
    const dashboard = Dashboard.parse(JSON.parse(infra('grafana-dashboard.json')));
    const exprs = [
      ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ];
    const named = new Set(exprs.flatMap(metricsIn));
    expect(named.size).toBeGreaterThan(15);
    const reported = new Set(Object.values(scraped).flatMap((page) => [...familiesOf(page)]));
    const unknown = [...named].filter((name) => !reported.has(name));
    expect(unknown).toEqual([]);
  });
});

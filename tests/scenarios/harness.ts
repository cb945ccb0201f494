import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Alert, type CaseAlertsView, type HelplineCase, names } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import {
  type BuiltScenario,
  buildScenario,
  DISPERSER_CODE_OVERRIDES,
  DISPERSER_DEVICES,
  DisperserSink,
  type DriveResult,
  driveAccelerated,
  formatScorecard,
  HOME_DEVICES,
  learningOf,
  MqttPool,
  type RaisedAlert,
  type ScenarioSpec,
  type Scorecard,
  score,
  serialOf,
  viaDisperser,
} from '@telecare/simulators';
import { servers, startOwnMosquitto } from '@telecare/testkit';
import { consumersDrained } from '../support/consumers.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { carePlanRuleSet } from './care-plan.ts';
import { raisedAlert } from './core.ts';

export interface ScenarioResult {
  readonly spec: ScenarioSpec;
  readonly built: BuiltScenario;
  readonly card: Scorecard;
  readonly drive: DriveResult;
  readonly alerts: readonly RaisedAlert[];
  readonly setupMs: number;
  readonly wallMs: number;
  /**
   * Triage's counters of what could make a run differ from the last (late events, timers fired
   * before their lane had read up to them, leases lost, states loaded): printed with the scorecard,
   * so that a run that misses an incident says what happened under it.
   */
  readonly triageCounters: Readonly<Record<string, number>>;
}

/** The triage counters a scenario prints beside its scorecard. */
const TRIAGE_COUNTERS = [
  'triage_events_evaluated_total',
  'triage_events_duplicate_total',
  'triage_events_late_total',
  'triage_timers_fired_total',
  'triage_timers_fired_unread_total',
  'triage_timer_index_lost_total',
  'triage_state_loads_total',
  'triage_leases_taken_total',
  'triage_leases_lost_total',
  'triage_leases_released_total',
  'triage_retries_total',
  'triage_deadletters_total',
] as const;

/** Sums of `names` over their labels, from a Prometheus text exposition. */
export function countersOf(text: string, names: readonly string[]): Record<string, number> {
  const sums: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] !== undefined && m[1] in sums) sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[2]);
  }
  return sums;
}

export interface RunOptions {
  readonly log?: (line: string) => void;
  /** Simulated time between settle points (default 240 s, inside the rules' 300 s lateness bound). */
  readonly barrierMs?: number;
}

const NAMES = ['Margaret Hill', 'Arthur Price', 'Joan Webb', 'Dennis Carter', 'Irene Lloyd', 'Harold Shaw'];

/**
 * Runs one scenario against the real stack in accelerated time: its own Mosquitto, every service
 * in this process on a ManualClock at the scenario's first midnight, homes registered through the
 * registry API, every event sent through the MQTT gateway, then the alerts read back from ALERTS
 * (and their cases from the helpline) and scored against the ground truth.
 */
export async function runScenario(spec: ScenarioSpec, options: RunOptions = {}): Promise<ScenarioResult> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const built = buildScenario(spec);
  const clock = new ManualClock(built.origin);
  const runId = Math.random().toString(36).slice(2, 7).toUpperCase();
  const mosquitto = await startOwnMosquitto();
  let platform: RunningPlatform | undefined;
  let nc: NatsConnection | undefined;
  let pool: MqttPool | undefined;
  try {
    platform = await startPlatform(
      `scn${spec.name}`,
      {
        MQTT_URL: mosquitto.url,
        LOG_LEVEL: 'silent',
        TELECARE_PARTITIONS: process.env.SCENARIO_PARTITIONS ?? '4',
        // A disperser stamps each message with its event's simulated time, and the accelerated
        // clock may run up to a barrier ahead of a send: the receiver must not call that a replay.
        DC09_WINDOW_BEHIND_S: '3600',
        // Every simulated home dials from this one address, as many dispersers behind one NAT would.
        DC09_MAX_CONNECTIONS_PER_SOURCE: '2000',
        DC09_NAK_BURST: '100000',
        // A device sends a month of its events in minutes here: far over any real device's rate.
        GATEWAY_MQTT_DEVICE_RATE: '0',
        DC09_ACCOUNT_RATE: '0',
      },
      { clock },
    );
    const p = platform;
    const n = names(p.namespace);
    const conn = await connect({ servers: servers.natsUrl, maxReconnectAttempts: -1 });
    nc = conn;

    const residentOf = new Map<string, string>();
    const serials = new Map<string, string>();
    const dispersers = new Map<string, DisperserSink>();
    const dc09Homes = new Set(spec.homes.filter((h) => h.via === 'dc09').map((h) => h.key));
    await Promise.all(
      spec.homes.map(async (home, i) => {
        const resident = await p.registryClient.createResident({
          name: NAMES[i % NAMES.length] as string,
          address: `${i + 1} Simulated Street, Gloucester`,
          postcode: home.postcode,
          phone: '01452 000000',
          livesAlone: home.profile !== 'carer-four-times',
        });
        residentOf.set(home.key, resident.id);
        if (dc09Homes.has(home.key)) {
          // One disperser carries the home's alarms: registered as a DC-09 device, as installed.
          const serial = `${serialOf(runId, home, 'hub')}-DC09`;
          const account = (0xa000 + i).toString(16).toUpperCase();
          serials.set(`${home.key}/dc09`, serial);
          dispersers.set(serial, new DisperserSink({ host: p.dc09.host, port: p.dc09.tcpPort, account }));
          await p.registryClient.createDevice({
            serial,
            residentId: resident.id,
            kind: 'home-unit',
            location: 'hall',
            supervisionIntervalS: HOME_DEVICES.find((d) => d.key === 'hub')?.supervisionS ?? 8100,
            protocol: 'dc09',
            dc09Account: account,
            dc09CodeOverrides: DISPERSER_CODE_OVERRIDES,
          });
        }
        for (const device of HOME_DEVICES) {
          if (dc09Homes.has(home.key) && DISPERSER_DEVICES.has(device.key)) continue;
          const serial = serialOf(runId, home, device.key);
          serials.set(`${home.key}/${device.key}`, serial);
          await p.registryClient.createDevice({
            serial,
            residentId: resident.id,
            kind: device.kind,
            ...(device.location ? { location: device.location } : {}),
            supervisionIntervalS: device.supervisionS,
          });
        }
      }),
    );
    // Each resident's care plan (nights, wake-up window, carer visits) as their rule settings.
    await p.putRules(carePlanRuleSet(spec.homes, residentOf));
    const ns = new MqttPool({
      mqttUrl: mosquitto.url,
      namespace: p.namespace,
      connections: 4,
      resendMs: 5_000,
    });
    pool = ns;
    await ns.connect();
    await ns.register([...new Set(serials.values())].filter((serial) => !dispersers.has(serial)));
    const sink = {
      send: (serial: string, id: string, payload: string) =>
        (dispersers.get(serial) ?? ns).send(serial, id, payload),
    };
    const events = dc09Homes.size ? viaDisperser(built.events, dc09Homes) : built.events;
    const setupMs = performance.now() - started;
    log(
      `${spec.name}: ${spec.homes.length} homes (${dc09Homes.size} through DC-09), ${events.length} events over ${spec.days} day(s); set up in ${Math.round(setupMs)} ms`,
    );

    const settle = () =>
      consumersDrained(conn, [n.streams.events, n.streams.alerts], 'the consumers to settle', {
        intervalMs: 2,
        timeoutMs: 30_000,
      });
    const maxDeadline = Math.max(0, ...built.expectations.map((e) => e.at + e.deadlineS * 1000));
    let drive: DriveResult;
    try {
      drive = await driveAccelerated(events, sink, {
        clock,
        settle,
        serialOf: (e) => serials.get(`${e.home}/${e.via ?? e.device}`) as string,
        barrierMs: options.barrierMs ?? Number(process.env.SCENARIO_BARRIER_S ?? 900) * 1000,
        until: Math.max(built.end, maxDeadline),
        onProgress: (done, total, at) =>
          done % 10_000 === 0 && log(`  ${done}/${total} events, ${new Date(at).toISOString().slice(0, 16)}`),
      });
    } finally {
      await ns.close();
      pool = undefined;
    }
    log(
      `${spec.name}: ${drive.sent} events stored (${drive.rejected} refused) in ${(drive.wallMs / 1000).toFixed(1)} s: ${Math.round(drive.sent / (drive.wallMs / 1000))} events/s`,
    );
    for (const failure of drive.failures) log(`  refused: ${failure}`);

    const metrics = await fetch(new URL('/metrics', p.triage.url)).then((r) => r.text());
    const triageCounters = countersOf(metrics, TRIAGE_COUNTERS);
    const alerts = await readAlerts(nc, n.streams.alerts);
    const caseOf = await casesOfAlerts(p);
    const raised = alerts.filter((a) => !a.testMode).map((a) => raisedAlert(a, caseOf.get(a.id)));
    const card = score({
      expectations: built.expectations,
      alerts: raised,
      residentOf,
      residentDays: built.residentDays,
      ...learningOf(built),
    });
    return {
      spec,
      built,
      card,
      drive,
      alerts: raised,
      setupMs,
      wallMs: performance.now() - started,
      triageCounters,
    };
  } finally {
    await pool?.close().catch(() => undefined);
    await nc?.close();
    await platform?.stop();
    mosquitto.stop();
  }
}

/**
 * The case holding each alert the helpline took up. The list is read page by page, however many
 * cases the run opened; it carries a window of a case's alerts (the first, the most urgent, the
 * latest) with `alertCount`, and a case with more (a storm's) is paged through at
 * `GET /api/cases/{id}/alerts`, so no alert loses its case.
 */
async function casesOfAlerts(
  p: Pick<RunningPlatform, 'helplineGet' | 'helplineApi'>,
): Promise<Map<string, string>> {
  const cases: HelplineCase[] = [];
  for await (const page of p.helplineApi.listCases.pages({ query: { state: 'all', limit: 1000 } }))
    cases.push(...page);
  const caseOf = new Map<string, string>();
  for (const c of cases) {
    if (c.alertIds.length >= c.alertCount) {
      for (const id of c.alertIds) caseOf.set(id, c.id);
      continue;
    }
    let before: number | null | undefined;
    while (before !== null) {
      const page = await p.helplineGet<CaseAlertsView>(
        `/api/cases/${c.id}/alerts?limit=500${before === undefined ? '' : `&before=${before}`}`,
      );
      for (const a of page.alerts) caseOf.set(a.alertId, c.id);
      before = page.next;
    }
  }
  return caseOf;
}

/** Every alert in the stream, in order. */
async function readAlerts(nc: NatsConnection, stream: string): Promise<Alert[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: Alert[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (msg) out.push(Alert.parse(msg.json()));
  }
  return out;
}

/** The scorecard, then the drive's figures and triage's counters on one line. */
export function formatRun(result: ScenarioResult): string {
  const counters = Object.entries(result.triageCounters)
    .map(([name, value]) => `${name.replace(/^triage_/, '')}=${value}`)
    .join(' ');
  return `${formatScorecard(result.card)}\ndrive: ${result.drive.sent} sent, ${result.drive.rejected} refused in ${(result.drive.wallMs / 1000).toFixed(1)} s; triage: ${counters}`;
}

import { cpus, loadavg } from 'node:os';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import { seededRandom } from '@telecare/simulators';
import pg from 'pg';
import { collect } from './collect.ts';
import { FAULT_KINDS, type FaultKind, inject, schedule } from './faults.ts';
import { SteadyLoad } from './load.ts';
import { PanelLoad } from './panels.ts';
import { type Reconciliation, reconcile } from './reconcile.ts';
import { FaultStack } from './stack.ts';

export interface SuiteOptions {
  readonly faults: number;
  readonly kinds?: readonly FaultKind[];
  readonly seed: number;
  /** Events per second and pendant presses per second of the steady load. */
  readonly rate: number;
  readonly pressesPerS: number;
  readonly homes: number;
  /** DC-09 panels (encrypted, over TCP), their presses per second in all, and each one's poll. */
  readonly panels: number;
  readonly panelPressesPerS: number;
  readonly panelPollMs: number;
  /** How long a stop, a proxy fault or a downed instance lasts. */
  readonly holdMs: number;
  /** Quiet time after a recovery before the next fault. */
  readonly settleMs: number;
  /** A service not ready this long after a fault was lifted did not recover by itself. */
  readonly recoveryTimeoutMs: number;
  /** No fault starts after this much time under load (a run with a deadline); all N otherwise. */
  readonly maxFaultingMs?: number;
  readonly log: (line: string) => void;
  /** Set by a caller that must end the run from outside (a test's afterAll). */
  readonly onStack?: (stack: FaultStack) => void;
}

export interface FaultRecord {
  readonly index: number;
  readonly kind: FaultKind;
  readonly what: string;
  readonly startedAt: number;
  /** When every service was ready again (undefined: not within the recovery timeout). */
  readonly recoveredAt: number | undefined;
  readonly notRecovered: readonly string[];
}

export interface SuiteResult {
  readonly faults: readonly FaultRecord[];
  readonly reconciliation: Reconciliation;
  readonly summary: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A fault run: its own servers and services, a steady load with presses, N faults one after the
 * other, each waited out until every service is ready again by itself; then the load stops, the
 * pipeline drains, and the reconciler reads what the servers hold.
 */
export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const { log } = options;
  const random = seededRandom(options.seed);
  const stack = new FaultStack();
  options.onStack?.(stack);
  let nc: NatsConnection | undefined;
  try {
    log(
      `machine: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    await stack.startServers();
    log(`servers up; service logs in ${stack.logDir}`);
    await stack.startServices();
    log(`services ready: ${stack.services.map((s) => s.id).join(', ')}`);
    nc = await connect({ servers: stack.direct('nats'), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const load = new SteadyLoad({ ...options, random });
    await load.start(nc, stack.namespace, stack.direct('mosquitto'));
    const panels = new PanelLoad({
      panels: options.panels,
      pressesPerS: options.panelPressesPerS,
      pollEveryMs: options.panelPollMs,
      random,
    });
    await panels.start(nc, stack.namespace, stack.dc09.host, stack.dc09.port);
    log(
      `steady load: ${options.rate} events/s over ${options.homes} homes, ${options.pressesPerS} presses/s; ` +
        `${options.panels} DC-09 panels, ${options.panelPressesPerS} presses/s, a poll every ${options.panelPollMs} ms`,
    );
    await sleep(options.settleMs);

    const records: FaultRecord[] = [];
    const plan = schedule(options.kinds ?? FAULT_KINDS, options.faults, random);
    const faultingUntil = Date.now() + (options.maxFaultingMs ?? Number.POSITIVE_INFINITY);
    for (const [index, kind] of plan.entries()) {
      if (Date.now() >= faultingUntil) {
        log(`time is up after ${index} of ${plan.length} faults`);
        break;
      }
      const startedAt = Date.now();
      const what = await inject(stack, kind, random, { holdMs: options.holdMs });
      const notRecovered = await stack.waitReady(stack.services, options.recoveryTimeoutMs);
      const recoveredAt = notRecovered.length === 0 ? Date.now() : undefined;
      records.push({ index, kind, what, startedAt, recoveredAt, notRecovered });
      log(
        `fault ${index + 1}/${plan.length} ${kind}: ${what}; ${
          recoveredAt === undefined
            ? `NOT recovered: ${notRecovered.join(', ')}`
            : `all ready ${((recoveredAt - startedAt) / 1000).toFixed(1)} s after it began`
        }`,
      );
      await sleep(options.settleMs);
    }

    log(
      `stopping the load (${load.sentCount} events sent, ${load.inFlight} not yet acked; ` +
        `${panels.sentCount} DC-09 messages, ${panels.inFlight} not yet ACKed); draining`,
    );
    load.stop();
    panels.stop();
    await Promise.all([load.drain(60_000), panels.drain(60_000)]);
    await drainPipeline(nc, stack, 120_000);
    // The helpline's clocks (escalations, answer targets) keep writing case events: stop every
    // service (each drains) so that the streams and the tables are read at rest.
    await stack.stopServices();
    const sent = [...load.sent(), ...panels.sent()];
    const collected = await collect(nc, stack.direct('postgres'), stack.namespace, [
      ...load.presses,
      ...panels.presses,
    ]);
    const reconciliation = reconcile({ sent }, collected.servers);
    // A press never acked (still unanswered when the load stopped) promised nothing to time.
    const acked = new Set(sent.filter((e) => e.acked).map((e) => `${e.serial}\u0000${e.deviceEventId}`));
    const timed = collected.pressToCase.filter(({ press }) =>
      acked.has(`${press.serial}\u0000${press.deviceEventId}`),
    );
    const dc09Presses = sent.filter((e) => e.dc09Seq !== undefined && e.type === 'pendant.pressed');
    const summary = {
      ...summarize(records, reconciliation, timed),
      events_rejected: load.rejected + panels.rejected,
      dc09_presses_sent: dc09Presses.length,
      dc09_presses_acked: dc09Presses.filter((e) => e.acked).length,
      worst_dc09_press_to_case_ms: worstByKind(
        records,
        timed.filter(({ press }) => press.dc09Seq !== undefined),
      ),
    };
    return { faults: records, reconciliation, summary };
  } finally {
    await nc?.close().catch(() => undefined);
    await stack.stop();
  }
}

/**
 * Waits until every durable consumer on EVENTS and ALERTS has nothing pending or in hand, and the
 * helpline's outbox is empty, twice in a row (work in hand can make more work).
 */
async function drainPipeline(nc: NatsConnection, stack: FaultStack, timeoutMs: number): Promise<void> {
  const n = names(stack.namespace);
  const jsm = await jetstreamManager(nc);
  const db = new pg.Client({ connectionString: stack.direct('postgres') });
  await db.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (quiet < 2 && Date.now() < deadline) {
      let backlog = 0;
      for (const stream of [n.streams.events, n.streams.alerts]) {
        for await (const c of jsm.consumers.list(stream)) backlog += c.num_pending + c.num_ack_pending;
      }
      const { rows } = await db.query<{ n: string }>(
        `select count(*) as n from "${n.schema('helpline')}".case_outbox`,
      );
      backlog += Number(rows[0]?.n ?? 0);
      quiet = backlog === 0 ? quiet + 1 : 0;
      await sleep(1_000);
    }
  } finally {
    await db.end();
  }
}

/**
 * Worst press → case per fault kind, of the presses sent from a fault's start until the next one's
 * (its recovery and the quiet time after it included); `none`: before the first fault.
 */
function worstByKind(
  faults: readonly FaultRecord[],
  pressToCase: ReadonlyArray<{ press: { sentAt: number }; ms: number | undefined }>,
): Record<string, number | null> {
  const worst: Record<string, number | null> = {};
  for (const { press, ms } of pressToCase) {
    const during = faults.findLast((f) => press.sentAt >= f.startedAt);
    const kind = during?.kind ?? 'none';
    const value = ms === undefined ? null : Math.round(ms);
    const before = worst[kind];
    // null: a press of this window never reached a case; it stays so.
    if (before === null) continue;
    worst[kind] = value === null || before === undefined ? value : Math.max(before, value);
  }
  return worst;
}

function summarize(
  faults: readonly FaultRecord[],
  { counts }: Reconciliation,
  pressToCase: ReadonlyArray<{ press: { sentAt: number }; ms: number | undefined }>,
): Record<string, unknown> {
  const byKind: Record<string, number> = {};
  for (const f of faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  return {
    faults: faults.length,
    faults_by_kind: byKind,
    events_sent: counts.sent,
    events_acked: counts.acked,
    life_critical_sent: counts.lifeCriticalSent,
    life_critical_acked: counts.lifeCriticalAcked,
    lost_life_critical: counts.lostLifeCritical,
    lost_other: counts.lostOther,
    duplicate_cases: counts.duplicateCases,
    dc09_presses_stored_twice: counts.storedTwice,
    dc09_same_second_copies: counts.dc09SameSecondCopies,
    duplicate_alerts: counts.duplicateAlerts,
    stream_db_mismatches: counts.streamDbMismatches,
    outbox_pending: counts.outboxPending,
    alerts: counts.alerts,
    cases: counts.cases,
    not_recovered: [...new Set(faults.flatMap((f) => f.notRecovered))],
    worst_recovery_s: Math.max(
      0,
      ...faults.map((f) => ((f.recoveredAt ?? Number.NaN) - f.startedAt) / 1000).filter(Number.isFinite),
    ),
    worst_press_to_case_ms: worstByKind(faults, pressToCase),
    machine: { cores: cpus().length, load_average: loadavg().map((l) => Math.round(l * 100) / 100) },
  };
}

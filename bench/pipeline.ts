import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { names } from '@telecare/contracts';
import {
  activeTraceparent,
  headers,
  inSpan,
  natsTraceContext,
  SpanKind,
  startTracing,
  traceIdOf,
} from '@telecare/platform';
import { DEFAULT_RULE_SET } from '@telecare/rules';
import { type SentEvent, SimulatedDevice } from '@telecare/simulators';
import { servers, startOwnMosquitto } from '@telecare/testkit';
import { startPlatform } from '@telecare/tests';
import { runLoad } from './lib/load.ts';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const PRESSES = Number(process.env.BENCH_PRESSES ?? 200);
/** The sweep's rates when `--sweep` names none: from well inside a 2-core machine to past it. */
const SWEEP = [250, 500, 1000, 1500, 2000, 3000];

const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: {
    rate: { type: 'string' },
    sweep: { type: 'boolean' },
    rates: { type: 'string' },
    homes: { type: 'string' },
    seconds: { type: 'string' },
    connections: { type: 'string' },
    'nats-nice': { type: 'string' },
  },
  allowNegative: false,
  strict: true,
});

const WARMUP = 20;
/**
 * Pendant press to committed case, through every service on the real servers, one press at a
 * time. The baseline is a raw JetStream publish (wait for the PubAck) from the same process in
 * the same run: the least any stored event can cost here.
 */
const benchmark: Benchmark = {
  description:
    'one press at a time: press → stored ack → alert → committed case; --rate R / --sweep: the whole MQTT path under a mixed load, against the JetStream and Mosquitto ceilings',
  async run(log) {
    if (args.rate !== undefined || args.sweep) {
      const rates =
        args.rate !== undefined
          ? [Number(args.rate)]
          : args.rates !== undefined
            ? args.rates.split(',').map(Number)
            : SWEEP;
      if (rates.some((r) => !(r > 0))) throw new Error('--rate and --sweep take positive events/s');
      return runLoad({
        rates,
        homes: Number(args.homes ?? 3000),
        seconds: Number(args.seconds ?? 30),
        connections: Number(args.connections ?? 8),
        ...(args['nats-nice'] === undefined ? {} : { natsNice: Number(args['nats-nice']) }),
        log,
      });
    }
    const mosquitto = await startOwnMosquitto();
    log(`own Mosquitto at ${mosquitto.url}`);
    const platform = await startPlatform('bench', { LOG_LEVEL: 'silent', MQTT_URL: mosquitto.url });
    const n = names(platform.namespace);
    const nc = await connect({ servers: servers.natsUrl });
    const serial = `BENCH-PND-${Date.now().toString(36).toUpperCase()}`;
    try {
      // Baseline: raw JetStream publish of an event-sized payload to a stream of its own.
      const jsm = await jetstreamManager(nc);
      const rawStream = `${n.streams.events}_RAW`;
      await jsm.streams.add({ name: rawStream, subjects: [`${platform.namespace}.raw.>`] });
      const js = jetstream(nc);
      const payload = JSON.stringify({ pad: 'x'.repeat(600) });
      const raw: number[] = [];
      for (let i = 0; i < PRESSES + WARMUP; i++) {
        const t0 = performance.now();
        await js.publish(`${platform.namespace}.raw.1`, payload, { msgID: `raw-${i}` });
        if (i >= WARMUP) raw.push(performance.now() - t0);
      }
      await jsm.streams.delete(rawStream);

      const resident = await platform.registryClient.createResident({
        name: 'Bench Resident',
        address: '1 Bench Street, Gloucester',
        postcode: 'GL1 2AB',
        phone: '01452 000000',
        livesAlone: true,
      });
      await platform.registryClient.createDevice({
        serial,
        residentId: resident.id,
        kind: 'pendant',
        supervisionIntervalS: 3600,
      });
      // Every press is measured to its own alert and case: repeated presses of one pendant would
      // merge into the first one's alert (`mergeWithinS`), so merging is off for this run.
      await platform.putRules({
        ...DEFAULT_RULE_SET,
        version: DEFAULT_RULE_SET.version + 1,
        rules: DEFAULT_RULE_SET.rules.map((rule) =>
          rule.kind === 'trigger' ? { ...rule, mergeWithinS: undefined } : rule,
        ),
      });
      const device = new SimulatedDevice({ serial, mqttUrl: mosquitto.url, namespace: platform.namespace });
      await device.connect();

      // Alerts and case changes are also visible as core NATS messages on their subjects.
      const waiters: Array<{ subject: 'alert' | 'case'; resolve: (at: number) => void }> = [];
      const watch = (subject: string, kind: 'alert' | 'case') => {
        const sub = nc.subscribe(subject);
        void (async () => {
          for await (const _msg of sub) {
            const at = performance.now();
            const index = waiters.findIndex((w) => w.subject === kind);
            if (index >= 0) waiters.splice(index, 1)[0]?.resolve(at);
          }
        })();
      };
      watch(n.subjects.allAlerts, 'alert');
      watch(n.subjects.allCases, 'case');
      const next = (kind: 'alert' | 'case') =>
        new Promise<number>((resolve) => waiters.push({ subject: kind, resolve }));

      /** Presses one at a time; the first `warmup` are not measured. */
      const press = async (count: number, warmup = 0, sender: Sender = (send) => send()) => {
        const times = { ack: [] as number[], alert: [] as number[], kase: [] as number[] };
        for (let i = 0; i < count + warmup; i++) {
          const alertAt = next('alert');
          const caseAt = next('case');
          const t0 = performance.now();
          const sent = await sender((traceparent) =>
            device.send('pendant.pressed', {}, traceparent === undefined ? {} : { traceparent }),
          );
          const [a, c] = await Promise.all([alertAt, caseAt]);
          if (i >= warmup) {
            times.ack.push(sent.latencyMs);
            times.alert.push(a - t0);
            times.kase.push(c - t0);
          }
        }
        return times;
      };
      log(`pressing ${PRESSES} times (after ${WARMUP} warm-up presses), one at a time`);
      const { ack, alert, kase } = await press(PRESSES, WARMUP);
      const cost = await tracingCost(press, log);
      await device.close();

      const figures = {
        presses: PRESSES,
        raw_publish_p50_ms: round(percentile(raw, 50), 3),
        raw_publish_p99_ms: round(percentile(raw, 99), 3),
        press_to_ack_p50_ms: round(percentile(ack, 50), 3),
        press_to_ack_p99_ms: round(percentile(ack, 99), 3),
        press_to_alert_p50_ms: round(percentile(alert, 50), 3),
        press_to_alert_p99_ms: round(percentile(alert, 99), 3),
        press_to_case_p50_ms: round(percentile(kase, 50), 3),
        press_to_case_p99_ms: round(percentile(kase, 99), 3),
        ack_vs_raw_publish_p50_ratio: round(percentile(ack, 50) / percentile(raw, 50), 2),
        ...cost,
      };
      log(
        `raw JetStream publish   p50 ${figures.raw_publish_p50_ms} ms  p99 ${figures.raw_publish_p99_ms} ms`,
      );
      log(
        `press → stored ack      p50 ${figures.press_to_ack_p50_ms} ms  p99 ${figures.press_to_ack_p99_ms} ms  (${figures.ack_vs_raw_publish_p50_ratio}× raw publish)`,
      );
      log(
        `press → alert           p50 ${figures.press_to_alert_p50_ms} ms  p99 ${figures.press_to_alert_p99_ms} ms`,
      );
      log(
        `press → committed case  p50 ${figures.press_to_case_p50_ms} ms  p99 ${figures.press_to_case_p99_ms} ms`,
      );
      return figures;
    } finally {
      await nc.close();
      await platform.stop();
      mosquitto.stop();
    }
  },
};

/**
 * What a span site costs with tracing off: `inSpan` with the parent read from headers (as triage
 * and the helpline call it) against calling the work directly, per call, in nanoseconds.
 */
function offOverheadNs(): number {
  const calls = 1_000_000;
  const h = headers();
  h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const work = () => Promise.resolve(1);
  let sink = 0;
  const time = (call: () => Promise<number>) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      call();
      sink++;
    }
    return Number(process.hrtime.bigint() - t0) / calls;
  };
  // Each side's best of five rounds (the machine's other work only ever slows a round down): the
  // difference of two best cases, not the best of five differences, which noise can take below 0.
  let direct = Number.POSITIVE_INFINITY;
  let wrapped = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    direct = Math.min(direct, time(work));
    wrapped = Math.min(
      wrapped,
      time(() => inSpan('bench', 'site', { parent: natsTraceContext(h), kind: SpanKind.CONSUMER }, work)),
    );
  }
  return sink > 0 ? Math.max(0, wrapped - direct) : 0;
}

/** Presses with tracing off and on, in alternating blocks so drift in the machine falls on both. */
const TRACE_BLOCKS = 4;

/** How a press is sent: `send` with a `traceparent` for the device's MQTT v5 user property, or none. */
type Sender = (send: (traceparent?: string) => Promise<SentEvent>) => Promise<SentEvent>;

type Press = (
  count: number,
  warmup?: number,
  sender?: Sender,
) => Promise<{
  ack: number[];
  kase: number[];
}>;

/** A span's duration or an instant's offset, in milliseconds. */
const ms = ([s, ns]: readonly [number, number]): number => s * 1e3 + ns / 1e6;

/**
 * One trace as a tree: each span under its parent, in the order they started, with its service,
 * its start after the trace's first span, and its duration.
 */
export function traceTree(spans: readonly ReadableSpan[]): string[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId;
    const key = parent !== undefined && ids.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), span]);
  }
  const t0 = Math.min(...spans.map((s) => ms(s.startTime)));
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    const here = [...(children.get(parent) ?? [])].sort((a, b) => ms(a.startTime) - ms(b.startTime));
    for (const span of here) {
      const label = `${'  '.repeat(depth)}${depth > 0 ? '└─ ' : ''}${span.name}`;
      lines.push(
        `${label.padEnd(28)} ${span.instrumentationScope.name.padEnd(13)} at ${(ms(span.startTime) - t0).toFixed(0).padStart(4)} ms  took ${ms(span.duration).toFixed(2).padStart(7)} ms`,
      );
      walk(span.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}

/**
 * What tracing costs one press: the same presses with tracing off (the API's no-op tracer, no
 * SDK) and on (every span of every service, kept by an in-memory exporter, a new one for each
 * block), as the ratio of their press → case percentiles.
 */
async function tracingCost(press: Press, log: (line: string) => void): Promise<Record<string, number>> {
  const off = { ack: [] as number[], kase: [] as number[] };
  const on = { ack: [] as number[], kase: [] as number[] };
  let spans = 0;
  const block = Math.max(10, Math.round(PRESSES / TRACE_BLOCKS));
  log(`tracing off and on: ${TRACE_BLOCKS} blocks of ${block} presses each, alternating`);
  for (let b = 0; b < TRACE_BLOCKS * 2; b++) {
    const traced = b % 2 === 1;
    // A shut-down exporter keeps nothing more: one per block.
    const exporter = new InMemorySpanExporter();
    const tracing = traced ? await startTracing({ serviceName: 'bench', exporter }) : undefined;
    const times = await press(block);
    await tracing?.flush();
    spans += exporter.getFinishedSpans().length;
    if (traced && b === TRACE_BLOCKS * 2 - 1) {
      // One more press, sent as a device that traces would send it: its whole trace, hop by hop.
      exporter.reset();
      let traceparent: string | undefined;
      await press(1, 0, (send) =>
        inSpan('device', 'device publish', { kind: SpanKind.PRODUCER }, () => {
          traceparent = activeTraceparent();
          return send(traceparent);
        }),
      );
      // The case's commit span ends as its event is published: give it a moment to end.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await tracing?.flush();
      const traceId = traceparent === undefined ? undefined : traceIdOf(traceparent);
      const trace = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
      log(
        `one press, traced from the device (${trace.length} spans; an operator's offer and accept follow "case commit" when one is at a console):`,
      );
      for (const line of traceTree(trace)) log(`  ${line}`);
    }
    await tracing?.shutdown();
    const into = traced ? on : off;
    into.ack.push(...times.ack);
    into.kase.push(...times.kase);
  }
  const offNs = offOverheadNs();
  const figures = {
    tracing_off_overhead_ns_per_span: round(offNs, 1),
    tracing_spans_per_press: round(spans / on.kase.length, 1),
    tracing_off_case_p50_ms: round(percentile(off.kase, 50), 3),
    tracing_on_case_p50_ms: round(percentile(on.kase, 50), 3),
    tracing_off_case_p99_ms: round(percentile(off.kase, 99), 3),
    tracing_on_case_p99_ms: round(percentile(on.kase, 99), 3),
    tracing_on_vs_off_case_p50_ratio: round(percentile(on.kase, 50) / percentile(off.kase, 50), 3),
    tracing_on_vs_off_ack_p50_ratio: round(percentile(on.ack, 50) / percentile(off.ack, 50), 3),
  };
  log(
    `press → case, tracing off  p50 ${figures.tracing_off_case_p50_ms} ms  p99 ${figures.tracing_off_case_p99_ms} ms`,
  );
  log(
    `press → case, tracing on   p50 ${figures.tracing_on_case_p50_ms} ms  p99 ${figures.tracing_on_case_p99_ms} ms  (${figures.tracing_spans_per_press} spans a press)`,
  );
  log(
    `tracing off: ${figures.tracing_off_overhead_ns_per_span} ns a span site (inSpan with its context read, against calling the work directly)`,
  );
  log(
    `tracing on / off: press → case p50 ${figures.tracing_on_vs_off_case_p50_ratio}×, press → ack p50 ${figures.tracing_on_vs_off_ack_p50_ratio}×`,
  );
  return figures;
}

export default benchmark;

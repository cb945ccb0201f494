import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import { DEFAULT_RULE_SET } from '@telecare/rules';
import { SimulatedDevice } from '@telecare/simulators';
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

      const ack: number[] = [];
      const alert: number[] = [];
      const kase: number[] = [];
      log(`pressing ${PRESSES} times (after ${WARMUP} warm-up presses), one at a time`);
      for (let i = 0; i < PRESSES + WARMUP; i++) {
        const alertAt = next('alert');
        const caseAt = next('case');
        const t0 = performance.now();
        const sent = await device.send('pendant.pressed');
        const [a, c] = await Promise.all([alertAt, caseAt]);
        if (i >= WARMUP) {
          ack.push(sent.latencyMs);
          alert.push(a - t0);
          kase.push(c - t0);
        }
      }
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

export default benchmark;

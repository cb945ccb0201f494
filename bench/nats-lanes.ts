import { setTimeout as sleep } from 'node:timers/promises';
import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { OwnNatsServer } from '@telecare/testkit';
import { machineLine, pidListeningOn, sampleProcess } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

/**
 * Where an alarm waits when triage's partition lanes are behind: the pipeline sweep found the slow
 * presses above the knee stored in time and handed late to the alarm lane, by a server short of
 * CPU. This isolates the JetStream side on a NATS server of its own: the stream and consumers as
 * triage lays them out (a partition lane per partition over every type, an alarm lane per
 * partition on the alarm's subject, one event in hand), a steady publish rate, and alarms among
 * it. Three phases, the same offered rate in each:
 *
 * - `keeping up`: the partition lanes read and ack everything as it comes (the baseline);
 * - `behind, not reading`: the partition lanes stop pulling, so a backlog grows but nobody reads it;
 * - `behind, reading`: the partition lanes read the backlog at half the offered rate, so each pull
 *   asks the server for the next message of its partition far behind the stream's end.
 *
 * It prints, per phase, alarm publish → delivery on its lane p50/p99/max, the backlog, and the
 * NATS server's CPU, so the phases read against the first.
 */
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 8);
const TYPES = 24;
const RATE = Number(process.env.BENCH_RATE ?? 3_000);
const ALARMS_PER_S = 5;
const PHASE_S = Number(process.env.BENCH_PHASE_S ?? 20);
const STREAM = 'BENCH_EVENTS';
const subject = (partition: number, type: string) => `bench.events.${partition}.${type}`;
const TYPE_NAMES = Array.from({ length: TYPES }, (_, i) => `type-${i}`);
/** Triage's alarm lanes: one per partition and life-critical type. */
const ALARM_TYPES = Array.from({ length: 8 }, (_, i) => `alarm-${i}`);
const WARM_UP_S = 3;

type Phase = 'keeping up' | 'behind, not reading' | 'behind, reading';

const benchmark: Benchmark = {
  description:
    'alarm delivery on its lane while the partition lanes keep up, fall behind unread, and read far behind (own nats-server)',
  async run(log) {
    log(machineLine());
    const server = await OwnNatsServer.start('bench-lanes');
    const nc = await connect({ servers: server.url, name: 'bench-lanes' });
    const readers = await connect({ servers: server.url, name: 'bench-lanes-readers' });
    const serverPid = pidListeningOn(server.port);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: STREAM, subjects: ['bench.events.>'] });
      for (let p = 0; p < PARTITIONS; p++) {
        await jsm.consumers.add(STREAM, {
          durable_name: `p${p}`,
          filter_subject: `bench.events.${p}.>`,
          ack_policy: AckPolicy.Explicit,
          max_ack_pending: 32,
          deliver_policy: DeliverPolicy.All,
        });
        for (const type of ALARM_TYPES)
          await jsm.consumers.add(STREAM, {
            durable_name: `p${p}-${type}`,
            filter_subject: subject(p, type),
            ack_policy: AckPolicy.Explicit,
            max_ack_pending: 1,
            deliver_policy: DeliverPolicy.New,
          });
      }
      // The registry's consumer of every event, keeping up throughout.
      await jsm.consumers.add(STREAM, {
        durable_name: 'all',
        ack_policy: AckPolicy.Explicit,
        max_ack_pending: 256,
        deliver_policy: DeliverPolicy.All,
      });

      const latencies: Record<Phase | 'warm-up', number[]> = {
        'warm-up': [],
        'keeping up': [],
        'behind, not reading': [],
        'behind, reading': [],
      };
      let phase: Phase | 'warm-up' = 'warm-up';
      const rjs = jetstream(readers);
      const alarmLanes = Array.from({ length: PARTITIONS }, (_, p) =>
        ALARM_TYPES.map((type) => `p${p}-${type}`),
      ).flat();
      const alarmLoops = await Promise.all(
        alarmLanes.map(async (name) => {
          const messages = await (await rjs.consumers.get(STREAM, name)).consume({ max_messages: 1 });
          const done = (async () => {
            for await (const m of messages) {
              const sentAt = Number(m.string());
              latencies[phase].push(performance.now() - sentAt);
              m.ack();
            }
          })();
          return { messages, done };
        }),
      );

      // The partition lanes: as fast as they come, paused, or at half the offered rate in all.
      let laneMode: 'all' | 'pause' | 'half' = 'all';
      const lanes = await Promise.all(
        Array.from({ length: PARTITIONS }, async (_, p) => {
          const consumer = await rjs.consumers.get(STREAM, `p${p}`);
          return runLane(consumer, () => laneMode, RATE / 2 / PARTITIONS);
        }),
      );
      lanes.push(await runLane(await rjs.consumers.get(STREAM, 'all'), () => 'all', RATE));

      const js = jetstream(nc);
      const figures: Record<string, number | string> = { rate: RATE, partitions: PARTITIONS };
      const phases: Array<Phase | 'warm-up'> = [
        'warm-up',
        'keeping up',
        'behind, not reading',
        'behind, reading',
      ];
      const rows: string[] = [];
      let baselineP99 = Number.NaN;
      for (const current of phases) {
        phase = current;
        laneMode =
          current === 'keeping up' || current === 'warm-up'
            ? 'all'
            : current === 'behind, not reading'
              ? 'pause'
              : 'half';
        const cpuBefore = serverPid === undefined ? undefined : sampleProcess(serverPid)?.cpuS;
        const started = performance.now();
        let published = 0;
        let alarms = 0;
        const inFlight = new Set<Promise<unknown>>();
        const phaseS = current === 'warm-up' ? WARM_UP_S : PHASE_S;
        while (performance.now() - started < phaseS * 1000) {
          const due = Math.floor(((performance.now() - started) / 1000) * RATE);
          while (published < due) {
            const p = published % PARTITIONS;
            const alarmDue = Math.floor(((performance.now() - started) / 1000) * ALARMS_PER_S) > alarms;
            const subj = subject(
              p,
              (alarmDue ? ALARM_TYPES[alarms % ALARM_TYPES.length] : TYPE_NAMES[published % TYPES]) as string,
            );
            if (alarmDue) alarms++;
            const ack = js.publish(subj, String(performance.now()));
            inFlight.add(ack);
            void ack.finally(() => inFlight.delete(ack));
            published++;
            if (inFlight.size >= 512) await Promise.race(inFlight);
          }
          await sleep(2);
        }
        await Promise.all(inFlight);
        await sleep(500);
        const cpuAfter = serverPid === undefined ? undefined : sampleProcess(serverPid)?.cpuS;
        const seconds = (performance.now() - started) / 1000;
        let backlog = 0;
        for (let p = 0; p < PARTITIONS; p++)
          backlog += (await jsm.consumers.info(STREAM, `p${p}`)).num_pending;
        if (current === 'warm-up') continue;
        const sample = latencies[current];
        const p99 = percentile(sample, 99);
        if (current === 'keeping up') baselineP99 = p99;
        const natsCores =
          cpuBefore === undefined || cpuAfter === undefined ? Number.NaN : (cpuAfter - cpuBefore) / seconds;
        rows.push(
          `${current.padEnd(20)} ${String(Math.round(published / seconds)).padStart(6)}/s  alarms ${String(sample.length).padStart(4)}  p50 ${round(percentile(sample, 50), 1)} ms  p99 ${round(p99, 1)} ms (${round(p99 / baselineP99, 1)}×)  max ${round(Math.max(...sample), 1)} ms  backlog ${backlog}  nats ${round(natsCores, 2)} cores`,
        );
        const key = current.replace(/[^a-z]+/g, '_');
        figures[`${key}_alarm_p99_ms`] = round(p99, 1);
        figures[`${key}_nats_cores`] = round(natsCores, 2);
        figures[`${key}_backlog`] = backlog;
      }
      log(
        `offered ${RATE}/s over ${PARTITIONS} partitions × ${TYPES} types, ${ALARMS_PER_S} alarms/s on ${alarmLanes.length} alarm lanes, a consumer of everything, ${PHASE_S} s a phase after ${WARM_UP_S} s of warm-up`,
      );
      log('phase                 stored   alarm publish → its lane');
      for (const row of rows) log(row);
      laneMode = 'pause';
      for (const lane of lanes) await lane.stop();
      for (const loop of alarmLoops) {
        await loop.messages.close();
        await loop.done;
      }
      return figures;
    } finally {
      await nc.close();
      await readers.close();
      await server.destroy();
    }
  },
};

/** One partition lane: reads and acks, paused or held to `halfRate` a second as `mode` says. */
async function runLane(
  consumer: Consumer,
  mode: () => 'all' | 'pause' | 'half',
  halfRate: number,
): Promise<{ stop(): Promise<void> }> {
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  const done = (async () => {
    while (!stopped) {
      if (mode() === 'pause') {
        await sleep(50);
        continue;
      }
      // A batch at a time, so a pause stops the reading within one batch.
      const batch = await consumer.fetch({ max_messages: 32, expires: 1_000 });
      messages = batch;
      const started = performance.now();
      let n = 0;
      for await (const m of batch) {
        m.ack();
        n++;
        if (mode() === 'half') {
          const due = started + (n / halfRate) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
        }
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await messages?.close();
      await done;
    },
  };
}

export default benchmark;

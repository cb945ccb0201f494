import { Alert, DEVICE_EVENT_TYPES, names, TAXONOMY } from '@telecare/contracts';
import {
  ALARM_LANE,
  type ConsumerLoop,
  connectNats,
  createLogger,
  ensureDurableConsumer,
  ensureStreams,
  jetstream,
  jetstreamManager,
  sleep,
  startConsumerLoop,
  systemClock,
} from '@telecare/platform';
import { OwnNatsServer } from '@telecare/testkit';
import { machineLine, pidListeningOn, sampleProcess } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

/**
 * What the alarm lanes' short heartbeats cost while nothing happens: triage's alarm lanes (one per
 * partition and life-critical type, `BENCH_PARTITIONS` (8) × 8) idle on a NATS server of their own,
 * read by the platform's consumer loop with the defaults (a pull a second, heartbeats at half of
 * it) and with `ALARM_LANE`, in alternating windows of `BENCH_WINDOW_S` (10) seconds (four each), so
 * that drift in the machine's load falls on both. Per lane: messages a second each way on the
 * loops' connection, and CPU of the loops' process and of the server.
 */
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 8);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 10);
const WINDOWS = 4;
const ALARM_TYPES = DEVICE_EVENT_TYPES.filter((type) => TAXONOMY[type].priority === 1);
const LANES = PARTITIONS * ALARM_TYPES.length;
const n = names('benchheartbeat');
const logger = createLogger('bench-lane-heartbeat', 'silent');

type Setting = 'default' | 'alarm';
interface Window {
  readonly inPerS: number;
  readonly outPerS: number;
  readonly clientCpuMsPerS: number;
  readonly serverCpuMsPerS: number;
}

const benchmark: Benchmark = {
  description: `${LANES} idle alarm lanes read by the consumer loop: messages and CPU per lane with ALARM_LANE against the defaults (own nats-server)`,
  async run(log) {
    log(machineLine());
    const server = await OwnNatsServer.start('bench-heartbeat');
    const serverPid = pidListeningOn(server.port);
    const nc = await connectNats({ url: server.url, name: 'bench-heartbeat', logger });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm, n, ['alerts', 'deadletter']);
      const lanes: string[] = [];
      for (let p = 0; p < PARTITIONS; p++)
        for (const type of ALARM_TYPES) {
          const name = `alarm-p${p}-${type.replace(/\W/g, '-')}`;
          await ensureDurableConsumer(
            jsm,
            n.streams.alerts,
            name,
            { max_ack_pending: 1 },
            { filter_subject: `${n.namespace}.alerts.${name}.*` },
          );
          lanes.push(name);
        }
      const windows: Record<Setting, Window[]> = { default: [], alarm: [] };
      for (let w = 0; w < WINDOWS * 2; w++) {
        const setting: Setting = w % 2 === 0 ? 'default' : 'alarm';
        const window = await measure(server.url, lanes, setting, serverPid);
        windows[setting].push(window);
        log(
          `${setting.padEnd(8)} window ${Math.floor(w / 2) + 1}: ${round(window.inPerS / LANES, 2)} msgs/s in and ${round(window.outPerS / LANES, 2)} out per lane; CPU ${round(window.clientCpuMsPerS, 1)} ms/s loops, ${round(window.serverCpuMsPerS, 1)} ms/s server`,
        );
      }
      const mean = (setting: Setting, of: (w: Window) => number) =>
        windows[setting].reduce((sum, w) => sum + of(w), 0) / windows[setting].length;
      const figures = {
        lanes: LANES,
        default_msgs_in_per_s_per_lane: round(mean('default', (w) => w.inPerS) / LANES, 2),
        alarm_msgs_in_per_s_per_lane: round(mean('alarm', (w) => w.inPerS) / LANES, 2),
        default_msgs_out_per_s_per_lane: round(mean('default', (w) => w.outPerS) / LANES, 2),
        alarm_msgs_out_per_s_per_lane: round(mean('alarm', (w) => w.outPerS) / LANES, 2),
        default_loops_cpu_ms_per_s: round(
          mean('default', (w) => w.clientCpuMsPerS),
          1,
        ),
        alarm_loops_cpu_ms_per_s: round(
          mean('alarm', (w) => w.clientCpuMsPerS),
          1,
        ),
        default_server_cpu_ms_per_s: round(
          mean('default', (w) => w.serverCpuMsPerS),
          1,
        ),
        alarm_server_cpu_ms_per_s: round(
          mean('alarm', (w) => w.serverCpuMsPerS),
          1,
        ),
      };
      log(
        `per lane, ALARM_LANE against the defaults: ${figures.alarm_msgs_in_per_s_per_lane} against ${figures.default_msgs_in_per_s_per_lane} msgs/s in; all ${LANES} lanes: loops ${figures.alarm_loops_cpu_ms_per_s} against ${figures.default_loops_cpu_ms_per_s} ms CPU a second, server ${figures.alarm_server_cpu_ms_per_s} against ${figures.default_server_cpu_ms_per_s}`,
      );
      return figures;
    } finally {
      await nc.close();
      await server.destroy();
    }
  },
};

/** Every lane idle on a connection of its own for one window with one setting, after a warm-up. */
async function measure(
  url: string,
  lanes: readonly string[],
  setting: Setting,
  serverPid: number | undefined,
): Promise<Window> {
  const loopNc = await connectNats({ url, name: `bench-heartbeat-${setting}`, logger });
  const js = jetstream(loopNc);
  const loops: ConsumerLoop[] = lanes.map((consumer) =>
    startConsumerLoop({
      js,
      names: n,
      stream: n.streams.alerts,
      consumer,
      service: 'bench',
      // Nothing is stored: the schema is never read.
      schema: Alert,
      handle: async () => undefined,
      logger,
      clock: systemClock,
      ...(setting === 'alarm' ? ALARM_LANE : {}),
    }),
  );
  try {
    await sleep(2_000);
    const before = { stats: loopNc.stats(), cpu: process.cpuUsage(), server: serverCpuS(serverPid) };
    const started = performance.now();
    await sleep(WINDOW_S * 1_000);
    const seconds = (performance.now() - started) / 1_000;
    const stats = loopNc.stats();
    const cpu = process.cpuUsage(before.cpu);
    return {
      inPerS: (stats.inMsgs - before.stats.inMsgs) / seconds,
      outPerS: (stats.outMsgs - before.stats.outMsgs) / seconds,
      clientCpuMsPerS: (cpu.user + cpu.system) / 1_000 / seconds,
      serverCpuMsPerS: ((serverCpuS(serverPid) - before.server) * 1_000) / seconds,
    };
  } finally {
    await Promise.all(loops.map((loop) => loop.stop()));
    await loopNc.close();
  }
}

const serverCpuS = (pid: number | undefined): number =>
  pid === undefined ? Number.NaN : (sampleProcess(pid)?.cpuS ?? Number.NaN);

export default benchmark;

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { devicePayload, loadEventId, MqttPool } from '@telecare/simulators';
import {
  cleanupNamespace,
  freePort,
  type OwnMosquitto,
  servers,
  serviceEnv,
  startOwnMosquitto,
  uniqueNamespace,
} from '@telecare/testkit';
import { type Home, mixEvent, pickMix, registerHomes } from './lib/load.ts';
import { machineLine } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: {
    rates: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    homes: { type: 'string' },
    baseline: { type: 'string' },
  },
  strict: true,
});

const here = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_S = 100;

/** CPU seconds of a process, and how often its main thread slept and was woken, from /proc. */
function sample(pid: number): { cpuS: number; wakeups: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    cpuS: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S,
    wakeups: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN),
  };
}

/** One gateway-mqtt process of one checkout, with its own namespace, device map and devices. */
interface Side {
  readonly label: string;
  readonly namespace: string;
  readonly child: ChildProcess;
  readonly homes: Home[];
  readonly pool: MqttPool;
}

async function startSide(
  label: string,
  root: string,
  mosquitto: OwnMosquitto,
  homeCount: number,
  logDir: string,
): Promise<Side> {
  const namespace = uniqueNamespace(`gwcpu${label}`);
  const port = await freePort();
  const out = openSync(path.join(logDir, `${label}.log`), 'a');
  // BENCH_CPU_PROF=<folder>: each gateway writes a V8 CPU profile in <folder>/<label> when it exits.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.BENCH_CPU_PROF, label)}`]
    : [];
  // BENCH_SERVICE_BUILD=<folder>: this checkout's gateway runs as its bundle `<folder>/gateway-mqtt.mjs`
  // (`pnpm build:services --out <folder>`), the baseline's through tsx.
  const built = label === 'this' ? process.env.BENCH_SERVICE_BUILD : undefined;
  const entry = built
    ? [path.resolve(built, 'gateway-mqtt.mjs')]
    : ['--import', 'tsx', path.join(root, 'services', 'gateway-mqtt', 'src', 'main.ts')];
  const child = spawn(process.execPath, [...profile, ...entry], {
    cwd: root,
    env: {
      ...process.env,
      ...serviceEnv(namespace, {
        MQTT_URL: mosquitto.url,
        MQTT_CLIENT_ID: `${namespace}-gateway`,
        LOG_LEVEL: 'warn',
        TELECARE_PARTITIONS: '8',
      }),
      GATEWAY_MQTT_PORT: String(port),
    },
    stdio: ['ignore', out, out],
  });
  for (let waited = 0; ; waited += 200) {
    if (child.exitCode !== null) throw new Error(`${label} gateway exited; see ${logDir}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) break;
    if (waited > 60_000) throw new Error(`${label} gateway not ready in 60 s; see ${logDir}`);
    await sleep(200);
  }
  const nc = await connect({ servers: servers.natsUrl });
  const homes = await registerHomes(
    nc,
    namespace,
    `${label.toUpperCase()}${Date.now().toString(36)}-`,
    homeCount,
  );
  await nc.close();
  const pool = new MqttPool({ mqttUrl: mosquitto.url, namespace, connections: 8, resendMs: 10_000 });
  await pool.connect();
  await pool.register(homes.flatMap((h) => [h.hub, h.pendant, h.pir, h.door, h.bed, h.chair, h.temp]));
  return { label, namespace, child, homes, pool };
}

/** The pipeline's background mix at `rate` events/s for `seconds`, open loop; events acked. */
async function drive(side: Side, rate: number, seconds: number, toggled: Set<string>): Promise<number> {
  const busy = new Set<string>();
  const started = performance.now();
  let offered = 0;
  let acked = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - offered;
    for (let i = 0; i < due; i++) {
      offered++;
      const home = side.homes[Math.floor(Math.random() * side.homes.length)] as Home;
      const pick = pickMix(Math.random());
      const serial = home[pick.device];
      // A device sends one event at a time and waits for its ack.
      if (busy.has(serial)) continue;
      busy.add(serial);
      const { type, data } = mixEvent(pick.device, serial, toggled);
      const id = loadEventId();
      void side.pool
        .send(serial, id, devicePayload(id, type, data))
        .then(() => {
          acked++;
        })
        .catch(() => undefined)
        .finally(() => busy.delete(serial));
    }
    await sleep(5);
  }
  for (let waited = 0; side.pool.inFlight > 0 && waited < 30_000; waited += 50) await sleep(50);
  return acked;
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * gateway-mqtt's own CPU, in a process of its own as deployed, with the pipeline's device map
 * (`--homes` homes, seven devices each) and its background mix offered open loop at each of
 * `--rates` events/s (0: idle) for `--seconds`, `--rounds` times. Per rate: CPU cores and µs per
 * acked event, and the main thread's wakeups (voluntary context switches) per event.
 *
 * `--baseline <checkout>` runs that checkout's gateway beside this one, each with its own namespace
 * and devices, both offered the same rate at the same time: whatever else the machine is doing
 * falls on both alike, so their ratio per round is steady where either's own figure is not
 * (the same code on both sides read 0.94–1.02 in every round, where either side's own CPU moved by
 * a fifth between rounds).
 */
const benchmark: Benchmark = {
  description:
    "gateway-mqtt's CPU per event and wakeups per event at fixed rates, in its own process; against another checkout's gateway beside it (--baseline)",
  async run(log) {
    const rates = (args.rates ?? '0,250,500,1000,2000').split(',').map(Number);
    const seconds = Number(args.seconds ?? 15);
    const rounds = Number(args.rounds ?? 3);
    const homeCount = Number(args.homes ?? 3_000);
    const logDir = mkdtempSync(path.join(tmpdir(), 'telecare-bench-'));
    if (process.env.BENCH_CPU_PROF) mkdirSync(process.env.BENCH_CPU_PROF, { recursive: true });
    log(machineLine());
    log(`gateway logs in ${logDir}`);
    const mosquitto = await startOwnMosquitto();
    const sides: Side[] = [];
    const figures: Record<string, number | string> = {};
    try {
      if (args.baseline)
        sides.push(await startSide('baseline', path.resolve(args.baseline), mosquitto, homeCount, logDir));
      sides.push(await startSide('this', here, mosquitto, homeCount, logDir));
      log(
        `${sides.length === 2 ? `two gateways (baseline: ${args.baseline}), each` : 'one gateway'} with ${homeCount * 7} devices in its device map`,
      );
      const toggled = new Set<string>();
      // Warm-up, not measured: the JIT, the device map mirror.
      await Promise.all(sides.map((side) => drive(side, 200, 10, toggled)));
      const cores = new Map<string, number[]>();
      const perEvent = new Map<string, number[]>();
      const wakeups = new Map<string, number[]>();
      const ratios = new Map<number, number[]>();
      const push = (m: Map<string, number[]>, key: string, value: number) => {
        m.set(key, [...(m.get(key) ?? []), value]);
      };
      for (let r = 0; r < rounds; r++) {
        for (const rate of rates) {
          const load = loadavg()[0] ?? 0;
          const before = sides.map((side) => sample(side.child.pid ?? 0));
          const started = performance.now();
          const acked =
            rate === 0
              ? await sleep(seconds * 1000).then(() => sides.map(() => 0))
              : await Promise.all(sides.map((side) => drive(side, rate, seconds, toggled)));
          const windowS = (performance.now() - started) / 1000;
          const parts = sides.map((side, i) => {
            const now = sample(side.child.pid ?? 0);
            const was = before[i] as { cpuS: number; wakeups: number };
            const c = (now.cpuS - was.cpuS) / windowS;
            const events = acked[i] ?? 0;
            const key = `${side.label}@${rate}`;
            push(cores, key, c);
            if (events > 0) {
              push(perEvent, key, ((now.cpuS - was.cpuS) / events) * 1e6);
              push(wakeups, key, (now.wakeups - was.wakeups) / events);
            }
            return `${side.label} ${round(events / windowS, 0)}/s, ${round(c, 3)} cores${
              events > 0
                ? `, ${round(((now.cpuS - was.cpuS) / events) * 1e6, 0)} µs and ${round((now.wakeups - was.wakeups) / events, 2)} wakeups per event`
                : `, ${round((now.wakeups - was.wakeups) / windowS, 0)} wakeups/s`
            }`;
          });
          let ratio = '';
          if (sides.length === 2) {
            const [b, t] = sides.map((side) => cores.get(`${side.label}@${rate}`)?.at(-1) ?? Number.NaN);
            ratios.set(rate, [...(ratios.get(rate) ?? []), (t as number) / (b as number)]);
            ratio = `; this/baseline ${round((t as number) / (b as number), 2)}`;
          }
          log(`round ${r + 1}, ${rate}/s (load ${round(load, 1)}): ${parts.join('; ')}${ratio}`);
        }
      }
      log('medians over the rounds:');
      for (const rate of rates) {
        const line = sides.map((side) => {
          const key = `${side.label}@${rate}`;
          const c = median(cores.get(key) ?? []);
          figures[`${side.label}_r${rate}_cores`] = round(c, 3);
          if (rate === 0) return `${side.label} ${round(c, 3)} cores`;
          const us = median(perEvent.get(key) ?? []);
          const w = median(wakeups.get(key) ?? []);
          figures[`${side.label}_r${rate}_us_per_event`] = round(us, 0);
          figures[`${side.label}_r${rate}_wakeups_per_event`] = round(w, 2);
          return `${side.label} ${round(c, 3)} cores, ${round(us, 0)} µs/event, ${round(w, 2)} wakeups/event`;
        });
        const r = ratios.get(rate);
        if (r) figures[`r${rate}_this_vs_baseline_cpu`] = round(median(r), 2);
        log(
          `  ${rate === 0 ? 'idle' : `${rate}/s`}: ${line.join('; ')}${r ? `; this/baseline ${round(median(r), 2)} (rounds ${r.map((x) => round(x, 2)).join(', ')})` : ''}`,
        );
      }
    } finally {
      for (const side of sides) {
        await side.pool.close();
        if (side.child.exitCode === null && side.child.signalCode === null) {
          const exited = new Promise((resolve) => side.child.once('exit', resolve));
          side.child.kill('SIGTERM');
          const kill = setTimeout(() => side.child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(kill);
        }
        await cleanupNamespace(side.namespace);
      }
      mosquitto.stop();
    }
    return figures;
  },
};

export default benchmark;

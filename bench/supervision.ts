import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Alert, names } from '@telecare/contracts';
import { createLogger, createRedis } from '@telecare/platform';
import { devicePayload, loadEventId, MqttPool } from '@telecare/simulators';
import { measureCeilings, ofCeiling, servers, startOwnMosquitto } from '@telecare/testkit';
import { mapHubs } from '@telecare/tests';
import { timerBucket } from '@telecare/triage';
import { machineLine, type ServiceProcess, ServiceProcesses, sampleProcess } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: {
    devices: { type: 'string' },
    interval: { type: 'string' },
    silent: { type: 'string' },
    connections: { type: 'string' },
  },
  strict: true,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How far past its interval a silent device may be reported (issue target: interval + 60 s). */
const ALLOWANCE_S = 60;
/** In flight at once from the devices: the broker and gateway see a realistic trickle, not a wall. */
const IN_FLIGHT = 400;

/** CPU (cores) and resident memory of each service process over a window. */
async function sampleWindow(
  services: readonly ServiceProcess[],
  ms: number,
): Promise<{ cores: Record<string, number>; rssMb: Record<string, number> }> {
  const before = new Map(services.map((s) => [s.name, sampleProcess(s.child.pid ?? 0)?.cpuS ?? 0]));
  const started = performance.now();
  await sleep(ms);
  const seconds = (performance.now() - started) / 1000;
  const cores: Record<string, number> = {};
  const rssMb: Record<string, number> = {};
  for (const s of services) {
    const now = sampleProcess(s.child.pid ?? 0);
    cores[s.name] = ((now?.cpuS ?? 0) - (before.get(s.name) ?? 0)) / seconds;
    rssMb[s.name] = now?.rssMb ?? Number.NaN;
  }
  return { cores, rssMb };
}

/**
 * Supervision at scale: `--devices` hubs (100,000) with a heartbeat interval (`--interval`, 300 s)
 * each send a heartbeat, then keep beating on their interval, except `--silent` (20) of them, which
 * go quiet. Each silent hub must raise `supervision.lost` within its interval plus 60 s of its last
 * heartbeat, and no hub that kept beating may raise one. The idle cost of watching them — CPU and
 * memory of gateway-mqtt, triage and the helpline, the namespace's Redis memory and the timer
 * bucket — is reported per 10,000 devices, against the same services measured idle with no
 * devices in the same run (the baseline).
 */
const benchmark: Benchmark = {
  description:
    'supervision at scale: many devices on a heartbeat interval, some go silent; detection time and idle cost per 10,000 devices, against the services idle in the same run',
  async run(log) {
    const devices = Number(args.devices ?? 100_000);
    const intervalS = Number(args.interval ?? 300);
    const silentCount = Number(args.silent ?? 20);
    const logDir = mkdtempSync(path.join(tmpdir(), 'telecare-bench-'));
    const mosquitto = await startOwnMosquitto();
    const services = new ServiceProcesses(
      'benchsup',
      { MQTT_URL: mosquitto.url, LOG_LEVEL: 'warn', TELECARE_PARTITIONS: '8' },
      logDir,
    );
    const nc = await connect({ servers: servers.natsUrl, maxReconnectAttempts: -1 });
    const redis = await createRedis({
      url: servers.redisUrl,
      logger: createLogger('bench', 'silent'),
      name: 'bench-supervision',
    });
    let pool: MqttPool | undefined;
    try {
      log(machineLine());
      log(`own Mosquitto at ${mosquitto.url}; service logs in ${logDir}`);
      await services.start();
      const ns = services.namespace;
      const n = names(ns);
      const ceiling = await measureCeilings(nc, ns, mosquitto.url);
      log(ceiling.line);
      const idle = await sampleWindow(services.all, 15_000);
      log(
        `baseline, no devices (15 s): CPU ${Object.entries(idle.cores)
          .map(([k, v]) => `${k} ${round(v, 3)}`)
          .join(', ')}; RSS MB ${Object.entries(idle.rssMb)
          .map(([k, v]) => `${k} ${round(v, 0)}`)
          .join(', ')}`,
      );

      const t0 = performance.now();
      const hubs = await mapHubs(
        nc,
        ns,
        `SV${Date.now().toString(36).toUpperCase()}-`,
        devices,
        (i) => `GL${1 + (i % 20)}`,
        { supervisionIntervalS: intervalS },
      );
      log(`mapped ${hubs.length} hubs in ${round((performance.now() - t0) / 1000, 1)} s`);
      await sleep(2_000);
      pool = new MqttPool({
        mqttUrl: mosquitto.url,
        namespace: ns,
        connections: Number(args.connections ?? 8),
        resendMs: 10_000,
      });
      await pool.connect();
      await pool.register(hubs.map((h) => h.hub));

      // Silent hubs: spread through the set, so they beat once at different moments.
      const step = Math.max(1, Math.floor(devices / Math.max(1, silentCount)));
      const silent = new Set(
        hubs
          .filter((_, i) => i % step === 0)
          .slice(0, silentCount)
          .map((h) => h.hub),
      );
      const lost = new Map<string, number>();
      const sub = nc.subscribe(n.subjects.allAlerts);
      void (async () => {
        for await (const msg of sub) {
          const alert = Alert.safeParse(msg.json());
          if (!alert.success || alert.data.type !== 'supervision.lost' || !alert.data.deviceSerial) continue;
          if (!lost.has(alert.data.deviceSerial)) lost.set(alert.data.deviceSerial, Date.now());
        }
      })();

      // Every hub beats; its next beat is due 0.8 of an interval after this one was acknowledged.
      const lastBeat = new Map<string, number>();
      const lateBeat = new Set<string>();
      const due: Array<{ serial: string; at: number }> = hubs.map((h) => ({ serial: h.hub, at: 0 }));
      const firstRoundStarted = performance.now();
      let firstRoundDone = 0;
      let inFlight = 0;
      const beat = (serial: string) => {
        inFlight++;
        const id = loadEventId();
        const activePool = pool as MqttPool;
        return activePool
          .send(serial, id, devicePayload(id, 'heartbeat', { batteryPercent: 90, mains: true }))
          .then(() => {
            const now = Date.now();
            const previous = lastBeat.get(serial);
            if (previous === undefined) firstRoundDone++;
            else if (now - previous > intervalS * 1000) lateBeat.add(serial);
            lastBeat.set(serial, now);
            if (!silent.has(serial)) due.push({ serial, at: now + intervalS * 800 });
          })
          .catch(() => undefined)
          .finally(() => {
            inFlight--;
          });
      };
      const runUntil = async (until: () => boolean) => {
        while (!until()) {
          due.sort((a, b) => a.at - b.at);
          const now = Date.now();
          let i = 0;
          while (i < due.length && (due[i] as { at: number }).at <= now && inFlight < IN_FLIGHT) {
            void beat((due[i] as { serial: string }).serial);
            i++;
          }
          due.splice(0, i);
          await sleep(i > 0 ? 1 : 50);
        }
      };
      await runUntil(() => firstRoundDone >= devices);
      const firstRoundS = (performance.now() - firstRoundStarted) / 1000;
      log(
        `first heartbeat of every hub acknowledged in ${round(firstRoundS, 1)} s (${round(devices / firstRoundS, 0)}/s, ${ofCeiling(devices / firstRoundS, ceiling.jsPerS)} of the JetStream ceiling)`,
      );

      // Steady state: sample the idle cost while the hubs beat on their interval.
      const steady = runUntil(() => {
        const lastSilent = Math.max(...[...silent].map((s) => lastBeat.get(s) ?? 0));
        return Date.now() > lastSilent + (intervalS + ALLOWANCE_S + 30) * 1000;
      });
      const windowMs = Math.min(60_000, intervalS * 500);
      const busy = await sampleWindow(services.all, windowMs);
      const steadyRate = (devices - silentCount) / intervalS;
      await steady;
      sub.unsubscribe();

      const delays: number[] = [];
      let missed = 0;
      for (const serial of silent) {
        const at = lost.get(serial);
        const expected = (lastBeat.get(serial) ?? 0) + intervalS * 1000;
        if (at === undefined) missed++;
        else delays.push((at - expected) / 1000);
      }
      const falseLosses = [...lost.keys()].filter((s) => !silent.has(s) && !lateBeat.has(s)).length;
      const worst = delays.length ? Math.max(...delays) : Number.NaN;
      log(
        `silent hubs: ${silent.size}; supervision.lost after interval: p50 ${round(percentile(delays, 50), 1)} s, max ${round(worst, 1)} s (allowance ${ALLOWANCE_S} s); missed ${missed}`,
      );
      log(
        `hubs that kept beating: ${devices - silent.size}; false supervision losses ${falseLosses}; beats acked late (over the interval) ${lateBeat.size}`,
      );

      // Memory the namespace holds: Redis keys under its prefix, and the timer bucket.
      let redisBytes = 0;
      let redisKeys = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${n.redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) {
          const pipeline = redis.pipeline();
          for (const key of keys) pipeline.memory('USAGE', key);
          for (const [, bytes] of (await pipeline.exec()) ?? []) redisBytes += Number(bytes ?? 0);
          redisKeys += keys.length;
        }
      } while (cursor !== '0');
      const jsm = await jetstreamManager(nc);
      const bucketBytes = async (bucket: string) =>
        (await jsm.streams.info(`KV_${bucket}`).catch(() => undefined))?.state.bytes ?? 0;
      const timerBytes = await bucketBytes(timerBucket(n));
      const mapBytes = await bucketBytes(n.kv.deviceMap);

      const per10k = 10_000 / devices;
      const cores: Record<string, number> = {};
      const rss: Record<string, number> = {};
      for (const name of Object.keys(busy.cores)) {
        cores[name] = round(((busy.cores[name] ?? 0) - (idle.cores[name] ?? 0)) * per10k, 4);
        rss[name] = round(((busy.rssMb[name] ?? 0) - (idle.rssMb[name] ?? 0)) * per10k, 1);
      }
      log(
        `steady state (${round(steadyRate, 0)} heartbeats/s, ${round(windowMs / 1000, 0)} s window), above the idle baseline, per 10,000 devices: CPU (cores) ${Object.entries(
          cores,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; RSS MB ${Object.entries(rss)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
      log(
        `  Redis ${round((redisBytes / 2 ** 20) * per10k, 2)} MB in ${redisKeys} keys (${round(redisBytes / devices, 0)} B per device); timer bucket ${round((timerBytes / 2 ** 20) * per10k, 2)} MB, device map ${round((mapBytes / 2 ** 20) * per10k, 2)} MB per 10,000 devices`,
      );
      const figures: Record<string, number | string> = {
        devices,
        interval_s: intervalS,
        silent: silent.size,
        first_round_s: round(firstRoundS, 1),
        first_round_of_ceiling: ofCeiling(devices / firstRoundS, ceiling.jsPerS),
        ceiling_jetstream_per_s: round(ceiling.jsPerS, 0),
        ceiling_mosquitto_qos1_per_s: round(ceiling.mqttPerS, 0),
        steady_heartbeats_per_s: round(steadyRate, 0),
        detect_after_interval_p50_s: round(percentile(delays, 50), 1),
        detect_after_interval_max_s: round(worst, 1),
        missed,
        false_losses: falseLosses,
        late_beats: lateBeat.size,
        redis_bytes_per_device: round(redisBytes / devices, 0),
        timer_bucket_mb_per_10k: round((timerBytes / 2 ** 20) * per10k, 2),
        load_avg_1m: round(loadavg()[0] ?? 0, 1),
      };
      for (const [k, v] of Object.entries(cores)) figures[`cpu_cores_per_10k_${k}`] = v;
      for (const [k, v] of Object.entries(rss)) figures[`rss_mb_per_10k_${k}`] = v;
      for (const [k, v] of Object.entries(idle.cores)) figures[`baseline_cpu_cores_${k}`] = round(v, 3);
      return figures;
    } finally {
      await pool?.close().catch(() => undefined);
      await nc.close();
      redis.disconnect();
      await services.stop().catch(() => undefined);
      mosquitto.stop();
    }
  },
};

export default benchmark;

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type DeviceMapEntry, type EventType, names } from '@telecare/contracts';
import { devicePayload, loadEventId, MqttPool } from '@telecare/simulators';
import { measureCeilings, type OwnMosquitto, servers, startOwnMosquitto } from '@telecare/testkit';
import * as hdr from 'hdr-histogram-js';
import { round } from '../stats.ts';
import {
  machineBusyS,
  machineLine,
  pidListeningOn,
  processTreeCpuS,
  type ServiceName,
  ServiceProcesses,
  sampleProcess,
} from './services.ts';

/** The devices of one simulated home. */
export interface Home {
  readonly ref: string;
  readonly residentId: string;
  readonly hub: string;
  readonly pendant: string;
  readonly pir: string;
  readonly door: string;
  readonly bed: string;
  readonly chair: string;
  readonly temp: string;
}

/**
 * The background mix, as a share of the offered events: what a home with a hub, a movement sensor,
 * a door contact, bed and chair sensors and a temperature sensor reports through a day, roughly in
 * the proportions of the simulators' resident model (movement dominates; heartbeats every few
 * minutes per device).
 */
const MIX: ReadonlyArray<{ share: number; device: keyof Omit<Home, 'ref' | 'residentId' | 'pendant'> }> = [
  { share: 0.15, device: 'hub' },
  { share: 0.4, device: 'pir' },
  { share: 0.12, device: 'door' },
  { share: 0.1, device: 'bed' },
  { share: 0.1, device: 'chair' },
  { share: 0.13, device: 'temp' },
];

/**
 * The event a device of the mix reports next: `toggled` holds the doors open and the beds and
 * chairs taken, so that each alternates.
 */
export function mixEvent(
  device: keyof Home,
  serial: string,
  toggled: Set<string>,
): { type: EventType; data?: Record<string, unknown> } {
  const flip = () => {
    const on = !toggled.has(serial);
    if (on) toggled.add(serial);
    else toggled.delete(serial);
    return on;
  };
  switch (device) {
    case 'hub':
      return { type: 'heartbeat', data: { batteryPercent: 90, mains: true } };
    case 'pir':
      return { type: 'motion' };
    case 'door':
      return { type: flip() ? 'door.opened' : 'door.closed' };
    case 'bed':
      return { type: flip() ? 'bed.occupied' : 'bed.vacated' };
    case 'chair':
      return { type: flip() ? 'chair.occupied' : 'chair.vacated' };
    default:
      return { type: 'temperature', data: { celsius: 19 + Math.round(Math.random() * 40) / 10 } };
  }
}

export function pickMix(r: number): (typeof MIX)[number] {
  let left = r;
  for (const m of MIX) {
    left -= m.share;
    if (left < 0) return m;
  }
  return MIX[0] as (typeof MIX)[number];
}

/** Alarms (pendant presses) as a share of the offered events, and at least this many per second. */
const ALARM_SHARE = 0.002;
const MIN_ALARMS_PER_S = 2;
/** The knee: the highest rate at which an alarm reaches the console within this, at p99. */
export const KNEE_P99_MS = 250;
/** A press not on the console by then counts as this late (and as missing). */
const ALARM_TIMEOUT_MS = 30_000;

export interface LoadOptions {
  readonly rates: readonly number[];
  readonly homes: number;
  readonly seconds: number;
  readonly connections: number;
  /**
   * The NATS server's nice value for the run, restored after it (`--nats-nice`): how much of the
   * two shared cores the broker gets decides how late it hands a stored alarm on (see the bench
   * README). Undefined leaves it as it is.
   */
  readonly natsNice?: number;
  readonly log: (line: string) => void;
}

interface StepFigures {
  rate: number;
  load_avg_1m: number;
  offered_per_s: number;
  sustained_per_s: number;
  held_back: number;
  ack_p50_ms: number;
  ack_p99_ms: number;
  alarms: number;
  alarms_missing: number;
  alarm_p50_ms: number;
  alarm_p99_ms: number;
  alarm_max_ms: number;
  gateway_queue_max: number;
  events_lag_max: number;
  events_lag_end: number;
  alerts_lag_max: number;
  rate_limited: number;
  cpu: Record<string, number>;
  rss_mb: Record<string, number>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes the homes' devices into the device map (the KV bucket the registry keeps, read by the
 * gateway and triage), many puts at once: the registry's import is not on the path measured and
 * takes minutes for thousands of homes on a loaded machine.
 */
export async function registerHomes(
  nc: NatsConnection,
  ns: string,
  prefix: string,
  count: number,
): Promise<Home[]> {
  const kv = await new Kvm(nc).create(names(ns).kv.deviceMap, { history: 5 });
  const now = new Date().toISOString();
  const homes: Home[] = Array.from({ length: count }, (_, i) => {
    const ref = `${prefix}${i}`;
    return {
      ref,
      residentId: `res_${ref.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
      hub: `${ref}-HUB`,
      pendant: `${ref}-PND`,
      pir: `${ref}-PIR`,
      door: `${ref}-DOR`,
      bed: `${ref}-BED`,
      chair: `${ref}-CHR`,
      temp: `${ref}-TMP`,
    };
  });
  const kinds: Array<[keyof Home, DeviceMapEntry['kind'], string | null]> = [
    ['hub', 'home-unit', 'hall'],
    ['pendant', 'pendant', null],
    ['pir', 'pir', 'lounge'],
    ['door', 'door-contact', 'front door'],
    ['bed', 'bed-sensor', 'bedroom'],
    ['chair', 'chair-sensor', 'lounge'],
    ['temp', 'temperature-sensor', 'lounge'],
  ];
  const entries = homes.flatMap((home, i) =>
    kinds.map(
      ([device, kind, location]): DeviceMapEntry => ({
        serial: home[device],
        deviceId: `dev_${home[device].toLowerCase().replace(/[^a-z0-9]/g, '')}`,
        residentId: home.residentId,
        kind,
        protocol: 'mqtt',
        location,
        supervisionIntervalS: 86_400,
        state: 'installed',
        testMode: false,
        postcodeDistrict: `GL${1 + (i % 9)}`,
        updatedAt: now,
      }),
    ),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < entries.length) {
        const entry = entries[next++] as DeviceMapEntry;
        await kv.put(entry.serial, JSON.stringify(entry));
      }
    }),
  );
  return homes;
}

const histogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

/** The `gateway_mqtt_*` figures the bench reads from the gateway's /metrics. */
async function gatewayMetrics(url: string): Promise<{ queued: number; rateLimited: number }> {
  const text = await fetch(`${url}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const value = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    queued: value('gateway_mqtt_queued_messages'),
    rateLimited: value('gateway_mqtt_rate_limited_total'),
  };
}

/**
 * The whole MQTT path under a sustained, mixed load: homes publish at `rate` events/s (open loop:
 * each event is due at its time whether or not the platform kept up), pendants are pressed at
 * ALARM_SHARE of it, and every press is timed from the moment it was due (not from when it could
 * be sent, which would hide the generator's own stalls: coordinated omission) to its case on the
 * helpline's SSE stream.
 */
export async function runLoad(options: LoadOptions): Promise<Record<string, number | string>> {
  const { log } = options;
  const logDir = mkdtempSync(path.join(tmpdir(), 'telecare-bench-'));
  const mosquitto: OwnMosquitto = await startOwnMosquitto();
  const services = new ServiceProcesses(
    'benchload',
    { MQTT_URL: mosquitto.url, LOG_LEVEL: 'warn', TELECARE_PARTITIONS: '8' },
    logDir,
  );
  const nc = await connect({ servers: servers.natsUrl, maxReconnectAttempts: -1 });
  const controller = new AbortController();
  let pool: MqttPool | undefined;
  let restoreNice: (() => void) | undefined;
  try {
    log(machineLine());
    log(`own Mosquitto at ${mosquitto.url}; service logs in ${logDir}`);
    await services.start();
    const ns = services.namespace;
    const n = names(ns);
    const ceiling = await measureCeilings(nc, ns, mosquitto.url);
    log(ceiling.line);
    const mosquittoPid = pidListeningOn(Number(new URL(mosquitto.url).port)) ?? 0;
    // The shared servers' CPU too, where this machine lets it be read (their pids, from `ss`).
    const portOf = (url: string, fallback: number) => Number(new URL(url).port || fallback);
    const serverPids: Record<string, number | undefined> = {
      nats: pidListeningOn(portOf(servers.natsUrl, 4222)),
      redis: pidListeningOn(portOf(servers.redisUrl, 6379)),
      postgres: pidListeningOn(portOf(servers.databaseUrl, 5432)),
    };
    if (options.natsNice !== undefined) {
      const pid = serverPids.nats;
      if (pid === undefined) throw new Error('--nats-nice: no NATS server process found on its port');
      restoreNice = renice(pid, options.natsNice);
      log(`NATS server (pid ${pid}) at nice ${options.natsNice} for this run`);
    }

    const t0 = performance.now();
    const homes = await registerHomes(nc, ns, `BL${Date.now().toString(36).toUpperCase()}-`, options.homes);
    log(
      `registered ${homes.length} homes (${homes.length * 7} devices) in ${round((performance.now() - t0) / 1000, 1)} s`,
    );
    // The gateway's device map is a KV watch: give it the new entries before traffic starts.
    await sleep(2_000);

    pool = new MqttPool({
      mqttUrl: mosquitto.url,
      namespace: ns,
      connections: options.connections,
      resendMs: 10_000,
    });
    await pool.connect();
    await pool.register(homes.flatMap((h) => [h.hub, h.pendant, h.pir, h.door, h.bed, h.chair, h.temp]));

    // The console's view: every case frame on the SSE stream, by resident.
    const waiting = new Map<string, (at: number) => void>();
    // When each press's alert was stored: triage publishes it to ALERTS, seen here on core NATS.
    const alertSeen = new Map<string, { at: number; id: string }>();
    /** Case frames of a home waited for that did not name its press's alert (yet). */
    const framesSeen = new Map<string, { at: number; block: string }[]>();
    const response = await fetch(`${services.url('helpline')}/api/stream`, {
      headers: { authorization: `Bearer ${services.token}` },
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(`GET /api/stream: ${response.status}`);
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        const at = performance.now();
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.includes('event: case')) {
            const residentId = /"residentId":"([^"]+)"/.exec(block)?.[1];
            if (residentId && waiting.has(residentId)) {
              // The press's own case: the frame names its alert. A frame of another alert of the
              // home, or one read before the press's alert, is kept for when that alert is seen.
              const alert = alertSeen.get(residentId);
              if (alert && block.includes(alert.id)) waiting.get(residentId)?.(at);
              else framesSeen.set(residentId, [...(framesSeen.get(residentId) ?? []), { at, block }]);
            }
          }
          end = buffer.indexOf('\n\n');
        }
      }
    })().catch(() => undefined);

    const alertSub = nc.subscribe(n.subjects.allAlerts);
    void (async () => {
      for await (const msg of alertSub) {
        const at = performance.now();
        const alert = msg.json<{ id: string; residentId: string; type: string }>();
        if (alert.type !== 'pendant.pressed' || alertSeen.has(alert.residentId)) continue;
        alertSeen.set(alert.residentId, { at, id: alert.id });
        const frame = framesSeen.get(alert.residentId)?.find((f) => f.block.includes(alert.id));
        if (frame) waiting.get(alert.residentId)?.(frame.at);
      }
    })().catch(() => undefined);

    const jsm = await jetstreamManager(nc);
    const lag = async (stream: string) => {
      let total = 0;
      for await (const c of jsm.consumers.list(stream)) total += c.num_pending + c.num_ack_pending;
      return total;
    };

    // Device state the mix toggles (a door opens then closes, a bed is taken then left).
    const toggled = new Set<string>();
    const eventFor = (device: keyof Home, serial: string) => mixEvent(device, serial, toggled);

    // Warm-up, not measured: the gateway's device map mirror, triage's state and the JIT.
    {
      const until = performance.now() + 10_000;
      let sent = 0;
      const warmRate = Math.min(100, options.rates[0] ?? 100);
      while (performance.now() < until) {
        const home = homes[sent++ % homes.length] as Home;
        const id = loadEventId();
        void pool.send(home.hub, id, devicePayload(id, 'heartbeat', { mains: true })).catch(() => undefined);
        await sleep(1000 / warmRate);
      }
      const drained = Date.now() + 30_000;
      while (pool.inFlight > 0 && Date.now() < drained) await sleep(200);
    }

    let pressed = 0;
    const gatewayUrl = services.url('gateway-mqtt');
    const steps: StepFigures[] = [];
    for (const rate of options.rates) {
      const activePool = pool;
      const alarmRate = Math.max(MIN_ALARMS_PER_S, rate * ALARM_SHARE);
      const durationMs = options.seconds * 1000;
      const ack = histogram();
      const alarm = histogram();
      const busy = new Set<string>();
      let offered = 0;
      let storedInWindow = 0;
      let heldBack = 0;
      let alarms = 0;
      let missing = 0;
      const alarmDone: Promise<void>[] = [];
      /** Each press whose console case came later than the knee's limit: where its time went. */
      const slow: { residentId: string; toAck: number; toAlert: number; toConsole: number }[] = [];
      const before = new Map<string, number>();
      for (const s of services.all) before.set(s.name, sampleProcess(s.child.pid ?? 0)?.cpuS ?? 0);
      before.set('mosquitto', sampleProcess(mosquittoPid)?.cpuS ?? 0);
      for (const [name, pid] of Object.entries(serverPids))
        if (pid !== undefined) before.set(name, processTreeCpuS(pid) ?? 0);
      const machineBefore = machineBusyS();
      const benchCpuBefore = process.cpuUsage();
      const gatewayBefore = await gatewayMetrics(gatewayUrl);
      let queueMax = 0;
      let eventsLagMax = 0;
      let alertsLagMax = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [g, e, a] = await Promise.all([
            gatewayMetrics(gatewayUrl),
            lag(n.streams.events),
            lag(n.streams.alerts),
          ]);
          queueMax = Math.max(queueMax, g.queued);
          eventsLagMax = Math.max(eventsLagMax, e);
          alertsLagMax = Math.max(alertsLagMax, a);
          await sleep(1_000);
        }
      })();
      const loadAvg = loadavg()[0] ?? 0;
      const started = performance.now();
      let alarmsDue = 0;
      while (performance.now() - started < durationMs) {
        const elapsed = performance.now() - started;
        const due = Math.floor((elapsed / 1000) * rate) - offered;
        for (let i = 0; i < due; i++) {
          // Each event's due time: its latency counts from then, not from when it went out.
          const dueAt = started + ((offered + 1) / rate) * 1000;
          offered++;
          const home = homes[Math.floor(Math.random() * homes.length)] as Home;
          const pick = pickMix(Math.random());
          const serial = home[pick.device];
          if (busy.has(serial)) {
            // A device sends one event at a time and waits for its ack; this one would queue on it.
            heldBack++;
            continue;
          }
          busy.add(serial);
          const { type, data } = eventFor(pick.device, serial);
          const id = loadEventId();
          void activePool
            .send(serial, id, devicePayload(id, type, data))
            .then(() => {
              const now = performance.now();
              ack.recordValue(Math.max(1, Math.round((now - dueAt) * 1000)));
              if (now - started <= durationMs) storedInWindow++;
            })
            .catch(() => undefined)
            .finally(() => busy.delete(serial));
        }
        const alarmsNow = Math.floor((elapsed / 1000) * alarmRate) - alarmsDue;
        for (let i = 0; i < alarmsNow; i++) {
          const dueAt = started + ((alarmsDue + 1) / alarmRate) * 1000;
          alarmsDue++;
          // A fresh home for every press: a resident's later alerts join the open case.
          const home = homes[pressed++ % homes.length] as Home;
          alarms++;
          alertSeen.delete(home.residentId);
          framesSeen.delete(home.residentId);
          const seen = new Promise<number>((resolve) => waiting.set(home.residentId, resolve));
          const id = loadEventId();
          // When the device had its ack: the event stored (generator, MQTT, gateway-mqtt, JetStream).
          let ackAt = Number.NaN;
          void activePool
            .send(home.pendant, id, devicePayload(id, 'pendant.pressed'))
            .then(() => {
              ackAt = performance.now();
            })
            .catch(() => undefined);
          alarmDone.push(
            Promise.race([seen, sleep(ALARM_TIMEOUT_MS).then(() => Number.NaN)]).then((at) => {
              waiting.delete(home.residentId);
              framesSeen.delete(home.residentId);
              if (Number.isNaN(at)) missing++;
              const ms = Number.isNaN(at) ? ALARM_TIMEOUT_MS : at - dueAt;
              alarm.recordValue(Math.max(1, Math.round(ms * 1000)));
              if (ms > KNEE_P99_MS) {
                const alertAt = alertSeen.get(home.residentId)?.at ?? Number.NaN;
                slow.push({
                  residentId: home.residentId,
                  toAck: ackAt - dueAt,
                  toAlert: alertAt - dueAt,
                  toConsole: at - alertAt,
                });
              }
            }),
          );
        }
        await sleep(5);
      }
      const windowS = (performance.now() - started) / 1000;
      const benchCpu = process.cpuUsage(benchCpuBefore);
      const cpu: Record<string, number> = {};
      const rss: Record<string, number> = {};
      for (const s of services.all) {
        const now = sampleProcess(s.child.pid ?? 0);
        cpu[s.name] = round(((now?.cpuS ?? 0) - (before.get(s.name) ?? 0)) / windowS, 2);
        rss[s.name] = round(now?.rssMb ?? Number.NaN, 0);
      }
      cpu.bench = round((benchCpu.user + benchCpu.system) / 1e6 / windowS, 2);
      const mosquittoNow = sampleProcess(mosquittoPid);
      cpu.mosquitto = round(((mosquittoNow?.cpuS ?? 0) - (before.get('mosquitto') ?? 0)) / windowS, 2);
      rss.mosquitto = round(mosquittoNow?.rssMb ?? Number.NaN, 0);
      for (const [name, pid] of Object.entries(serverPids)) {
        const now = pid === undefined ? undefined : processTreeCpuS(pid);
        if (now !== undefined) cpu[name] = round((now - (before.get(name) ?? 0)) / windowS, 2);
      }
      // Everything on the machine, this run's processes and any other work alike.
      cpu.machine = round((machineBusyS() - machineBefore) / windowS, 2);
      rss.bench = round(process.memoryUsage().rss / 2 ** 20, 0);
      const eventsLagEnd = await lag(n.streams.events);
      await Promise.all(alarmDone);
      sampling = false;
      await sampler;
      const gatewayAfter = await gatewayMetrics(gatewayUrl);
      // The gateway's whole /metrics (store time histogram, shed and rate-limited counts) per rate.
      writeFileSync(
        path.join(logDir, `gateway-metrics-${rate}.txt`),
        await fetch(`${gatewayUrl}/metrics`).then((r) => r.text()),
      );
      // Triage's too: evaluation time per lane kind, the event loop's delay, redeliveries.
      writeFileSync(
        path.join(logDir, `triage-metrics-${rate}.txt`),
        await fetch(`${services.url('triage')}/metrics`).then((r) => r.text()),
      );
      const us = (h: hdr.Histogram, p: number) => round(h.getValueAtPercentile(p) / 1000, 1);
      const step: StepFigures = {
        rate,
        load_avg_1m: round(loadAvg, 1),
        offered_per_s: round(offered / windowS, 0),
        sustained_per_s: round(storedInWindow / windowS, 0),
        held_back: heldBack,
        ack_p50_ms: us(ack, 50),
        ack_p99_ms: us(ack, 99),
        alarms,
        alarms_missing: missing,
        alarm_p50_ms: us(alarm, 50),
        alarm_p99_ms: us(alarm, 99),
        alarm_max_ms: round(alarm.maxValue / 1000, 1),
        gateway_queue_max: queueMax,
        events_lag_max: eventsLagMax,
        events_lag_end: eventsLagEnd,
        alerts_lag_max: alertsLagMax,
        rate_limited: gatewayAfter.rateLimited - gatewayBefore.rateLimited,
        cpu,
        rss_mb: rss,
      };
      steps.push(step);
      log(
        `rate ${rate}/s (load ${step.load_avg_1m}): offered ${step.offered_per_s}/s, sustained ${step.sustained_per_s}/s ` +
          `(${round(step.sustained_per_s / ceiling.jsPerS, 2)} of JetStream, ${round(step.sustained_per_s / ceiling.mqttPerS, 2)} of Mosquitto), ` +
          `held back ${heldBack}, ack p50 ${step.ack_p50_ms} ms p99 ${step.ack_p99_ms} ms`,
      );
      log(
        `  alarm press → case on the console (${alarms} presses${missing ? `, ${missing} missing` : ''}): ` +
          `p50 ${step.alarm_p50_ms} ms, p99 ${step.alarm_p99_ms} ms, max ${step.alarm_max_ms} ms`,
      );
      if (slow.length > 0) {
        // Press → alert stored is the generator, MQTT, gateway-mqtt and triage; alert → console is
        // the helpline (intake, commit, CASES) and the SSE stream.
        const split = slow.filter((p) => Number.isFinite(p.toAlert) && Number.isFinite(p.toConsole));
        const worst = split.sort((a, b) => b.toAlert + b.toConsole - (a.toAlert + a.toConsole)).slice(0, 3);
        const upstream = split.filter((p) => p.toAlert >= p.toConsole).length;
        // Of those, stored late (before the device's ack) or evaluated late (ack → alert: triage).
        const beforeStore = split.filter(
          (p) => p.toAlert >= p.toConsole && p.toAck >= p.toAlert - p.toAck,
        ).length;
        log(
          `  presses over ${KNEE_P99_MS} ms: ${slow.length} (${upstream} mostly before the alert was stored: ` +
            `${beforeStore} of them mostly before the press was stored, ${upstream - beforeStore} mostly in triage; ` +
            `${split.length - upstream} mostly after, ${slow.length - split.length} with no alert seen on ALERTS); slowest: ${worst
              .map(
                (p) =>
                  `${p.residentId} press → stored ${round(p.toAck, 1)} ms, → alert ${round(p.toAlert, 1)} ms, alert → console ${round(p.toConsole, 1)} ms`,
              )
              .join('; ')}`,
        );
      }
      log(
        `  backlog: gateway queue max ${queueMax}, EVENTS consumer lag max ${eventsLagMax} (end ${eventsLagEnd}), ALERTS lag max ${alertsLagMax}; rate-limited ${step.rate_limited}`,
      );
      log(
        `  CPU (cores): ${Object.entries(cpu)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; RSS MB: ${Object.entries(rss)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
      // Let the backlog drain so the next step starts from an empty pipeline.
      const drainUntil = Date.now() + 60_000;
      while (Date.now() < drainUntil) {
        const [g, e] = await Promise.all([gatewayMetrics(gatewayUrl), lag(n.streams.events)]);
        if (g.queued === 0 && e === 0 && activePool.inFlight === 0) break;
        await sleep(500);
      }
    }

    // The knee is the last rate before the first that fails, not the highest that passes: a rate
    // that fails below one that passes (the backlog of one step carried into the next, a slow VM
    // moment) is where the pipeline stopped holding, and a later pass does not undo it.
    const ascending = [...steps].sort((a, b) => a.rate - b.rate);
    const firstFailed = ascending.findIndex((s) => !(s.alarm_p99_ms < KNEE_P99_MS && s.alarms_missing === 0));
    const knee = firstFailed === -1 ? ascending.at(-1) : ascending[firstFailed - 1];
    const beyond = firstFailed === -1 ? undefined : ascending[firstFailed];
    const bottleneck = beyond
      ? nameBottleneck(beyond)
      : 'none reached: every rate kept alarm p99 under the limit';
    if (steps.length > 1) {
      log(
        `knee (alarm p99 < ${KNEE_P99_MS} ms): ${knee ? `${knee.rate}/s offered, ${knee.sustained_per_s}/s sustained (${round(knee.sustained_per_s / ceiling.jsPerS, 2)} of the JetStream ceiling)` : 'below the lowest rate'}`,
      );
      log(`bottleneck above it: ${bottleneck}`);
    }
    const flat: Record<string, number | string> = {
      homes: homes.length,
      seconds_per_rate: options.seconds,
      ceiling_jetstream_per_s: round(ceiling.jsPerS, 0),
      ceiling_mosquitto_qos1_per_s: round(ceiling.mqttPerS, 0),
      knee_rate: knee?.rate ?? 0,
      knee_sustained_per_s: knee?.sustained_per_s ?? 0,
      bottleneck,
    };
    for (const s of steps) {
      for (const [key, value] of Object.entries(s)) {
        if (key === 'rate') continue;
        if (typeof value === 'number') flat[`r${s.rate}_${key}`] = value;
        else
          for (const [k, v] of Object.entries(value as Record<string, number>))
            flat[`r${s.rate}_${key}_${k}`] = v;
      }
    }
    return flat;
  } finally {
    restoreNice?.();
    controller.abort();
    await pool?.close().catch(() => undefined);
    await nc.close();
    await services.stop().catch(() => undefined);
    mosquitto.stop();
  }
}

/**
 * Sets a process's nice value, every thread of it (Linux keeps one per thread, and a Go server's
 * threads exist before it is reniced); returns what puts the one it had back.
 */
function renice(pid: number, nice: number): () => void {
  const was = Number(spawnSync('ps', ['-o', 'ni=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());
  const set = (value: number) => {
    const threads = readdirSync(`/proc/${pid}/task`);
    const done = spawnSync('renice', ['-n', String(value), '-p', ...threads], { encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`renice ${value} ${pid}: ${done.stderr.trim()}`);
  };
  set(nice);
  return () => set(Number.isFinite(was) ? was : 0);
}

/**
 * Where the backlog sat at the first rate past the knee, and which process was busiest: a queue in
 * the gateway is the gateway (or what it waits on), a lag on EVENTS is triage, on ALERTS the
 * helpline; a process near a whole core is CPU-bound. On two cores shared by every process, the sum
 * of their CPU is also reported, as the machine itself runs out first.
 */
function nameBottleneck(step: StepFigures): string {
  const { machine = 0, ...ours } = step.cpu;
  const busiest = Object.entries(ours).sort((a, b) => b[1] - a[1])[0] ?? ['?', 0];
  const total = round(
    Object.values(ours).reduce((a, b) => a + b, 0),
    2,
  );
  const cores = cpus().length;
  const where =
    step.gateway_queue_max > 1000
      ? 'gateway-mqtt admission queue'
      : step.events_lag_max > 1000
        ? 'triage (EVENTS consumer lag)'
        : step.alerts_lag_max > 100
          ? 'helpline (ALERTS consumer lag)'
          : 'no queue grew past its bound';
  const cpu =
    machine >= 0.9 * cores
      ? `the machine's CPU: ${machine} of ${cores} cores busy, ${total} of them this run's processes and the servers (the rest other work)`
      : `busiest process ${busiest[0]} at ${busiest[1]} cores; this run's processes and the servers ${total} of ${cores} cores`;
  return `at ${step.rate}/s: backlog in ${where}; ${cpu}`;
}

export type { ServiceName };

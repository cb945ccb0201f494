import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventIdOfKey, names, partitionOf } from '@telecare/contracts';
import { servers } from '@telecare/testkit';
import { type Home, mixEvent, pickMix, registerHomes } from './lib/load.ts';
import { machineLine, ServiceProcesses, sampleProcess } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: {
    events: { type: 'string' },
    homes: { type: 'string' },
  },
  strict: true,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Publishes in flight at once, waiting for each PubAck (as a gateway's stores do). */
const WINDOW = 256;

/** Each device of a bench home: its kind and where it is (as `registerHomes` maps it). */
const DEVICES: Record<string, { kind: string; location?: string }> = {
  hub: { kind: 'home-unit', location: 'hall' },
  pir: { kind: 'pir', location: 'lounge' },
  door: { kind: 'door-contact', location: 'front door' },
  bed: { kind: 'bed-sensor', location: 'bedroom' },
  chair: { kind: 'chair-sensor', location: 'lounge' },
  temp: { kind: 'temperature-sensor', location: 'lounge' },
};

/** The metric's value in a Prometheus text page (summed over its labels, or those with `label`). */
function metric(text: string, name: string, label = ''): number {
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm')))
    if ((match[1] ?? '').includes(label)) sum += Number(match[2]);
  return sum;
}

/**
 * Triage alone, on the real servers: `--events` stored device events (default 30,000) from
 * `--homes` homes (1,000) in the pipeline's background mix, published to EVENTS as the gateways
 * store them while triage (its own process, as deployed) reads them. Reports triage's CPU per
 * event and the rules core's share of it (from its /metrics), the timer records it wrote per event
 * (each one JetStream publish with ack), and how fast it drained the stream.
 * Baseline in the same run: a raw JetStream pull consumer in this process that decodes and acks
 * the same events, and the raw publish rate.
 */
const benchmark: Benchmark = {
  description:
    'triage alone: CPU per stored event and drain rate, against a raw JetStream consumer that decodes and acks the same events',
  async run(log) {
    const eventCount = Number(args.events ?? 30_000);
    const homeCount = Number(args.homes ?? 1_000);
    log(machineLine());
    const logDir = mkdtempSync(path.join(tmpdir(), 'telecare-bench-'));
    const services = new ServiceProcesses('benchtri', { LOG_LEVEL: 'warn' }, logDir);
    const n = names(services.namespace);
    const partitions = Number(services.env.TELECARE_PARTITIONS ?? 8);
    const nc = await connect({ servers: servers.natsUrl });
    try {
      const homes = await registerHomes(nc, services.namespace, 'BT', homeCount);
      await services.start(['triage']);
      const triage = services.all[0];
      if (!triage?.child.pid) throw new Error('triage did not start');
      log(`triage in its own process; logs in ${logDir}`);

      // The stream of events, in time order per home, all in the recent past.
      const toggled = new Set<string>();
      const t0 = Date.now() - eventCount * 10;
      const stored = Array.from({ length: eventCount }, (_, i) => {
        const home = homes[i % homes.length] as Home;
        const { device } = pickMix(((i * 7919) % 10_007) / 10_007);
        const serial = home[device];
        const { type, data = {} } = mixEvent(device, serial, toggled);
        const at = new Date(t0 + i * 10).toISOString();
        const partition = partitionOf(home.residentId, partitions);
        const id = eventIdOfKey(serial, `d${i}`);
        const body = JSON.stringify({
          specversion: '1.0',
          id,
          source: '/bench',
          type,
          subject: serial,
          time: at,
          datacontenttype: 'application/json',
          residentid: home.residentId,
          devicekind: DEVICES[device]?.kind,
          location: DEVICES[device]?.location,
          deviceeventid: `d${i}`,
          partition,
          receivedat: at,
          testmode: false,
          postcodedistrict: `GL${1 + (i % 9)}`,
          data,
        });
        return { subject: n.subjects.event(partition, type), body, id };
      });

      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      const publishAll = async (): Promise<number> => {
        let next = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: WINDOW }, async () => {
            while (next < stored.length) {
              const event = stored[next++] as (typeof stored)[number];
              await js.publish(event.subject, event.body, { msgID: event.id });
            }
          }),
        );
        return stored.length / ((performance.now() - started) / 1000);
      };
      const lag = async (): Promise<number> => {
        let left = 0;
        for await (const info of jsm.consumers.list(n.streams.events))
          if (info.name.startsWith('triage')) left += info.num_pending + info.num_ack_pending;
        return left;
      };
      const rulesFigures = async () => {
        const text = await fetch(`${triage.url}/metrics`).then((r) => r.text());
        return {
          rulesS: metric(text, 'triage_rules_seconds_sum'),
          evaluated: metric(text, 'triage_rules_seconds_count'),
          deadLetters: metric(text, 'triage_deadletters_total'),
          puts: metric(text, 'triage_timer_writes_total', 'op="put"'),
          purges: metric(text, 'triage_timer_writes_total', 'op="purge"'),
        };
      };

      // Triage: publish while it reads, then wait until every partition lane has acked all.
      await sleep(2_000);
      const idleBefore = sampleProcess(triage.child.pid)?.cpuS ?? 0;
      await sleep(3_000);
      const idleCores = ((sampleProcess(triage.child.pid)?.cpuS ?? 0) - idleBefore) / 3;
      const rulesBefore = await rulesFigures();
      const cpuBefore = sampleProcess(triage.child.pid)?.cpuS ?? 0;
      const started = performance.now();
      const publishPerS = await publishAll();
      let shown = -1;
      for (;;) {
        const left = await lag();
        if (left === 0) break;
        if (process.stdout.isTTY && Math.floor(left / 5_000) !== shown) {
          shown = Math.floor(left / 5_000);
          process.stderr.write(`\r  triage: ${left} events left   `);
        }
        await sleep(100);
      }
      const seconds = (performance.now() - started) / 1000;
      const cpuS = (sampleProcess(triage.child.pid)?.cpuS ?? 0) - cpuBefore - idleCores * seconds;
      const rulesAfter = await rulesFigures();
      const rss = sampleProcess(triage.child.pid)?.rssMb ?? Number.NaN;
      if (process.stdout.isTTY) process.stderr.write('\r\u001b[K');
      const evaluated = rulesAfter.evaluated - rulesBefore.evaluated;
      const deadLetters = rulesAfter.deadLetters - rulesBefore.deadLetters;
      if (evaluated < eventCount || deadLetters > 0)
        throw new Error(
          `triage evaluated ${evaluated} of ${eventCount} events (${deadLetters} dead-lettered): see ${logDir}`,
        );
      const triagePerS = eventCount / seconds;
      const triageUs = (cpuS / eventCount) * 1e6;
      const rulesUs = ((rulesAfter.rulesS - rulesBefore.rulesS) / Math.max(1, evaluated)) * 1e6;
      const puts = (rulesAfter.puts - rulesBefore.puts) / eventCount;
      const purges = (rulesAfter.purges - rulesBefore.purges) / eventCount;

      // Baseline: the same events read by a raw pull consumer here, decoded and acked.
      const raw = `${services.namespace}-raw`;
      await jsm.consumers.add(n.streams.events, { durable_name: raw, ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get(n.streams.events, raw);
      const rawCpu = process.cpuUsage();
      const rawStarted = performance.now();
      let read = 0;
      while (read < eventCount) {
        const batch = await consumer.fetch({ max_messages: WINDOW, expires: 2_000 });
        for await (const message of batch) {
          JSON.parse(message.string());
          message.ack();
          read++;
        }
      }
      await nc.flush();
      const rawSeconds = (performance.now() - rawStarted) / 1000;
      const rawUsage = process.cpuUsage(rawCpu);
      const rawUs = (rawUsage.user + rawUsage.system) / eventCount;
      const rawPerS = eventCount / rawSeconds;

      log(`${eventCount} events from ${homeCount} homes (${partitions} partitions)`);
      log(
        `raw JetStream: publish ${Math.round(publishPerS)}/s (${WINDOW} in flight); a pull consumer that decodes and acks: ${Math.round(rawPerS)}/s, ${round(rawUs, 1)} µs CPU an event`,
      );
      log(
        `triage: drained ${Math.round(triagePerS)}/s (${round(triagePerS / rawPerS, 2)} of the raw consumer), ${round(triageUs, 0)} µs CPU an event (${round(triageUs / rawUs, 1)}× the raw consumer), of which the rules core ${round(rulesUs, 1)} µs; timer records written ${round(puts + purges, 3)} an event (${round(puts, 3)} puts, ${round(purges, 3)} purges); idle ${round(idleCores, 3)} cores; RSS ${Math.round(rss)} MB`,
      );
      return {
        events: eventCount,
        homes: homeCount,
        partitions,
        raw_publish_per_s: Math.round(publishPerS),
        raw_consumer_per_s: Math.round(rawPerS),
        raw_consumer_cpu_us: round(rawUs, 1),
        triage_per_s: Math.round(triagePerS),
        triage_cpu_us: round(triageUs, 0),
        triage_rules_us: round(rulesUs, 1),
        triage_timer_puts_per_event: round(puts, 3),
        triage_timer_purges_per_event: round(purges, 3),
        triage_idle_cores: round(idleCores, 3),
        triage_rss_mb: Math.round(rss),
        triage_cpu_ratio: round(triageUs / rawUs, 1),
      };
    } finally {
      await nc.close();
      await services.stop();
    }
  },
};

export default benchmark;

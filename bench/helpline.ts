import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Alert, alertIdFor, names, type Priority } from '@telecare/contracts';
import { loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const STEADY = Number(process.env.BENCH_ALERTS ?? 600);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const BURST = Number(process.env.BENCH_BURST ?? 1000);
const OPEN_CASES = Number(process.env.BENCH_OPEN_CASES ?? 10_000);

/**
 * Alerts from ALERTS to a committed case seen on the helpline's SSE stream: at a steady rate and
 * as a burst (throughput), first on an empty queue, then with 10,000 open cases. The baseline is a
 * raw JetStream publish (waiting for the PubAck) from the same process in the same run.
 */
const benchmark: Benchmark = {
  description:
    'ALERTS → committed case on the SSE stream (steady and burst; empty queue and 10,000 open cases)',
  async run(log) {
    const ns = uniqueNamespace('benchhl');
    const n = names(ns);
    const env = serviceEnv(ns, { HELPLINE_PORT: '0', LOG_LEVEL: 'silent' });
    const helpline = await startHelpline(loadHelplineConfig(env));
    const nc = await connect({ servers: servers.natsUrl });
    const js = jetstream(nc);
    const db = new pg.Client({ connectionString: servers.databaseUrl });
    await db.connect();
    const seen = new Map<string, number>();
    const controller = new AbortController();
    try {
      // Baseline: raw JetStream publish of an alert-sized payload to a stream of its own.
      const jsm = await jetstreamManager(nc);
      const raw = `${n.streams.alerts}_RAW`;
      await jsm.streams.add({ name: raw, subjects: [`${ns}.raw.>`] });
      const rawTimes: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = performance.now();
        await js.publish(`${ns}.raw.x`, JSON.stringify(makeAlert(`res_raw_${i}`, 1)));
        rawTimes.push(performance.now() - t0);
      }

      // The SSE stream, read as the console reads it; each new resident's first case frame is its arrival.
      const response = await fetch(`${helpline.url}/api/stream`, {
        headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
        signal: controller.signal,
      });
      void (async () => {
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (block.includes('event: case') && data) {
              const residentId = /"residentId":"([^"]+)"/.exec(data)?.[1];
              if (residentId && !seen.has(residentId)) seen.set(residentId, performance.now());
            }
            end = buffer.indexOf('\n\n');
          }
        }
      })().catch(() => undefined);

      const phase = async (label: string, count: number, rate: number | undefined) => {
        const sent = new Map<string, number>();
        const start = performance.now();
        const interval = rate ? 1000 / rate : 0;
        const pubs: Promise<unknown>[] = [];
        for (let i = 0; i < count; i++) {
          if (rate) {
            const due = start + i * interval;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          const residentId = `res_${label}_${i}`;
          const alert = makeAlert(residentId, (i % 10 === 0 ? 1 : 2) as Priority);
          sent.set(residentId, performance.now());
          pubs.push(
            js.publish(n.subjects.alert(alert.priority, residentId), JSON.stringify(alert), {
              msgID: alert.id,
            }),
          );
          if (!rate && pubs.length >= 200) await Promise.all(pubs.splice(0));
        }
        await Promise.all(pubs);
        const deadline = Date.now() + 120_000;
        while ([...sent.keys()].some((r) => !seen.has(r)) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        const delays = [...sent].map(([r, t]) => (seen.get(r) ?? Number.NaN) - t).filter(Number.isFinite);
        const last = Math.max(...[...sent.keys()].map((r) => seen.get(r) ?? 0));
        const perSecond = count / ((last - start) / 1000);
        log(
          `${label.padEnd(22)} ${String(count).padStart(5)} alerts${rate ? ` at ${rate}/s` : ' as fast as possible'}: ` +
            `${round(perSecond, 0)} alerts/s, delay p50 ${round(percentile(delays, 50), 1)} ms, p99 ${round(percentile(delays, 99), 1)} ms` +
            (delays.length < count ? ` (${count - delays.length} not seen)` : ''),
        );
        return {
          perSecond: round(perSecond, 0),
          p50: round(percentile(delays, 50), 1),
          p99: round(percentile(delays, 99), 1),
        };
      };

      log(
        `raw JetStream publish: p50 ${round(percentile(rawTimes, 50), 2)} ms, p99 ${round(percentile(rawTimes, 99), 2)} ms`,
      );
      await phase('warmup', 50, 50);
      const steadyEmpty = await phase('steady-empty', STEADY, RATE);
      const burstEmpty = await phase('burst-empty', BURST, undefined);

      // 10,000 open cases, written straight to the helpline's tables (as ingestion would have).
      const schema = n.schema('helpline');
      const t0 = performance.now();
      await db.query(
        `with s as (select g, 'case_seed' || lpad(g::text, 12, '0') as id, 'res_seed_' || g as resident,
             now() - (g || ' seconds')::interval as raised from generate_series(1, $1) g),
           c as (insert into "${schema}".cases (id, resident_id, priority, type, state, raised_at, last_alert_at, created_at, updated_at)
             select id, resident, 3 + (g % 2), 'mains.lost', case when g % 3 = 0 then 'accepted' else 'queued' end, raised, raised, now(), now() from s returning id)
         insert into "${schema}".case_alerts (alert_id, case_id, alert, received_at)
         select 'alt_seed' || g, id, jsonb_build_object('id', 'alt_seed' || g, 'residentId', resident, 'priority', 3 + (g % 2),
           'type', 'mains.lost', 'raisedAt', to_char(raised at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'rule', jsonb_build_object('id', 'rule.mains.lost', 'version', 1), 'evidence', jsonb_build_array('evt_seed' || g),
           'thresholds', '{}'::jsonb, 'reason', 'mains lost', 'late', false, 'testMode', false), now() from s`,
        [OPEN_CASES],
      );
      const open = await db.query(
        `select count(*) from "${schema}".cases where state in ('queued','offered','accepted','on_hold')`,
      );
      log(
        `seeded ${OPEN_CASES} open cases in ${round((performance.now() - t0) / 1000, 1)} s (open now: ${open.rows[0]?.count})`,
      );
      const steadyFull = await phase('steady-10k-open', STEADY, RATE);
      const burstFull = await phase('burst-10k-open', BURST, undefined);

      return {
        rawPublishP50Ms: round(percentile(rawTimes, 50), 2),
        rawPublishP99Ms: round(percentile(rawTimes, 99), 2),
        steadyRate: RATE,
        steadyEmptyP50Ms: steadyEmpty.p50,
        steadyEmptyP99Ms: steadyEmpty.p99,
        burstEmptyAlertsPerS: burstEmpty.perSecond,
        burstEmptyP50Ms: burstEmpty.p50,
        burstEmptyP99Ms: burstEmpty.p99,
        steady10kP50Ms: steadyFull.p50,
        steady10kP99Ms: steadyFull.p99,
        burst10kAlertsPerS: burstFull.perSecond,
        burst10kP50Ms: burstFull.p50,
        burst10kP99Ms: burstFull.p99,
      };
    } finally {
      controller.abort();
      await helpline.close();
      await nc.close();
      await db.end();
      await cleanupNamespace(ns);
    }
  },
};

let counter = 0;
function makeAlert(residentId: string, priority: Priority): Alert {
  counter += 1;
  const type = priority === 1 ? 'pendant.pressed' : 'flood.detected';
  return {
    id: alertIdFor(`rule.${type}`, residentId, `evt_bench_${counter}`),
    residentId,
    priority,
    type,
    raisedAt: new Date().toISOString(),
    rule: { id: `rule.${type}`, version: 1 },
    evidence: [`evt_bench_${counter}`],
    thresholds: {},
    reason: `${type} at home`,
    late: false,
    testMode: false,
  };
}

export default benchmark;

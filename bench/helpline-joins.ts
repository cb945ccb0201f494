import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type Alert, alertIdFor, names } from '@telecare/contracts';
import { loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const SIZES = (process.env.BENCH_CASE_SIZES ?? '10,1000,5000').split(',').map(Number);
const JOINS = Number(process.env.BENCH_JOINS ?? 200);

/**
 * Alerts joining one resident's open case (a stuck sensor, or a device whose credentials an
 * attacker holds, feeding the case alert after alert) through ALERTS to their committed join: the
 * rate at which the helpline takes them when the case already holds 10, 1,000 and 5,000 alerts.
 * The baseline is the smallest case, in the same run: a join should cost the same whatever the case holds.
 */
const benchmark: Benchmark = {
  description: `${JOINS} alerts joining one open case that holds ${SIZES.join(', ')} alerts already (joins/s)`,
  async run(log) {
    const ns = uniqueNamespace('benchjoins');
    const n = names(ns);
    const schema = n.schema('helpline');
    const env = serviceEnv(ns, { HELPLINE_PORT: '0', LOG_LEVEL: 'silent', CASE_JOIN_WINDOW_S: '86400' });
    const helpline = await startHelpline(loadHelplineConfig(env));
    const nc = await connect({ servers: servers.natsUrl });
    const js = jetstream(nc);
    const db = new pg.Client({ connectionString: servers.databaseUrl });
    await db.connect();
    const count = async (caseId: string) =>
      Number(
        (await db.query(`select count(*) from "${schema}".case_alerts where case_id = $1`, [caseId])).rows[0]
          ?.count,
      );
    const publish = (a: Alert) =>
      js.publish(n.subjects.alert(3, a.residentId), JSON.stringify(a), { msgID: a.id });
    const figures: Record<string, number> = {};
    try {
      for (const size of SIZES) {
        const residentId = `res_joins_${size}`;
        await publish(makeAlert(residentId));
        let caseId: string | undefined;
        while (!caseId) {
          const { rows } = await db.query(`select id from "${schema}".cases where resident_id = $1`, [
            residentId,
          ]);
          caseId = rows[0]?.id;
          if (!caseId) await new Promise((r) => setTimeout(r, 20));
        }
        // The rest of the case's alerts, written straight to the helpline's table as ingestion would have.
        const t0 = performance.now();
        await db.query(
          `insert into "${schema}".case_alerts (alert_id, case_id, alert, received_at)
           select 'alt_' || md5($2 || ':' || g), $1, jsonb_build_object('id', 'alt_' || md5($2 || ':' || g),
             'residentId', $2, 'priority', 3, 'type', 'mains.lost',
             'raisedAt', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'rule', jsonb_build_object('id', 'rule.mains.lost', 'version', 1),
             'evidence', jsonb_build_array('evt_seed_' || $2 || '_' || g), 'thresholds', '{}'::jsonb,
             'reason', 'mains lost', 'late', false, 'testMode', false, 'deviceSerial', 'HUB-0001'),
             now() + (g || ' microseconds')::interval
           from generate_series(1, $3) g`,
          [caseId, residentId, size - 1],
        );
        const seeded = round((performance.now() - t0) / 1000, 1);
        const start = performance.now();
        for (let i = 0; i < JOINS; i++) await publish(makeAlert(residentId));
        const deadline = Date.now() + 600_000;
        while ((await count(caseId)) < size + JOINS && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        const seconds = (performance.now() - start) / 1000;
        const done = (await count(caseId)) - size;
        const perSecond = round(done / seconds, 1);
        figures[`joinsPerSAt${size}`] = perSecond;
        log(
          `case of ${String(size).padStart(5)} alerts (seeded in ${seeded} s): ${done} joins in ${round(seconds, 2)} s, ` +
            `${perSecond} joins/s, ${round((seconds * 1000) / done, 2)} ms a join`,
        );
      }
      const base = figures[`joinsPerSAt${SIZES[0]}`] ?? Number.NaN;
      for (const size of SIZES.slice(1))
        log(
          `joins/s at ${size} alerts / at ${SIZES[0]}: ${round((figures[`joinsPerSAt${size}`] ?? 0) / base, 2)}`,
        );
      return figures;
    } finally {
      await helpline.close();
      await nc.close();
      await db.end();
      await cleanupNamespace(ns);
    }
  },
};

let counter = 0;
function makeAlert(residentId: string): Alert {
  counter += 1;
  const evidence = [`evt_joins_${residentId}_${counter}`];
  return {
    id: alertIdFor('rule.mains.lost', residentId, evidence[0] ?? ''),
    residentId,
    priority: 3,
    type: 'mains.lost',
    raisedAt: new Date().toISOString(),
    rule: { id: 'rule.mains.lost', version: 1 },
    evidence,
    thresholds: {},
    reason: 'mains lost',
    late: false,
    testMode: false,
    deviceSerial: 'HUB-0001',
  };
}

export default benchmark;

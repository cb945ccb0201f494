import { randomBytes } from 'node:crypto';
import {
  type Alert,
  alertIdFor,
  type CaseEvent,
  type CaseFact,
  eventIdOfKey,
  names,
  type Priority,
  type TelecareEvent,
} from '@telecare/contracts';
import {
  type Clock,
  connectNats,
  createLogger,
  ensureStreams,
  jetstream,
  jetstreamManager,
} from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { loadReportsConfig, type ReportsHandle, startReports } from '../src/index.ts';

const hex = () => randomBytes(16).toString('hex');

export function telecareEvent(e: {
  serial: string;
  residentId: string;
  kind: string;
  type: TelecareEvent['type'];
  at: string;
  district?: string;
  testMode?: boolean;
}): TelecareEvent {
  return {
    specversion: '1.0',
    id: eventIdOfKey(e.serial, hex()),
    source: '/gateway-mqtt',
    type: e.type,
    subject: e.serial,
    time: e.at,
    datacontenttype: 'application/json',
    residentid: e.residentId,
    devicekind: e.kind,
    deviceeventid: hex().slice(0, 12),
    partition: 0,
    receivedat: e.at,
    testmode: e.testMode ?? false,
    ...(e.district ? { postcodedistrict: e.district } : {}),
    data: {},
  };
}

export function alert(a: {
  residentId: string;
  priority: Priority;
  type: Alert['type'];
  raisedAt: string;
}): Alert {
  const evidence = `evt_${hex()}`;
  return {
    id: alertIdFor('test', a.residentId, evidence),
    residentId: a.residentId,
    priority: a.priority,
    type: a.type,
    raisedAt: a.raisedAt,
    rule: { id: 'test', version: 1 },
    evidence: [evidence],
    thresholds: {},
    reason: 'test',
    late: false,
    testMode: false,
  };
}

let step = 0;
export function caseEvent(
  caseId: string,
  kind: CaseEvent['kind'],
  at: string,
  data: Record<string, unknown> = {},
): CaseEvent {
  step += 1;
  return { id: `cev_${hex()}${step}`, caseId, at, actor: 'usr_test', kind, data };
}

export const fact = (caseId: string, f: CaseFact, recordedAt = f.at): CaseEvent =>
  caseEvent(caseId, 'fact-recorded', recordedAt, f);

/** A reports service in a namespace of its own, with a publisher onto its streams. */
export async function reportsHarness(label: string, extraEnv: Record<string, string> = {}) {
  const ns = uniqueNamespace(label);
  const n = names(ns);
  const env = serviceEnv(ns, { REPORTS_PORT: '0', ...extraEnv });
  const logger = createLogger(`${label}-test`, process.env.TEST_LOG_LEVEL ?? 'silent');
  const nc = await connectNats({ url: servers.natsUrl, name: `${label}-test`, logger });
  await ensureStreams(await jetstreamManager(nc), n, ['events', 'alerts', 'cases']);
  const js = jetstream(nc);
  let reports: ReportsHandle | undefined;
  return {
    ns,
    names: n,
    env,
    adminToken: env.TELECARE_ADMIN_TOKEN as string,
    get reports(): ReportsHandle {
      if (!reports) throw new Error('reports not started');
      return reports;
    },
    async start(env2: Record<string, string> = {}, clock?: Clock) {
      reports = await startReports(loadReportsConfig({ ...env, ...env2 }), {
        logger,
        ...(clock ? { clock } : {}),
      });
      return reports;
    },
    async stop() {
      await reports?.close();
      reports = undefined;
    },
    async publishEvent(e: TelecareEvent) {
      await js.publish(n.subjects.event(e.partition, e.type), JSON.stringify(e), { msgID: e.id });
    },
    async publishAlert(a: Alert) {
      await js.publish(n.subjects.alert(a.priority, a.residentId), JSON.stringify(a), { msgID: a.id });
    },
    async publishCase(c: CaseEvent) {
      await js.publish(n.subjects.caseEvent(c.caseId), JSON.stringify(c), { msgID: c.id });
    },
    async publishRaw(subject: string, body: string) {
      await js.publish(subject, body);
    },
    async api(path: string, init: RequestInit & { token?: string } = {}) {
      const { token = env.TELECARE_ADMIN_TOKEN, ...rest } = init;
      return fetch(`${this.reports.url}${path}`, {
        ...rest,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(rest.body ? { 'content-type': 'application/json' } : {}),
        },
      });
    },
    async close() {
      await reports?.close();
      await nc.drain();
      await cleanupNamespace(ns);
    },
  };
}
export type ReportsHarness = Awaited<ReturnType<typeof reportsHarness>>;

/**
 * A seeded November in two districts. GL1: 20 residents with a pendant, 10 of them a fall
 * detector too; 12 pendant calls, all answered in 30 s but two (answered in 90 s), responders on
 * site in 40 min for 6 of them; 6 falls, 5 found on the floor (20, 30, 40, 70, 80 min), 2 with an
 * ambulance. GL2: 6 residents, 3 pendant calls answered in 20 s. Hand-checked figures below.
 */
export async function seedNovember(h: ReportsHarness): Promise<void> {
  const day = (d: number, time = '08:00:00') => `2026-11-${String(d).padStart(2, '0')}T${time}.000Z`;
  for (let i = 0; i < 26; i++) {
    const district = i < 20 ? 'GL1' : 'GL2';
    const residentId = `res_summary${i}`;
    await h.publishEvent(
      telecareEvent({
        serial: `PEN-${i}`,
        residentId,
        kind: 'pendant',
        type: 'heartbeat',
        at: day(1),
        district,
      }),
    );
    if (i < 10)
      await h.publishEvent(
        telecareEvent({
          serial: `FALL-${i}`,
          residentId,
          kind: 'fall-detector',
          type: 'heartbeat',
          at: day(2),
          district,
        }),
      );
  }
  for (let i = 0; i < 6; i++)
    await h.publishEvent(
      telecareEvent({
        serial: `HUB-${i}`,
        residentId: `res_summary${i}`,
        kind: 'home-unit',
        type: 'mains.lost',
        at: day(3),
        district: 'GL1',
      }),
    );

  const call = async (
    n: number,
    residentId: string,
    type: 'pendant.pressed' | 'fall.detected',
    answerS: number,
  ) => {
    const raised = day(5 + (n % 20), `10:${String(n % 60).padStart(2, '0')}:00`);
    const a = alert({ residentId, priority: 1, type, raisedAt: raised });
    await h.publishAlert(a);
    const caseId = `case_summary${n}`;
    const t = (s: number) => new Date(Date.parse(raised) + s * 1000).toISOString();
    await h.publishCase(caseEvent(caseId, 'opened', t(1), { alertId: a.id, priority: 1, type }));
    await h.publishCase(caseEvent(caseId, 'accepted', t(answerS)));
    return { caseId, t };
  };
  for (let n = 0; n < 12; n++) {
    const { caseId, t } = await call(n, `res_summary${n}`, 'pendant.pressed', n < 10 ? 30 : 90);
    if (n < 6) {
      await h.publishCase(caseEvent(caseId, 'responder-called', t(120)));
      await h.publishCase(fact(caseId, { fact: 'responder-arrived', at: t(120 + 40 * 60) }));
    }
    await h.publishCase(
      caseEvent(caseId, 'resolved', t(3600), { outcome: n < 6 ? 'responder-visit' : 'reassurance-given' }),
    );
  }
  const floor = [20, 30, 40, 70, 80];
  for (let n = 12; n < 18; n++) {
    const { caseId, t } = await call(n, `res_summary${n - 12}`, 'fall.detected', 30);
    const minutes = floor[n - 12];
    if (minutes !== undefined)
      await h.publishCase(
        fact(caseId, { fact: 'found-on-floor', at: t(300), onFloorMinutes: minutes, source: 'resident' }),
      );
    if (n < 14) await h.publishCase(fact(caseId, { fact: 'ambulance-requested', at: t(400) }));
    await h.publishCase(
      caseEvent(caseId, 'resolved', t(3600), { outcome: n < 14 ? 'ambulance' : 'responder-visit' }),
    );
  }
  for (let n = 18; n < 21; n++) {
    const { caseId, t } = await call(n, `res_summary${n + 2}`, 'pendant.pressed', 20);
    await h.publishCase(caseEvent(caseId, 'resolved', t(600), { outcome: 'false-alarm' }));
  }
}

/** Waits until the seeded November is in the read model (21 resolved cases). */
export async function seededNovember(h: ReportsHarness): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await h.reports.store.pool.query(
        `select count(*)::int as n from ${h.reports.store.table('rp_cases')} where resolved_at is not null`,
      );
      return rows[0]?.n === 21;
    },
    { what: 'seeded cases applied', timeoutMs: 20_000 },
  );
}

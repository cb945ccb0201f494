import { randomBytes } from 'node:crypto';
import {
  type Alert,
  alertIdFor,
  type CaseEvent,
  type CaseFact,
  eventIdFor,
  names,
  type Priority,
  type TelecareEvent,
} from '@telecare/contracts';
import { connectNats, createLogger, ensureStreams, jetstream, jetstreamManager } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
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
    id: eventIdFor(e.serial, hex()),
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
    async start(env2: Record<string, string> = {}) {
      reports = await startReports(loadReportsConfig({ ...env, ...env2 }), { logger });
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

import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { parseRuleSet } from '@telecare/rules';
import { cleanupNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { areaConsumerName, startTriage, type TriageHandle } from '../src/index.ts';
import {
  districtReport,
  drained,
  heldDecided,
  publishEvent,
  readAlerts,
  T0,
  triageTestbed,
} from './support.ts';

const PARTITIONS = 2;
const logger = createLogger('triage-area-lanes-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const { ns, n, config, connect } = triageTestbed('triage-area-lanes', PARTITIONS, logger, {
  TRIAGE_LEASE_TTL_S: '3',
});
const clock = new ManualClock(T0 + 60_000);

const TRIGGERS = [
  { id: 'trigger.line-fault', version: 1, kind: 'trigger', on: ['line.fault'], reason: '{what}' },
  { id: 'trigger.mains', version: 1, kind: 'trigger', on: ['mains.lost'], reason: '{what}' },
];
const area = (id: string, type: string, on: string) => ({
  id,
  version: 1,
  kind: 'area',
  type,
  priority: 3,
  on: [on],
  minResidents: 10,
  withinS: 300,
  reason: '{what}: {detail}',
});
const LINE_AREA = area('area.line-fault', 'line.fault', 'line.fault');
const MAINS_AREA = area('area.mains-lost', 'area.mains-lost', 'mains.lost');
const ruleSet = (version: number, areaRules: readonly object[]) => ({
  version,
  rules: [...TRIGGERS, ...areaRules],
});

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const triages: TriageHandle[] = [];

interface Ready {
  partitions: number[];
  area: boolean;
  areaLanes: string[];
}
const ready = async (triage: TriageHandle): Promise<Ready> =>
  (await (await fetch(`${triage.url}/readyz`)).json()) as Ready;

async function putRules(triage: TriageHandle, body: object): Promise<void> {
  const response = await fetch(`${triage.url}/api/rules`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${config.TELECARE_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
}

/** The instance holding the area lease, and the other one. */
async function roles(): Promise<{ holder: TriageHandle; other: TriageHandle }> {
  const [a, b] = triages as [TriageHandle, TriageHandle];
  return (await ready(a)).area ? { holder: a, other: b } : { holder: b, other: a };
}

const consumerExists = async (type: string): Promise<boolean> =>
  (await jsm.consumers.info(n.streams.events, areaConsumerName(type)).catch(() => undefined)) !== undefined;

const lineFault = (residentId: string, district: string, at: number) =>
  districtReport({ type: 'line.fault', residentId, district, at, partitions: PARTITIONS });

beforeAll(async () => {
  ({ nc, js, jsm } = await connect());
  // Started without any area rule: no area lane at start-up.
  const start = parseRuleSet(ruleSet(1, []));
  for (let i = 0; i < 2; i++) triages.push(await startTriage(config, { logger, clock, ruleSet: start }));
  await waitFor(
    async () => {
      const states = await Promise.all(triages.map(ready));
      return states.every((s) => s.partitions.length === 1) && states.some((s) => s.area);
    },
    { what: 'a partition each and the area lease taken', timeoutMs: 15_000 },
  );
});

afterAll(async () => {
  for (const triage of triages) await triage.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('area lanes follow the rule set in force', () => {
  it('a put adding an area rule over line.fault starts its lane in the area lease holder only: 12 homes give one incident and no per-home alerts, a lone home still alerts', async () => {
    const { holder, other } = await roles();
    expect((await ready(holder)).areaLanes).toEqual([]);
    expect(await consumerExists('line.fault')).toBe(false);

    // Put on the instance without the area lease: the holder starts the lane from its watch.
    await putRules(other, ruleSet(2, [LINE_AREA]));
    expect(await consumerExists('line.fault')).toBe(true);
    await waitFor(async () => (await ready(holder)).areaLanes.includes('line.fault'), {
      what: 'the line-fault area lane in the holder',
      timeoutMs: 5_000,
    });
    expect((await ready(other)).areaLanes).toEqual([]);

    const district = Array.from({ length: 12 }, (_, i) => lineFault(`res_gl2_${i}`, 'GL2', T0 + i * 1_000));
    const lone = lineFault('res_gl8_lone', 'GL8', T0 + 5_000);
    for (const [i, event] of district.entries()) {
      await publishEvent(js, n, event);
      if (i === 6) await publishEvent(js, n, lone);
    }
    await drained(jsm, n, PARTITIONS);
    let alerts = await readAlerts(jsm, n);
    expect(alerts.map((stored) => stored.alert.residentId)).toEqual(['area:GL2']);
    expect(alerts[0]?.alert).toMatchObject({ type: 'line.fault', rule: { id: 'area.line-fault' } });

    // 10:05 + the 30 s reorder grace: the held alerts are decided.
    clock.set(T0 + 5 * 60_000 + 31_000);
    await heldDecided(
      triages.map((t) => t.url),
      { withheld: 12, released: 1 },
    );
    alerts = await readAlerts(jsm, n);
    expect(alerts.map((stored) => stored.alert.residentId)).toEqual(['area:GL2', 'res_gl8_lone']);
  });

  it('a put without it drains the lane and deletes its consumer, and a line fault alerts at once again', async () => {
    const { holder } = await roles();
    // Put on the holder: in force there, its lane drained and its consumer gone, before it answers.
    await putRules(holder, ruleSet(3, []));
    expect((await ready(holder)).areaLanes).toEqual([]);
    expect(await consumerExists('line.fault')).toBe(false);

    const before = (await readAlerts(jsm, n)).length;
    const home = lineFault('res_gl2_0', 'GL2', T0 + 6 * 60_000);
    await publishEvent(js, n, home);
    // Not held: the clock does not move, and the alert is there.
    await waitFor(async () => (await readAlerts(jsm, n)).length > before, {
      what: 'the per-home line-fault alert',
      timeoutMs: 5_000,
    });
    const alerts = await readAlerts(jsm, n);
    expect(alerts.slice(before).map((stored) => stored.alert)).toMatchObject([
      { residentId: 'res_gl2_0', type: 'line.fault', evidence: [home.id] },
    ]);
  });

  it('after two quick changes and a handover, the new holder runs the area lanes of the set in force', async () => {
    const { holder, other } = await roles();
    await putRules(other, ruleSet(4, [LINE_AREA, MAINS_AREA]));
    await putRules(other, ruleSet(5, [LINE_AREA]));
    await waitFor(async () => (await ready(holder)).areaLanes.join() === 'line.fault', {
      what: 'the holder to run the line-fault lane alone',
      timeoutMs: 5_000,
    });
    expect(await consumerExists('line.fault')).toBe(true);
    await waitFor(async () => !(await consumerExists('mains.lost')), {
      what: 'the mains-lost consumer to be deleted',
      timeoutMs: 5_000,
    });

    // The holder stops: the other takes the area lease, and with it today's lanes, not its start-up's.
    triages.splice(triages.indexOf(holder), 1);
    await holder.close();
    await waitFor(
      async () => {
        const state = await ready(other);
        return state.area && state.partitions.length === PARTITIONS;
      },
      { what: 'the other instance to take every lease', timeoutMs: 10_000 },
    );
    expect((await ready(other)).areaLanes).toEqual(['line.fault']);

    const before = (await readAlerts(jsm, n)).length;
    for (let i = 0; i < 10; i++)
      await publishEvent(js, n, lineFault(`res_gl3_${i}`, 'GL3', T0 + 6 * 60_000 + i));
    await drained(jsm, n, PARTITIONS);
    const raised = (await readAlerts(jsm, n)).slice(before).map((stored) => stored.alert.residentId);
    expect(raised).toEqual(['area:GL3']);
  });
});

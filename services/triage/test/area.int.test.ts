import type { TelecareEvent } from '@telecare/contracts';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTriage, type TriageHandle } from '../src/index.ts';
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
const logger = createLogger('triage-area-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const { ns, n, config, connect } = triageTestbed('triage-area', PARTITIONS, logger, {
  TRIAGE_LEASE_TTL_S: '3',
});
// The reports come at 10:00:00–10:00:49, inside the aligned window 10:00–10:05.
const clock = new ManualClock(T0 + 60_000);

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Two instances, one partition each: the area lane runs in one, and the other's held alerts wait for it. */
let triages: TriageHandle[] = [];

const mainsLost = (residentId: string, district: string, at: number): TelecareEvent =>
  districtReport({ type: 'mains.lost', residentId, district, at, partitions: PARTITIONS });

beforeAll(async () => {
  ({ nc, js, jsm } = await connect());
  triages = [await startTriage(config, { logger, clock }), await startTriage(config, { logger, clock })];
  await waitFor(
    async () => {
      const owned = await Promise.all(
        triages.map(async (t) => (await (await fetch(`${t.url}/readyz`)).json()) as { partitions: number[] }),
      );
      return owned.every((o) => o.partitions.length === 1);
    },
    { what: 'the two instances to take a partition each', timeoutMs: 15_000 },
  );
});

afterAll(async () => {
  for (const triage of triages) await triage.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('area incidents against real NATS and Redis', () => {
  it('50 homes of one district losing mains give one area incident and no per-home alerts; a lone home still alerts', async () => {
    const district = Array.from({ length: 50 }, (_, i) => mainsLost(`res_gl1_${i}`, 'GL1', T0 + i * 1_000));
    const lone = mainsLost('res_gl9_lone', 'GL9', T0 + 20_000);
    // Interleaved: the lone home arrives in the middle of the outage.
    for (const [i, event] of district.entries()) {
      await publishEvent(js, n, event);
      if (i === 25) await publishEvent(js, n, lone);
    }
    await drained(jsm, n, PARTITIONS);

    // The incident is raised at once; the per-home alerts are held until the window is decided.
    let alerts = await readAlerts(jsm, n);
    expect(alerts.map((stored) => stored.alert.type)).toEqual(['area.mains-lost']);
    expect(alerts[0]?.alert).toMatchObject({ residentId: 'area:GL1', priority: 3 });

    // 10:05 + the 30 s reorder grace: the held alerts are decided.
    clock.set(T0 + 5 * 60_000 + 31_000);
    await heldDecided(
      triages.map((t) => t.url),
      { withheld: 50, released: 1 },
    );
    alerts = await readAlerts(jsm, n);
    expect(alerts.filter((stored) => stored.alert.type === 'area.mains-lost')).toHaveLength(1);
    const perHome = alerts.filter((stored) => stored.alert.type === 'mains.lost');
    expect(perHome.map((stored) => stored.alert.residentId)).toEqual(['res_gl9_lone']);
    expect(perHome[0]?.alert).toMatchObject({ priority: 3, evidence: [lone.id], late: false });
  });
});

import { names, type TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle } from '../src/index.ts';
import { drained, makeEvent, metricValue, publishEvent, readAlerts, scrape, T0 } from './support.ts';

const ns = uniqueNamespace('triage-area');
const n = names(ns);
const PARTITIONS = 2;
const logger = createLogger('triage-area-test', process.env.TEST_LOG_LEVEL ?? 'silent');
// The reports come at 10:00:00–10:00:49, inside the aligned window 10:00–10:05.
const clock = new ManualClock(T0 + 60_000);
const config = loadTriageConfig(
  serviceEnv(ns, {
    TRIAGE_PORT: '0',
    TELECARE_PARTITIONS: String(PARTITIONS),
    TRIAGE_RETRY_DELAY_MS: '100',
    TRIAGE_LEASE_TTL_S: '3',
  }),
);

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Two instances, one partition each: the area lane runs in one, and the other's held alerts wait for it. */
let triages: TriageHandle[] = [];

function mainsLost(residentId: string, district: string, at: number): TelecareEvent {
  const serial = `HUB-${residentId}`;
  return {
    ...makeEvent({
      residentId,
      type: 'mains.lost',
      deviceEventId: `ml-${residentId}`,
      partitions: PARTITIONS,
      serial,
      devicekind: 'hub',
    }),
    time: new Date(at).toISOString(),
    receivedat: new Date(at + 100).toISOString(),
    postcodedistrict: district,
  };
}

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-area-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
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
    await waitFor(
      async () => {
        const page = (await Promise.all(triages.map((t) => scrape(t.url)))).join('\n');
        return (
          metricValue(page, /^triage_alerts_withheld_total\{/) === 50 &&
          metricValue(page, /^triage_alerts_held_released_total\{/) === 1
        );
      },
      { what: 'the held alerts to be decided', timeoutMs: 15_000 },
    );
    alerts = await readAlerts(jsm, n);
    expect(alerts.filter((stored) => stored.alert.type === 'area.mains-lost')).toHaveLength(1);
    const perHome = alerts.filter((stored) => stored.alert.type === 'mains.lost');
    expect(perHome.map((stored) => stored.alert.residentId)).toEqual(['res_gl9_lone']);
    expect(perHome[0]?.alert).toMatchObject({ priority: 3, evidence: [lone.id], late: false });
  });
});

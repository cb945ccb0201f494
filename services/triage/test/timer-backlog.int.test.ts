import { type EventType, names, type TelecareEvent } from '@telecare/contracts';
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
import { parseRuleSet } from '@telecare/rules';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle, timerBucket } from '../src/index.ts';
import { makeEvent as buildEvent, drained, publishEvent, readAlerts, T0 } from './support.ts';

/**
 * A timer due at T must not fire before its partition lane has read what was stored before T:
 * a heartbeat or a "vacated" waiting in the lane's backlog is what would cancel the check.
 */
const ns = uniqueNamespace('triagebacklog');
const n = names(ns);
const PARTITIONS = 2;
const logger = createLogger('triage-backlog-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const clock = new ManualClock(T0);
const config = loadTriageConfig(
  serviceEnv(ns, { TRIAGE_PORT: '0', TELECARE_PARTITIONS: String(PARTITIONS), TRIAGE_RETRY_DELAY_MS: '100' }),
);
const INTERVAL_S = 300;
const RULES = parseRuleSet({
  version: 1,
  rules: [
    {
      id: 'sustained.chair',
      version: 1,
      kind: 'sustained',
      type: 'chair.too-long',
      condition: { starts: ['chair.occupied'], ends: ['chair.vacated'] },
      forS: INTERVAL_S,
      reason: '{what}: {detail}',
    },
    {
      id: 'absence.supervision',
      version: 1,
      kind: 'absence',
      type: 'supervision.lost',
      expect: ['heartbeat'],
      window: { kind: 'supervision', defaultIntervalS: INTERVAL_S },
      reason: '{what}: {detail}',
    },
  ],
});

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let triage: TriageHandle | undefined;

let seq = 0;
const event = (residentId: string, type: EventType, at: number, serial: string): TelecareEvent => ({
  ...buildEvent({ residentId, type, deviceEventId: `bl-${++seq}`, partitions: PARTITIONS, serial }),
  time: new Date(at).toISOString(),
});
const start = () => startTriage(config, { logger, clock, ruleSet: RULES });
const alertsOf = async (type: EventType) => (await readAlerts(jsm, n)).filter((a) => a.alert.type === type);

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-backlog-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  triage = await start();
});

afterAll(async () => {
  await triage?.close();
  await openBucket(nc, timerBucket(n))
    .then((kv) => kv.destroy())
    .catch(() => undefined);
  await cleanupNamespace(ns);
  await nc?.close();
});

describe('timers wait for their lane to read the backlog stored before they fall due', () => {
  it('raises no false supervision.lost or chair.too-long for events queued behind the check, and still finds the silent device', async () => {
    const HUBS = 40;
    const hub = (i: number) => ({ resident: `res_bl_${i}`, serial: `HB-BL-${i}` });
    // Every hub beats once, and one resident sits down; triage reads it all and sets the checks.
    const first = T0 - 1_000;
    for (let i = 0; i < HUBS; i++)
      await publishEvent(js, n, event(hub(i).resident, 'heartbeat', first, hub(i).serial));
    await publishEvent(js, n, event('res_bl_chair', 'chair.occupied', first, 'CS-BL'));
    await publishEvent(js, n, event('res_bl_silent', 'heartbeat', first, 'HB-BL-SILENT'));
    await drained(jsm, n, PARTITIONS);

    // Triage is down (or far behind) while the devices go on reporting in time: a backlog builds.
    await triage?.close();
    triage = undefined;
    const beatsAt = first + (INTERVAL_S - 60) * 1_000;
    const backlog: TelecareEvent[] = [];
    for (let round = 0; round < 10; round++)
      for (let i = 0; i < HUBS; i++)
        backlog.push(event(`res_bl_noise_${i}`, 'heartbeat', beatsAt, `HB-NOISE-${round}-${i}`));
    // The beats and the vacated that cancel the checks are at the end of the backlog.
    for (let i = 0; i < HUBS; i++) backlog.push(event(hub(i).resident, 'heartbeat', beatsAt, hub(i).serial));
    backlog.push(event('res_bl_chair', 'chair.vacated', beatsAt, 'CS-BL'));
    for (let i = 0; i < backlog.length; i += 50)
      await Promise.all(backlog.slice(i, i + 50).map((e) => publishEvent(js, n, e)));

    // The checks fall due (interval + reorder grace) before triage has read any of it.
    clock.advance((INTERVAL_S + 40) * 1_000);
    triage = await start();

    const lost = await waitFor(
      async () => (await alertsOf('supervision.lost')).find((a) => a.alert.residentId === 'res_bl_silent'),
      { what: 'supervision.lost for the silent hub', timeoutMs: 20_000 },
    );
    expect(lost.alert.evidence).toHaveLength(1);
    await drained(jsm, n, PARTITIONS);
    // Every other check was decided with the backlog read: no false loss, no false chair alert.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await alertsOf('supervision.lost')).map((a) => a.alert.residentId)).toEqual(['res_bl_silent']);
    expect(await alertsOf('chair.too-long')).toEqual([]);
  }, 60_000);
});

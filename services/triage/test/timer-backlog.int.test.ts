import type { EventType, TelecareEvent } from '@telecare/contracts';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { parseRuleSet } from '@telecare/rules';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTriage, type TriageHandle } from '../src/index.ts';
import {
  makeEvent as buildEvent,
  chairRule,
  drained,
  dropTriageNamespace,
  publishEvent,
  readAlerts,
  supervisionRule,
  T0,
  triageTestbed,
} from './support.ts';

/**
 * A timer due at T must not fire before its partition lane has read what was stored before T:
 * a heartbeat or a "vacated" waiting in the lane's backlog is what would cancel the check.
 */
const PARTITIONS = 2;
const logger = createLogger('triage-backlog-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const bed = triageTestbed('triagebacklog', PARTITIONS, logger);
const n = bed.n;
const clock = new ManualClock(T0);
const INTERVAL_S = 300;
const RULES = parseRuleSet({ version: 1, rules: [chairRule(INTERVAL_S), supervisionRule(INTERVAL_S)] });

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let triage: TriageHandle | undefined;

let seq = 0;
const event = (residentId: string, type: EventType, at: number, serial: string): TelecareEvent => ({
  ...buildEvent({ residentId, type, deviceEventId: `bl-${++seq}`, partitions: PARTITIONS, serial }),
  time: new Date(at).toISOString(),
});
const start = () => startTriage(bed.config, { logger, clock, ruleSet: RULES });
const alertsOf = async (type: EventType) => (await readAlerts(jsm, n)).filter((a) => a.alert.type === type);

beforeAll(async () => {
  ({ nc, js, jsm } = await bed.connect());
  triage = await start();
});

afterAll(async () => {
  await triage?.close();
  await dropTriageNamespace(nc, n);
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

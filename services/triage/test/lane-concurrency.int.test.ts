import type { EventType, TelecareEvent } from '@telecare/contracts';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { parseRuleSet } from '@telecare/rules';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerName, startTriage, type TriageHandle } from '../src/index.ts';
import {
  makeEvent as buildEvent,
  chairRule,
  drained,
  dropTriageNamespace,
  metricValue,
  publishEvent,
  readAlerts,
  scrape,
  T0,
  triageTestbed,
} from './support.ts';

/** A partition lane holds several events at once: residents side by side, each in order. */
const logger = createLogger('triage-lane-concurrency-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const bed = triageTestbed('triageinhand', 1, logger, {
  TRIAGE_LANE_CONCURRENCY: '8',
  TRIAGE_ALARM_LANE: 'false',
});
const n = bed.n;
const clock = new ManualClock(T0);
const RULES = parseRuleSet({ version: 1, rules: [chairRule(600)] });

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let triage: TriageHandle | undefined;

let seq = 0;
const event = (residentId: string, type: EventType, at: number): TelecareEvent => ({
  ...buildEvent({
    residentId,
    type,
    deviceEventId: `lc-${++seq}`,
    partitions: 1,
    serial: `CS-${residentId}`,
  }),
  time: new Date(at).toISOString(),
});
const start = () => startTriage(bed.config, { logger, clock, ruleSet: RULES });

beforeAll(async () => {
  ({ nc, js, jsm } = await bed.connect());
  // Streams and consumers exist; the events then wait for the next start.
  triage = await start();
  await triage.close();
  triage = undefined;
});

afterAll(async () => {
  await triage?.close();
  await dropTriageNamespace(nc, n);
  await nc?.close();
});

describe('a partition lane with several events in hand', () => {
  it('evaluates residents side by side, keeps each resident in order, and evaluates every event once', async () => {
    const RESIDENTS = 30;
    const ROUNDS = 5;
    const backlog: TelecareEvent[] = [];
    // Each resident sits down and gets up again, five times: out of order, a vacated read before
    // its occupied would leave a chair check that raises chair.too-long.
    for (let round = 0; round < ROUNDS; round++)
      for (const type of ['chair.occupied', 'chair.vacated'] as const)
        for (let r = 0; r < RESIDENTS; r++)
          backlog.push(
            event(
              `res_lc_${r}`,
              type,
              T0 - 3_600_000 + round * 120_000 + (type === 'chair.vacated' ? 60_000 : 0),
            ),
          );
    for (let i = 0; i < backlog.length; i += 50)
      await Promise.all(backlog.slice(i, i + 50).map((e) => publishEvent(js, n, e)));

    triage = await start();
    let most = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const info = await jsm.consumers.info(n.streams.events, consumerName(0));
        most = Math.max(most, info.num_ack_pending);
        if (info.num_pending === 0 && info.num_ack_pending === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await drained(jsm, n, 1);
    polling = false;
    await poll;
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(8);

    const page = await scrape(triage.url);
    expect(metricValue(page, /^triage_events_evaluated_total\{/)).toBe(backlog.length);
    expect(metricValue(page, /^triage_events_duplicate_total /)).toBe(0);
    // Every chair was left within the hour: no check stays to raise anything.
    clock.advance(2 * 3_600_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect((await readAlerts(jsm, n)).map((a) => a.alert.type)).toEqual([]);
    const info = await jsm.consumers.info(n.streams.events, consumerName(0));
    expect(info.config.max_ack_pending).toBe(8);
    expect(info.num_redelivered).toBe(0);
  }, 60_000);
});

import {
  createLogger,
  type JetStreamClient,
  ManualClock,
  type NatsConnection,
  sleep,
} from '@telecare/platform';
import { type FaultProxy, pullHeartbeatMs, pullRequestOf, sharedNatsProxy, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmConsumerName, consumerName, startTriage, type TriageHandle } from '../src/index.ts';
import { dropTriageNamespace, LEASE_RULES, makeEvent, publishEvent, T0, triageTestbed } from './support.ts';

/**
 * A pull lost on its way with the link up (a route that flapped, a pull request the server
 * dropped): the lane that sent it hears nothing until it gives up on it. An alarm lane gives up
 * after two of its short heartbeats, not at the pull's expiry.
 */
const logger = createLogger('triage-alarm-pull-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let proxy: FaultProxy;
let bed: ReturnType<typeof triageTestbed>;
let nc: NatsConnection;
let js: JetStreamClient;
let triage: TriageHandle | undefined;
/** When each resident's alert reached ALERTS, as the test's own connection heard it. */
const alertedAt = new Map<string, number>();

beforeAll(async () => {
  proxy = await sharedNatsProxy();
  // Triage reaches NATS through the proxy; the test publishes and listens directly.
  bed = triageTestbed('alarmpull', 1, logger, { NATS_URL: proxy.url('nats') });
  ({ nc, js } = await bed.connect());
  nc.subscribe(bed.n.subjects.allAlerts, {
    callback: (_err, msg) => {
      alertedAt.set(msg.subject.slice(msg.subject.lastIndexOf('.') + 1), performance.now());
    },
  });
  triage = await startTriage(bed.config, { logger, clock: new ManualClock(T0), ruleSet: LEASE_RULES });
});

afterAll(async () => {
  await triage?.close();
  await proxy?.close();
  if (nc) await dropTriageNamespace(nc, bed.n);
  await nc?.close();
});

const press = (residentId: string) =>
  publishEvent(
    js,
    bed.n,
    makeEvent({ residentId, type: 'pendant.pressed', deviceEventId: `press-${residentId}`, partitions: 1 }),
  );

describe('an alarm lane whose pull is lost on its way', () => {
  it('pulls again after two short heartbeats: the press is raised well within the second a lost pull held it', async () => {
    await press('res_warm');
    await waitFor(() => alertedAt.has('res_warm'), { what: 'the first alert' });
    const alarmLane = alarmConsumerName(0, 'pendant.pressed');
    const partitionLane = consumerName(0);
    const asked = new Map<string, number>();
    // The best of up to three lost pulls (a loaded machine may hold one alarm up for its own reasons).
    let best = Number.POSITIVE_INFINITY;
    for (let i = 1; i <= 3 && best >= 700; i++) {
      // The partition lane, which reads every event and raises the press too, is held up all the
      // while (every pull of its lost): the alarm lane alone answers for the press.
      let holding = true;
      const hold = (async () => {
        while (holding)
          asked.set(
            partitionLane,
            pullHeartbeatMs(await proxy.dropNextPublish(pullRequestOf(partitionLane))),
          );
      })();
      try {
        asked.set(alarmLane, pullHeartbeatMs(await proxy.dropNextPublish(pullRequestOf(alarmLane))));
        const sentAt = performance.now();
        const residentId = `res_lost${i}`;
        await press(residentId);
        await waitFor(() => alertedAt.has(residentId), { timeoutMs: 10_000, what: 'the press raised' });
        best = Math.min(best, (alertedAt.get(residentId) as number) - sentAt);
      } finally {
        holding = false;
        // The hold ends with the partition lane's next pull, the last one lost.
        await hold;
      }
      await sleep(100);
    }
    // Two heartbeats of the alarm lane (300 ms) and the server's word that it holds no pull, not
    // two of a bulk lane's (1 s) nor the pull's expiry.
    expect(best).toBeLessThan(700);
    // Short heartbeats on the alarm lane only: the partition lane keeps the default (half its expiry).
    expect(asked.get(alarmLane)).toBeLessThanOrEqual(150);
    expect(asked.get(partitionLane)).toBe(500);
  }, 60_000);
});

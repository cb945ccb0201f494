import type { Alert } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  jetstream,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerOf } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

// Alarms have a path of their own through the helpline's ingest: one consumer per priority, so a
// flood of records cannot hold a press back, and a cancel that overtakes its alarm still closes it.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let nc: NatsConnection;

beforeAll(async () => {
  h = await helplineHarness('lanes');
  nc = await connectNats({
    url: servers.natsUrl,
    name: 'helpline-lanes-test',
    logger: createLogger('helpline-lanes-test', 'silent'),
  });
  // The streams and consumers exist; the helpline is down while the tests fill ALERTS.
  await h.start();
  await h.stop();
});

afterAll(async () => {
  await nc?.close();
  await h?.close();
});

const record = (residentId: string, i: number): Alert =>
  h.alert({
    residentId,
    priority: 5,
    type: 'mains.restored',
    evidence: [`evt_flood_${residentId}_${i}`],
    reason: 'mains power restored',
  });

describe('an alarm behind a flood of records', () => {
  it('is committed while five hundred records published before it still wait', async () => {
    // A single consumer in stream order would leave none of them waiting once the press is
    // committed; five lanes leave nearly all (996 of 1,000 measured). Five hundred show that as
    // plainly as 3,000 did, and committing them all takes a minute and more on a busy machine.
    const flood = 500;
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < flood; i++) {
      batch.push(h.publish(record(`res_flood${i}`, i)));
      if (batch.length === 200) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    const press = h.alert({ residentId: 'res_lanes_press' });
    await h.publish(press);

    await h.start();
    const c = (await h.caseOf('res_lanes_press')) as { alertIds?: string[] };
    expect(c.alertIds).toEqual([press.id]);
    // One consumer in stream order commits the press only after every record before it.
    const p5 = await (await jetstreamManager(nc)).consumers.info(h.names.streams.alerts, consumerOf(5));
    expect(p5.num_pending + p5.num_ack_pending).toBeGreaterThan(flood / 2);
    await waitFor(
      async () => {
        const info = await (await jetstreamManager(nc)).consumers.info(h.names.streams.alerts, consumerOf(5));
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { what: 'the flood committed', timeoutMs: 90_000, intervalMs: 250 },
    );
  }, 120_000);
});

describe('a cancel that overtakes its alarm', () => {
  it('is kept as a record, then closes the alarm when it comes: the case resolves as a false alarm', async () => {
    await h.stop();
    const press = h.alert({ residentId: 'res_lanes_cancel' });
    const cancel = h.alert({
      residentId: 'res_lanes_cancel',
      priority: 5,
      type: 'alarm.cancelled',
      evidence: ['evt_lanes_cancel'],
      reason: 'Resident cancelled the alarm: cancelled by the resident 12 s after the alarm',
      closes: { alertId: press.id, outcome: 'false-alarm' },
    });
    await h.publish(cancel);
    await h.start();
    await h.drained();
    await h.publish(press);
    const c = await waitFor(
      async () => {
        const all = (await h.api('/api/cases?state=all')).json as {
          id: string;
          residentId: string;
          alertIds: string[];
          state: string;
          outcome: string | null;
        }[];
        return all.find((x) => x.alertIds.includes(press.id) && x.state === 'resolved');
      },
      { what: 'the press closed by its earlier cancel' },
    );
    expect(c.outcome).toBe('false-alarm');
    const kinds = (await h.detail(c.id)).events.map((e: { kind: string }) => e.kind);
    expect(kinds).toEqual(['opened', 'alert-joined', 'resolved']);
    // A press with no cancel before it still opens a case an operator answers.
    const other = h.alert({ residentId: 'res_lanes_cancel', evidence: ['evt_lanes_second'] });
    await h.publish(other);
    const open = await waitFor(async () => {
      const all = (await h.api('/api/cases')).json as { alertIds: string[]; state: string }[];
      return all.find((x) => x.alertIds.includes(other.id));
    });
    expect(open.state).not.toBe('resolved');
  }, 60_000);
});

describe('an upgrade from the single consumer', () => {
  it('starts each priority where the old consumer acked, then removes the old consumer', async () => {
    await h.stop();
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(h.names.streams.alerts, {
      durable_name: 'helpline',
      ack_policy: 'explicit',
      deliver_policy: 'new',
      filter_subject: h.names.subjects.allAlerts,
    });
    // The old version committed this one and acked it: it must not come again.
    const done = h.alert({ residentId: 'res_lanes_upgrade_done' });
    await h.publish(done);
    const old = await jetstream(nc).consumers.get(h.names.streams.alerts, 'helpline');
    const first = await old.next({ expires: 5_000 });
    expect(first?.json<Alert>().id).toBe(done.id);
    await first?.ackAck();
    // Published after the old version stopped: the new consumers take it.
    const after = h.alert({ residentId: 'res_lanes_upgrade_after', priority: 2, type: 'fall.detected' });
    await h.publish(after);
    for (const p of [1, 2, 3, 4, 5] as const)
      await jsm.consumers.delete(h.names.streams.alerts, consumerOf(p)).catch(() => undefined);

    await h.start();
    const c = (await h.caseOf('res_lanes_upgrade_after')) as { alertIds?: string[] };
    expect(c.alertIds).toEqual([after.id]);
    await h.drained();
    const all = (await h.api('/api/cases?state=all')).json as { residentId: string }[];
    expect(all.some((x) => x.residentId === 'res_lanes_upgrade_done')).toBe(false);
    expect(
      await jsm.consumers.info(h.names.streams.alerts, 'helpline').catch(() => undefined),
    ).toBeUndefined();
  }, 60_000);
});

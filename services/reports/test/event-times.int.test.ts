import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, createLogger } from '@telecare/platform';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerName } from '../src/ingest.ts';
import { type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

/**
 * A device's login sends events dated in year 0 (the gateway stores a late device time as the
 * device gave it, so an old press still alerts). PostgreSQL has no year 0: the day such an event
 * counts on is out of its range, and the same event fails the same way every time it is tried.
 * Handed back for ever, each one held a place among the EVENTS consumer's 1,000 unacknowledged
 * messages, so a thousand of them stopped the reports reading any device's events.
 */
describe('events whose time PostgreSQL cannot hold', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rptimes');
    await h.start();
  });
  afterAll(async () => h?.close());

  it('are refused once and counted, not retried for ever; the events after them are read', async () => {
    const odd = ['0000-01-01T00:00:00Z', '0000-01-01T00:00:00+00:01'].map((at, i) =>
      telecareEvent({
        serial: `PEN-T${i}`,
        residentId: `res_times${i}`,
        kind: 'pendant',
        type: 'heartbeat',
        at,
        district: 'GL5',
      }),
    );
    for (const e of odd) await h.publishEvent(e);
    await h.publishEvent(
      telecareEvent({
        serial: 'PEN-T9',
        residentId: 'res_times9',
        kind: 'pendant',
        type: 'heartbeat',
        at: new Date().toISOString(),
        district: 'GL5',
      }),
    );
    await waitFor(async () => (await h.reports.store.knownResidents(['res_times9'])).size === 1, {
      what: 'the good event read',
    });
    const nc = await connectNats({
      url: servers.natsUrl,
      name: 'rptimes-check',
      logger: createLogger('rptimes', 'silent'),
    });
    try {
      const jsm = await jetstreamManager(nc);
      const consumer = () =>
        jsm.consumers.info(
          h.names.streams.events,
          consumerName(h.env.REPORTS_CONSUMER ?? 'reports', 'events'),
        );
      // Nothing left waiting for a redelivery that can only fail again.
      await waitFor(async () => (await consumer()).num_ack_pending === 0, {
        what: 'no event left pending',
        timeoutMs: 10_000,
      });
    } finally {
      await nc.close();
    }
    const metrics = await (await fetch(`${h.reports.url}/metrics`)).text();
    expect(metrics).toMatch(/reports_messages_refused_total\{[^}]*source="events"[^}]*\} 2/);
  });
});

import { RejectReason } from '@telecare/contracts';
import { Counter, Histogram, type Registry } from 'prom-client';

/** What a gateway counts of storing what its senders sent: the same series in every gateway. */
export interface StoreMetrics {
  readonly stored: Counter<'type'>;
  readonly duplicates: Counter;
  readonly rejects: Counter<'reason'>;
  readonly storeSeconds: Histogram;
  readonly retries: Counter<'stage'>;
}

/**
 * The store series of a gateway, named `<prefix>_…` (`gateway_mqtt`, `gateway_dc09`):
 * `events_stored_total{type}`, `duplicates_total`, `rejects_total{reason}` (every reason from the
 * start, so a dashboard sees 0 rather than no series), `store_seconds`, `retries_total{stage}`.
 * `unit` says what one store holds: a device message, a frame.
 */
export function createStoreMetrics(registry: Registry, prefix: string, unit: string): StoreMetrics {
  const registers = [registry];
  const rejects = new Counter({
    name: `${prefix}_rejects_total`,
    help: `Input refused, dead-lettered and answered with a refusal, by reason`,
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of RejectReason.options) rejects.inc({ reason }, 0);
  return {
    stored: new Counter({
      name: `${prefix}_events_stored_total`,
      help: 'Events stored in the EVENTS stream before their sender was answered, by type',
      labelNames: ['type'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: `${prefix}_duplicates_total`,
      help: 'Resent events JetStream recognised as already stored (answered again)',
      registers,
    }),
    rejects,
    storeSeconds: new Histogram({
      name: `${prefix}_store_seconds`,
      help: `Time to store every event of one ${unit} (publish to the last PubAck)`,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    retries: new Counter({
      name: `${prefix}_retries_total`,
      help: `Attempts at a ${unit} retried after a transient failure (NATS or JetStream unavailable), by stage`,
      labelNames: ['stage'] as const,
      registers,
    }),
  };
}

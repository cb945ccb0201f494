import { RejectReason } from '@telecare/contracts';
import { Counter, type createMetrics, Gauge, Histogram } from '@telecare/platform';

type Registry = ReturnType<typeof createMetrics>;

export interface GatewayMetrics {
  readonly stored: Counter<'type'>;
  readonly duplicates: Counter;
  readonly rejects: Counter<'reason'>;
  readonly storeSeconds: Histogram;
  readonly retries: Counter<'stage'>;
  readonly queued: Gauge;
  readonly drops: Counter<'cause'>;
  readonly retainedIgnored: Counter;
  readonly rateLimited: Counter;
  readonly shed: Counter<'priority'>;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const rejects = new Counter({
    name: 'gateway_mqtt_rejects_total',
    help: 'Device messages refused, dead-lettered and answered with a rejection, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // Every reason shows from the start, so a dashboard sees 0 rather than no series.
  for (const reason of RejectReason.options) rejects.inc({ reason }, 0);
  return {
    stored: new Counter({
      name: 'gateway_mqtt_events_stored_total',
      help: 'Device events stored in the EVENTS stream and acked to the device, by type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'gateway_mqtt_duplicates_total',
      help: 'Device resends that JetStream recognised as already stored (acked again)',
      registers: [registry],
    }),
    rejects,
    storeSeconds: new Histogram({
      name: 'gateway_mqtt_store_seconds',
      help: 'Time for JetStream to store one device event (publish to PubAck)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'gateway_mqtt_transient_failures_total',
      help: 'Transient failures retried with backoff (NATS or JetStream unavailable), by stage',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    queued: new Gauge({
      name: 'gateway_mqtt_queued_messages',
      help: 'Device messages admitted and waiting for a worker',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'gateway_mqtt_rate_limited_total',
      help: 'Device messages dropped unanswered because their device sent over its rate (alarms are never dropped)',
      registers: [registry],
    }),
    shed: new Counter({
      name: 'gateway_mqtt_shed_total',
      help: 'Maintenance and record-only device events shed unanswered while the queue was past GATEWAY_MQTT_SHED_AT, by priority (devices resend them)',
      labelNames: ['priority'] as const,
      registers: [registry],
    }),
    retainedIgnored: new Counter({
      name: 'gateway_mqtt_retained_ignored_total',
      help: 'Retained copies of device events handed over at subscribe and ignored',
      registers: [registry],
    }),
    drops: new Counter({
      name: 'gateway_mqtt_connection_drops_total',
      help: 'Established broker connections lost, by cause (taken-over: the broker said so; else closed)',
      labelNames: ['cause'] as const,
      registers: [registry],
    }),
  };
}

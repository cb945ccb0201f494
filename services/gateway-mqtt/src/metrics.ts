import { Counter, createStoreMetrics, Gauge, type Registry, type StoreMetrics } from '@telecare/platform';

export interface GatewayMetrics extends StoreMetrics {
  readonly alarmsRepaired: Counter<'type'>;
  readonly kindMismatch: Counter<'type' | 'disposition'>;
  readonly securityEventsDropped: Counter;
  readonly drops: Counter<'cause'>;
  readonly retainedIgnored: Counter;
  readonly rateLimited: Counter;
  readonly deadLettersDropped: Counter;
  readonly shed: Counter<'priority'>;
  readonly takeovers: Counter;
  readonly contested: Counter;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    ...createStoreMetrics(registry, 'gateway_mqtt', 'device message'),
    rateLimited: new Counter({
      name: 'gateway_mqtt_rate_limited_total',
      help: 'Device messages dropped unanswered because their device sent over its rate (alarms are never dropped)',
      registers: [registry],
    }),
    deadLettersDropped: new Counter({
      name: 'gateway_mqtt_dead_letters_dropped_total',
      help: 'Refused device messages answered and counted but not dead-lettered, their device being past GATEWAY_MQTT_DEVICE_DEAD_LETTERS_PER_MINUTE',
      registers: [registry],
    }),
    shed: new Counter({
      name: 'gateway_mqtt_shed_total',
      help: 'Maintenance and record-only device events shed unanswered while the queue was past GATEWAY_MQTT_SHED_AT, by priority (devices resend them)',
      labelNames: ['priority'] as const,
      registers: [registry],
    }),
    alarmsRepaired: new Counter({
      name: 'gateway_mqtt_alarms_repaired_total',
      help: 'Life-critical alarms stored although their payload broke the contract (time, id, seq or data unreadable), by type; each also dead-lettered with reason schema',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    securityEventsDropped: new Counter({
      name: 'gateway_mqtt_security_events_dropped_total',
      help: 'Alarms from a device whose kind does not report them past the security-event budget of every device together: stored and counted in gateway_mqtt_kind_mismatch_total, not published one by one',
      registers: [registry],
    }),
    kindMismatch: new Counter({
      name: 'gateway_mqtt_kind_mismatch_total',
      help: 'Device events of a type their device kind does not report, by type and disposition (stored: a life-critical alarm, never refused; refused: dead-lettered type-not-for-kind)',
      labelNames: ['type', 'disposition'] as const,
      registers: [registry],
    }),
    retainedIgnored: new Counter({
      name: 'gateway_mqtt_retained_ignored_total',
      help: 'Retained copies of device events handed over at subscribe and ignored',
      registers: [registry],
    }),
    takeovers: new Counter({
      name: 'gateway_mqtt_device_takeovers_total',
      help: "Connections taken over by a new connection under the same client id, read from the broker's connection log ($SYS/broker/log/N)",
      registers: [registry],
    }),
    contested: new Counter({
      name: 'gateway_mqtt_logins_contested_total',
      help: 'Device logins taken over again and again from two addresses taking turns within the window, each raised once per window as device.login-contested',
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

/**
 * `gateway_mqtt_queued_messages`: read from the work queue when scraped, rather than set twice per
 * message (a gauge's `set` hashes its labels and allocates an entry each time).
 */
export function registerQueuedMessages(registry: Registry, waiting: () => number): void {
  new Gauge({
    name: 'gateway_mqtt_queued_messages',
    help: 'Device messages admitted and waiting for a worker',
    registers: [registry],
    collect() {
      this.set(waiting());
    },
  });
}

import type { Priority } from './taxonomy.ts';

/**
 * Every broker name the platform uses, derived from one namespace so that a test (or a second
 * deployment on the same servers) never collides with another. The default namespace
 * `telecare` gives the names in DESIGN §2 (streams EVENTS, ALERTS…, subjects `telecare.…`).
 */
export const DEFAULT_NAMESPACE = 'telecare';
export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,30}$/;

export interface Names {
  readonly namespace: string;
  readonly streams: {
    readonly events: string;
    readonly alerts: string;
    readonly cases: string;
    readonly deadletter: string;
    /** Every service's security events, for the helpline's stored list (bounded by age and size). */
    readonly security: string;
  };
  readonly subjects: {
    event(partition: number, type: string): string;
    eventsOfPartition(partition: number): string;
    readonly allEvents: string;
    alert(priority: Priority, residentId: string): string;
    /** Every alert of one priority (each has its own consumer in the helpline). */
    alertsOfPriority(priority: Priority): string;
    readonly allAlerts: string;
    caseEvent(caseId: string): string;
    readonly allCases: string;
    deadletter(service: string, reason: string): string;
    readonly allDeadletters: string;
    /** Security events (the SECURITY stream): misuse a service refused, for the helpline and whoever follows. */
    readonly securityEvents: string;
  };
  readonly kv: {
    readonly deviceMap: string;
    readonly dc09Accounts: string;
    /** What the DC-09 gateways last saw of each zoned account's panel clock (key = account). */
    readonly dc09Clocks: string;
    /** Triage's partition leases and live members (the bucket's max age is the lease time). */
    readonly triageLeases: string;
    /** The rule set in force in triage, with its history (every triage instance follows it). */
    readonly triageRules: string;
    /** Each resident's declared time away (the registry writes, triage reads). */
    readonly residentAway: string;
    /** Triage's durable timers (Redis holds their index, rebuilt from here). */
    readonly triageTimers: string;
    /**
     * Triage's event index gaps not yet settled: index writes skipped while Redis did not answer,
     * kept here until Redis says whether they landed (see triage's "The event index").
     */
    readonly triageIndexGaps: string;
  };
  /** PostgreSQL schema owned by a service. */
  schema(service: 'registry' | 'helpline' | 'triage' | 'reports'): string;
  readonly redisPrefix: string;
  readonly mqtt: DeviceTopics;
  /**
   * MQTT client ids, each bound to one broker user: a session belongs to its client id, so a
   * login that could choose any id could take over another's session and its queued messages.
   */
  readonly mqttClientIds: {
    /** gateway-mqtt's persistent session: one per namespace, stable across restarts. */
    readonly gateway: string;
    /** A device's: its serial, the same as its broker username. */
    device(serial: string): string;
  };
}

export interface DeviceTopics {
  readonly root: string;
  events(serial: string): string;
  ack(serial: string): string;
  status(serial: string): string;
  config(serial: string): string;
  /** Subscription filter for every device's events. */
  readonly allEvents: string;
  readonly allStatus: string;
  /** The serial in a device topic, or undefined if the topic is not one of ours. */
  serialOf(topic: string): string | undefined;
}

export function deviceTopics(namespace: string = DEFAULT_NAMESPACE): DeviceTopics {
  const root = `${namespace}/v1/devices`;
  const prefix = `${root}/`;
  return {
    root,
    events: (serial) => `${root}/${serial}/events`,
    ack: (serial) => `${root}/${serial}/ack`,
    status: (serial) => `${root}/${serial}/status`,
    config: (serial) => `${root}/${serial}/config`,
    allEvents: `${root}/+/events`,
    allStatus: `${root}/+/status`,
    // Read on every device message: one slice, no array of the topic's levels.
    serialOf(topic) {
      if (!topic.startsWith(prefix)) return undefined;
      const end = topic.indexOf('/', prefix.length);
      if (end <= prefix.length || topic.includes('/', end + 1)) return undefined;
      return topic.slice(prefix.length, end);
    },
  };
}

const token = (value: string): string => value.replace(/[^A-Za-z0-9_-]/g, '_');

export function names(namespace: string = DEFAULT_NAMESPACE): Names {
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new RangeError(`namespace must match ${NAMESPACE_PATTERN}: ${JSON.stringify(namespace)}`);
  }
  const isDefault = namespace === DEFAULT_NAMESPACE;
  const stream = (base: string) => (isDefault ? base : `${namespace.toUpperCase()}_${base}`);
  const ns = namespace;
  return {
    namespace,
    streams: {
      events: stream('EVENTS'),
      alerts: stream('ALERTS'),
      cases: stream('CASES'),
      deadletter: stream('DEADLETTER'),
      security: stream('SECURITY'),
    },
    subjects: {
      event: (partition, type) => `${ns}.events.${partition}.${type}`,
      eventsOfPartition: (partition) => `${ns}.events.${partition}.>`,
      allEvents: `${ns}.events.>`,
      alert: (priority, residentId) => `${ns}.alerts.p${priority}.${token(residentId)}`,
      alertsOfPriority: (priority) => `${ns}.alerts.p${priority}.>`,
      allAlerts: `${ns}.alerts.>`,
      caseEvent: (caseId) => `${ns}.cases.${token(caseId)}`,
      allCases: `${ns}.cases.>`,
      deadletter: (service, reason) => `${ns}.deadletter.${token(service)}.${token(reason)}`,
      allDeadletters: `${ns}.deadletter.>`,
      securityEvents: `${ns}.security.events`,
    },
    kv: {
      deviceMap: isDefault ? 'device-map' : `${ns}-device-map`,
      dc09Accounts: isDefault ? 'dc09-accounts' : `${ns}-dc09-accounts`,
      dc09Clocks: isDefault ? 'dc09-clocks' : `${ns}-dc09-clocks`,
      triageLeases: isDefault ? 'triage-leases' : `${ns}-triage-leases`,
      triageRules: isDefault ? 'triage-rules' : `${ns}-triage-rules`,
      residentAway: isDefault ? 'resident-away' : `${ns}-resident-away`,
      triageTimers: isDefault ? 'triage-timers' : `${ns}-triage-timers`,
      triageIndexGaps: isDefault ? 'triage-index-gaps' : `${ns}-triage-index-gaps`,
    },
    schema: (service) => (isDefault ? service : `${ns}_${service}`),
    redisPrefix: `${ns}:`,
    mqtt: deviceTopics(namespace),
    mqttClientIds: { gateway: `${ns}-gateway-mqtt`, device: (serial) => serial },
  };
}

/**
 * The partition of a resident: FNV-1a of the id, modulo the partition count. Gateways and
 * triage agree on it, so one resident's events stay in order on one partition.
 */
export function partitionOf(residentId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < residentId.length; i++) {
    h ^= residentId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

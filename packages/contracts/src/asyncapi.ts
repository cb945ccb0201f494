import { z } from 'zod';
import { Alert } from './alert.ts';
import { CaseEvent } from './case.ts';
import { DeadLetter } from './deadletter.ts';
import { DeviceAck, DeviceConfig, DeviceEventPayload, DeviceStatus } from './device.ts';
import { TelecareEvent } from './envelope.ts';
import { SecurityEvent } from './security.ts';
import { TAXONOMY } from './taxonomy.ts';

const schema = (type: z.ZodType) => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(type, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
};

/**
 * The AsyncAPI 3 document of the platform's message contracts, generated from the zod schemas
 * so that it cannot drift from the code. `pnpm asyncapi` writes it to `asyncapi.json`.
 */
export function asyncApiDocument(): Record<string, unknown> {
  const taxonomy = Object.entries(TAXONOMY).map(([type, info]) => ({ type, ...info }));
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Telecare event pipeline',
      version: '1.0.0',
      description:
        'Device MQTT contract (v1) and the internal NATS JetStream streams. Event types and their default priorities are listed under x-taxonomy.',
      'x-taxonomy': taxonomy,
    },
    servers: {
      mosquitto: {
        host: 'localhost:1883',
        protocol: 'mqtt',
        protocolVersion: '5',
        description:
          'Device broker. Devices may connect with MQTT 3.1, 3.1.1 or 5: the contract is the same.',
      },
      nats: {
        host: 'localhost:4222',
        protocol: 'nats',
        description: 'NATS JetStream, the durable log between services',
      },
    },
    channels: {
      deviceEvents: {
        address: 'telecare/v1/devices/{serial}/events',
        parameters: { serial: { description: 'Device serial' } },
        servers: [{ $ref: '#/servers/mosquitto' }],
        messages: { deviceEvent: { $ref: '#/components/messages/deviceEvent' } },
      },
      deviceAck: {
        address: 'telecare/v1/devices/{serial}/ack',
        parameters: { serial: { description: 'Device serial' } },
        servers: [{ $ref: '#/servers/mosquitto' }],
        messages: { deviceAck: { $ref: '#/components/messages/deviceAck' } },
      },
      deviceStatus: {
        address: 'telecare/v1/devices/{serial}/status',
        parameters: { serial: { description: 'Device serial' } },
        servers: [{ $ref: '#/servers/mosquitto' }],
        messages: { deviceStatus: { $ref: '#/components/messages/deviceStatus' } },
      },
      deviceConfig: {
        address: 'telecare/v1/devices/{serial}/config',
        parameters: { serial: { description: 'Device serial' } },
        servers: [{ $ref: '#/servers/mosquitto' }],
        messages: { deviceConfig: { $ref: '#/components/messages/deviceConfig' } },
      },
      events: {
        address: 'telecare.events.{partition}.{type}',
        description:
          'Stream EVENTS (42 days or its share of the JetStream store, whichever holds less, oldest out first). One partition per resident (FNV-1a of the resident id).',
        parameters: {
          partition: { description: 'Partition number' },
          type: { description: 'Taxonomy type' },
        },
        servers: [{ $ref: '#/servers/nats' }],
        messages: { event: { $ref: '#/components/messages/event' } },
      },
      alerts: {
        address: 'telecare.alerts.{priority}.{residentId}',
        description: 'Stream ALERTS. Priority is p1…p5.',
        parameters: {
          priority: { enum: ['p1', 'p2', 'p3', 'p4', 'p5'] },
          residentId: { description: 'Resident id' },
        },
        servers: [{ $ref: '#/servers/nats' }],
        messages: { alert: { $ref: '#/components/messages/alert' } },
      },
      cases: {
        address: 'telecare.cases.{caseId}',
        description: 'Stream CASES: every append-only case event.',
        parameters: { caseId: { description: 'Case id' } },
        servers: [{ $ref: '#/servers/nats' }],
        messages: { caseEvent: { $ref: '#/components/messages/caseEvent' } },
      },
      deadletter: {
        address: 'telecare.deadletter.{service}.{reason}',
        description: 'Stream DEADLETTER: refused input with its raw bytes.',
        parameters: {
          service: { description: 'Refusing service' },
          reason: { description: 'Reject reason' },
        },
        servers: [{ $ref: '#/servers/nats' }],
        messages: { deadLetter: { $ref: '#/components/messages/deadLetter' } },
      },
      securityEvents: {
        address: 'telecare.security.events',
        description:
          "Stream SECURITY (30 days, 256 MiB or less on a small JetStream store, 1,000,000 events, oldest out first): misuse a service refused (a reveal over its rate limit, a forged DC-09 frame, an alarm from the wrong kind of device, a cancel triage did not take). The gateways and triage publish theirs with a Nats-Msg-Id of their own (sec_…; triage's from the alert and the cancel, so a redelivered event raises it once); the helpline stores every service's once in its list. A helpline that does not know a kind dead-letters that event (the others are stored): upgrade the helpline before the services that raise a new kind.",
        servers: [{ $ref: '#/servers/nats' }],
        messages: { securityEvent: { $ref: '#/components/messages/securityEvent' } },
      },
    },
    operations: {
      sendDeviceEvent: { action: 'receive', channel: { $ref: '#/channels/deviceEvents' } },
      ackDevice: { action: 'send', channel: { $ref: '#/channels/deviceAck' } },
      receiveDeviceStatus: { action: 'receive', channel: { $ref: '#/channels/deviceStatus' } },
      sendDeviceConfig: { action: 'send', channel: { $ref: '#/channels/deviceConfig' } },
      publishEvent: { action: 'send', channel: { $ref: '#/channels/events' } },
      publishAlert: { action: 'send', channel: { $ref: '#/channels/alerts' } },
      publishCaseEvent: { action: 'send', channel: { $ref: '#/channels/cases' } },
      publishDeadLetter: { action: 'send', channel: { $ref: '#/channels/deadletter' } },
      publishSecurityEvent: { action: 'send', channel: { $ref: '#/channels/securityEvents' } },
    },
    components: {
      messages: {
        deviceEvent: {
          contentType: 'application/json',
          payload: schema(DeviceEventPayload),
          description:
            "The platform names the event by the serial, id, at exactly as written and type (eventIdFor): a resend of the same payload is deduplicated and acked stored again; an id used before with another at or type is a new event (device counters start again after a battery change or firmware update). A time more than 5 minutes ahead of the platform's clock, more than 7 days behind it (a clock reset after a power cut), or more than an hour before the device was paired with its home (the device map's pairedAt: no backlog can be older), is kept in devicetime and the event is dated on receipt; except that a time in the device's previous pairing (the device map's previousPairing, before its endedAt, even within the hour before pairedAt: a backlog held from the home it was moved from) makes the event the previous resident's, at its own time, with movedat set (a life-critical alarm so timed but received within 5 minutes of its time excepted: made now by a slow clock, the current resident's dated on receipt), and a time from its endedAt until pairedAt less the hour (the device was in stock), with no previous pairing from the device map's stockedAt until pairedAt less the hour (in stock before its first pairing), or before the previous pairing began is no resident's: refused as an unpaired device's (unknown-device) and dead-lettered, except a life-critical alarm, the current resident's dated on receipt (its clock may have stood still between homes) (attributeEvent). A life-critical alarm (priority 1) whose type is readable but which breaks this schema elsewhere (time, id, seq, data) is still stored, with what is usable, dated on receipt when its time is unreadable, and acked stored; its bytes are also dead-lettered (reason schema). Any other event that breaks it is rejected. data is at most MAX_EVENT_DATA_BYTES (1024) bytes as JSON: larger is rejected (schema), except for a life-critical alarm, stored without its data. The type must be one the device's registered kind reports (KIND_REPORTS, mayReport): any other is rejected (type-not-for-kind), except a life-critical alarm, which is stored all the same.",
        },
        deviceAck: { contentType: 'application/json', payload: schema(DeviceAck) },
        deviceStatus: { contentType: 'text/plain', payload: schema(DeviceStatus) },
        deviceConfig: { contentType: 'application/json', payload: schema(DeviceConfig) },
        event: { contentType: 'application/cloudevents+json', payload: schema(TelecareEvent) },
        alert: { contentType: 'application/json', payload: schema(Alert) },
        caseEvent: { contentType: 'application/json', payload: schema(CaseEvent) },
        deadLetter: { contentType: 'application/json', payload: schema(DeadLetter) },
        securityEvent: { contentType: 'application/json', payload: schema(SecurityEvent) },
      },
    },
  };
}

import { z } from 'zod';
import { DeviceEventTypeSchema, DeviceKind } from './taxonomy.ts';

/** A device serial: safe in an MQTT topic, a NATS subject token and a KV key. */
export const Serial = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/,
    'serial must be 3–64 letters, digits, _ or -, starting alphanumeric',
  );

const IsoDateTime = z.iso.datetime({ offset: true });

/** Type-specific data fields; a type not listed here carries any JSON object. */
export const EVENT_DATA_SCHEMAS = {
  heartbeat: z.object({
    batteryPercent: z.number().min(0).max(100).optional(),
    signalDbm: z.number().min(-150).max(0).optional(),
    mains: z.boolean().optional(),
  }),
  temperature: z.object({ celsius: z.number().min(-50).max(100) }),
  'battery.low': z.object({ batteryPercent: z.number().min(0).max(100).optional() }),
  'medication.taken': z.object({ doseId: z.string().max(64).optional() }),
  'medication.due': z.object({ doseId: z.string().max(64).optional() }),
} as const satisfies Record<string, z.ZodType>;

/**
 * What a device publishes on `telecare/v1/devices/{serial}/events` (QoS 1).
 * The device resends the same payload (the same `id` and `at`) until acked. `id`, `at` as written
 * and `type` together name the event (`eventIdFor`): an `id` the device used before, with another
 * time, is a new event (a counter that started again after a battery change).
 */
export const DeviceEventPayload = z
  .object({
    id: z
      .string()
      .min(8)
      .max(64)
      .regex(/^[\x21-\x7e]+$/, 'id must be printable ASCII without spaces'),
    type: DeviceEventTypeSchema,
    at: IsoDateTime,
    seq: z.number().int().nonnegative().optional(),
    data: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((payload, ctx) => {
    const schema = (EVENT_DATA_SCHEMAS as Record<string, z.ZodType>)[payload.type];
    if (!schema) return;
    const result = schema.safeParse(payload.data);
    if (!result.success) {
      for (const issue of result.error.issues) {
        ctx.addIssue({ code: 'custom', path: ['data', ...issue.path], message: issue.message });
      }
    }
  });
export type DeviceEventPayload = z.infer<typeof DeviceEventPayload>;

/** Platform → device on `…/{serial}/ack`. */
export const DeviceAck = z.union([
  z.object({ id: z.string(), stored: z.literal(true) }),
  z.object({ id: z.string().optional(), rejected: z.string() }),
]);
export type DeviceAck = z.infer<typeof DeviceAck>;

/** Retained on `…/{serial}/status`; the will message is `offline`. */
export const DeviceStatus = z.enum(['online', 'offline']);

/** Retained on `…/{serial}/config`. */
export const DeviceConfig = z.object({
  heartbeatIntervalS: z.number().int().positive(),
  testMode: z.boolean(),
});
export type DeviceConfig = z.infer<typeof DeviceConfig>;

export const DeviceProtocol = z.enum(['mqtt', 'dc09']);
export const DeviceState = z.enum(['stock', 'installed', 'test', 'faulty', 'decommissioned']);

/**
 * One entry of the device map the registry publishes (NATS KV, key = serial) for gateways and
 * triage. Ids and places only — no names.
 */
export const DeviceMapEntry = z.object({
  serial: Serial,
  deviceId: z.string(),
  residentId: z.string(),
  kind: DeviceKind,
  protocol: DeviceProtocol,
  location: z.string().max(64).nullable(),
  supervisionIntervalS: z.number().int().positive().nullable(),
  state: DeviceState,
  testMode: z.boolean(),
  postcodeDistrict: z.string().max(8).nullable(),
  updatedAt: IsoDateTime,
});
export type DeviceMapEntry = z.infer<typeof DeviceMapEntry>;

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
 * The most a device event's `data` may hold, as JSON text in UTF-8. A device event is a few
 * hundred bytes; the gateway reads payloads up to 64 KiB only to refuse them in words. Every
 * stored event is kept in EVENTS for weeks, so a stolen login sending the largest payload it may,
 * at its device's rate, would fill the disk every device's alarms are stored on.
 */
export const MAX_EVENT_DATA_BYTES = 1024;

const utf8Length = (text: string): number => new TextEncoder().encode(text).byteLength;

/** Whether `data` as JSON text is longer than `MAX_EVENT_DATA_BYTES` (the cheap test first). */
export function dataTooLarge(data: Record<string, unknown>): number | undefined {
  const text = JSON.stringify(data);
  if (text.length <= MAX_EVENT_DATA_BYTES / 3) return undefined;
  const bytes = utf8Length(text);
  return bytes > MAX_EVENT_DATA_BYTES ? bytes : undefined;
}

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
    const size = dataTooLarge(payload.data);
    if (size !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['data'],
        message: `data is ${size} bytes of JSON; the limit is ${MAX_EVENT_DATA_BYTES}`,
      });
      return;
    }
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
 * The device's pairing before the one it is in now: the resident it was with, when that began
 * (where known) and when it ended (the device left for stock or went straight to another home).
 * A backlog the device held from that home (timed before `endedAt`, even within the hour before the
 * current pairing) is that resident's; a time from `endedAt` until the current pairing (in stock),
 * or before `pairedAt`, is nobody's (`attributeEvent`).
 */
export const PreviousPairing = z.object({
  residentId: z.string(),
  pairedAt: IsoDateTime.optional(),
  endedAt: IsoDateTime,
});
export type PreviousPairing = z.infer<typeof PreviousPairing>;

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
  /**
   * When the device joined this resident's home (paired). A device time more than an hour earlier,
   * or in `previousPairing` (the hour never reaches back into it), is not this home's: the previous
   * resident's in that pairing, nobody's in stock (`stockedAt`), else a wrong clock
   * (`attributeEvent`). Absent from entries written before it was kept, which are read as they were.
   */
  pairedAt: IsoDateTime.optional(),
  /**
   * The device's pairing before this one, when it had one with another resident (or with this one,
   * before a spell in stock): an event the device sends now with a time in it happened there and
   * is that resident's, at its own time; one in the spell in stock after it, or before it began, is
   * nobody's (`attributeEvent`). Absent for a device that had no earlier
   * pairing, or whose earlier pairing ended before it was kept.
   */
  previousPairing: PreviousPairing.optional(),
  /**
   * When the device entered stock before this pairing: registered into stock, or taken back from
   * its previous home (then `previousPairing.endedAt`). Without a previous pairing, a time from then
   * until `pairedAt` less the hour was the device's in stock and is nobody's, and one before it (the
   * device not yet registered) a wrong clock (`attributeEvent`). Absent when the device came
   * straight from another home or was registered with its resident, and from entries written before
   * it was kept, which are read as they were.
   */
  stockedAt: IsoDateTime.optional(),
  updatedAt: IsoDateTime,
});
export type DeviceMapEntry = z.infer<typeof DeviceMapEntry>;

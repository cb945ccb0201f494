import { z } from 'zod';

/** Why a message was refused; stable strings used in metrics, dead-letter subjects and acks. */
export const RejectReason = z.enum([
  'not-json',
  'schema',
  'unknown-device',
  'serial-mismatch',
  'device-not-active',
  'unknown-code',
  'bad-frame',
  'unhandled',
]);
export type RejectReason = z.infer<typeof RejectReason>;

/** A dead-letter entry: the raw bytes (base64) with what went wrong, so nothing is silently lost. */
export const DeadLetter = z.object({
  id: z.string(),
  at: z.iso.datetime({ offset: true }),
  service: z.string(),
  reason: RejectReason,
  detail: z.string(),
  /** Where it came from: MQTT topic, DC-09 peer, stream subject. */
  origin: z.string(),
  rawBase64: z.string(),
  /**
   * The input's size in bytes when `rawBase64` holds only its first bytes: oversized input is
   * kept as a bounded prefix so its dead letter always fits in a NATS message.
   */
  truncatedFrom: z.number().int().positive().optional(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

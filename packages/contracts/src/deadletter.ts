import { z } from 'zod';

/** Why a message was refused; stable strings used in metrics, dead-letter subjects and acks. */
export const RejectReason = z.enum([
  'not-json',
  'schema',
  'unknown-device',
  'serial-mismatch',
  /** A type the device's kind does not report (`mayReport`): a door contact sending `medication.taken`. */
  'type-not-for-kind',
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
  /**
   * DC-09 only: the account the frame named (upper-case hex), in its header or at the head of its
   * plain data, whenever the frame could be read that far, refused after that or not: the registry
   * shows the refusal in that account's device's test call and health. The sender of a refused
   * frame is not authenticated (anyone can write any account there): for display, never to act on.
   * Absent from letters written before it existed, and from frames too broken to name an account.
   */
  account: z
    .string()
    .regex(/^[0-9A-F]{3,16}$/)
    .optional(),
  rawBase64: z.string(),
  /**
   * The input's size in bytes when `rawBase64` holds only its first bytes: oversized input is
   * kept as a bounded prefix so its dead letter always fits in a NATS message.
   */
  truncatedFrom: z.number().int().positive().optional(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;

/**
 * The detail of the dead letter gateway-mqtt keeps for a life-critical alarm it stored although
 * its payload broke the contract: `stored as <type>[, dated on receipt]: <what was wrong>`. The
 * registry reads it back to tell the installer the device still needs putting right.
 */
export interface RepairedAlarm {
  readonly type: string;
  /** Its device time could not be read: the event is dated on receipt. */
  readonly datedOnReceipt: boolean;
  /** The schema's words: `at: Invalid ISO datetime`. */
  readonly wrong: string;
}

export const repairedAlarmDetail = (alarm: RepairedAlarm): string =>
  `stored as ${alarm.type}${alarm.datedOnReceipt ? ', dated on receipt' : ''}: ${alarm.wrong}`;

const REPAIRED_ALARM = /^stored as ([a-z0-9.-]+)(, dated on receipt)?: (.*)$/s;

/** The repaired alarm a `schema` dead letter's detail names, or undefined for a refusal. */
export function readRepairedAlarm(detail: string): RepairedAlarm | undefined {
  const m = REPAIRED_ALARM.exec(detail);
  return m ? { type: m[1]!, datedOnReceipt: m[2] !== undefined, wrong: m[3]! } : undefined;
}

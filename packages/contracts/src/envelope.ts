import { z } from 'zod';
import { Serial } from './device.ts';
import { EventTypeSchema } from './taxonomy.ts';

/**
 * The internal event: CloudEvents 1.0, structured JSON mode. Extension attributes are
 * lower-case per the spec. Carries ids only — no names.
 */
export const TelecareEvent = z.object({
  specversion: z.literal('1.0'),
  id: z.string().regex(/^evt_[0-9a-f]{32}$/),
  /** URI-reference of the producer, e.g. `/gateway-mqtt`. */
  source: z.string().min(1),
  type: EventTypeSchema,
  /** The device serial. */
  subject: Serial,
  /**
   * Event time, as the device reported it; the receipt time instead when the device's clock was
   * more than a few minutes ahead or more than a week behind (then `devicetime` holds what the
   * device said), or when a life-critical alarm's time could not be read at all (the gateway stores
   * the alarm anyway).
   */
  time: z.iso.datetime({ offset: true }),
  /**
   * Set only when the device reported a time too far in the future, or too far in the past, to
   * believe: that time, kept as evidence of a wrong (or forged) device clock. A future time would
   * otherwise order the event after everything else and make the device look alive until then; a
   * clock reset after a power cut (1970, 2000) would date every event outside what triage keeps,
   * and the home would look silent.
   */
  devicetime: z.iso.datetime({ offset: true }).optional(),
  datacontenttype: z.literal('application/json'),
  residentid: z.string().min(1),
  devicekind: z.string().min(1),
  deviceeventid: z.string().min(1),
  partition: z.number().int().nonnegative(),
  /** When the platform received it. */
  receivedat: z.iso.datetime({ offset: true }),
  testmode: z.boolean(),
  seq: z.number().int().nonnegative().optional(),
  location: z.string().optional(),
  postcodedistrict: z.string().optional(),
  /** Provenance: the source protocol code (Contact ID `1101`, SIA `QA`…) when mapped. */
  sourcecode: z.string().optional(),
  traceparent: z.string().optional(),
  /**
   * `previous`: a DC-09 message that decrypted only with its account's previous key, accepted in
   * the grace after a key change; the panel is not re-keyed yet. Absent otherwise.
   */
  dc09key: z.literal('previous').optional(),
  data: z.record(z.string(), z.unknown()),
});
export type TelecareEvent = z.infer<typeof TelecareEvent>;

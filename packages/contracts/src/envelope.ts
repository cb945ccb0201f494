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
   * more than a few minutes ahead, more than a week behind, or earlier than the device was paired
   * with its home and not in its previous pairing, or for a life-critical alarm timed while the
   * device was in stock, or in its previous pairing but heard within minutes (a slow clock in the
   * new home) (`attributeEvent`; then `devicetime` holds what the device said; in the previous
   * pairing see `movedat`), or when a
   * life-critical alarm's time could not be read at all (the gateway stores the alarm anyway).
   */
  time: z.iso.datetime({ offset: true }),
  /**
   * Set only when the device reported a time too far in the future, or too far in the past (or
   * before the device joined the home), to believe: that time, kept as evidence of a wrong (or forged) device clock. A future time would
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
  /**
   * Set when the device sent the event after it was moved to another home and its time falls in
   * the device's previous pairing (`attributeEvent`): the event happened at the previous home, so
   * `residentid` is the previous resident's and `time` the device's; this is when the device left
   * that home. Triage says so in the alert's reason ("sent after the device was moved: happened at
   * the previous home") and the helpline on the case. Such an event carries neither `location` nor
   * `postcodedistrict` (the device map's are the new home's) and is never in test mode (the new
   * home's test mode is not the old one's).
   */
  movedat: z.iso.datetime({ offset: true }).optional(),
  /**
   * Set when the device's time could mean another instant too and nothing the gateway knew ruled it
   * out: a DC-09 panel's clock on local time showing a time of the hour repeated when the clocks go
   * back (01:30 on the night they do is two instants an hour apart), or a panel set to a zone whose
   * alarm may have been stamped on UTC. `time` is the instant taken; this is the other. Triage says
   * so in the alert's reason (`ambiguousTimeReason`), for the operator to ask.
   */
  alttime: z.iso.datetime({ offset: true }).optional(),
  /**
   * Set on a life-critical alarm of a type the device's registered kind (`devicekind`) does not
   * report (`mayReport`): a pull-cord pull from a pendant's login. Stored (an alarm is never lost:
   * more likely a device registered as the wrong kind), but attributed as what it is: triage says
   * so in the alert's reason (`unexpectedKindReason`), never merges it into the presses of another
   * device and lets no cancel close it, so a stolen login cannot hide a real alarm behind its own.
   */
  unexpectedkind: z.literal(true).optional(),
  /**
   * The type's fields (`EVENT_DATA_SCHEMAS` for a device's), then what the gateway adds: a DC-09
   * frame's zone, area, modifiers and text, and `padBroken` (the rule broken) on a life-critical
   * alarm taken from a frame whose pad broke the style its panel has shown, which triage says in
   * the alert's reason (`PAD_BROKEN_REASON`).
   */
  data: z.record(z.string(), z.unknown()),
});
export type TelecareEvent = z.infer<typeof TelecareEvent>;

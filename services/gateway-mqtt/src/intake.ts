import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  type DeviceAck,
  DeviceEventPayload,
  DeviceEventTypeSchema,
  dataTooLarge,
  type RejectReason,
  Serial,
  TAXONOMY,
} from '@telecare/contracts';
import { z } from 'zod';

/**
 * A device event is a few hundred bytes; anything far larger is refused before parsing so one
 * misbehaving device cannot stall the gateway or exceed the JetStream message size.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * A device event nests two levels (payload, data); anything much deeper is refused before it is
 * parsed. JSON.parse copes with 20,000 levels in a few kilobytes, but every recursive step after
 * it (the schema, JSON.stringify) can overflow the stack, and then the message is neither stored
 * nor refused.
 */
export const MAX_NESTING = 16;

/** Long enough for any valid device event id (64) and for a wrong one to be recognisable. */
const MAX_ECHOED_ID = 128;

/** Read from the start of a refused payload that is not parsed, so the device can be told which. */
const LEADING_ID = /^\s*\{\s*"id"\s*:\s*"([^"\\]{1,128})"/;

export interface Refusal {
  readonly ok: false;
  readonly reason: RejectReason;
  readonly detail: string;
  /** The device's own event id, when the payload had a readable one, so its ack can name it. */
  readonly deviceEventId?: string;
}

export interface Accepted {
  readonly ok: true;
  readonly payload: DeviceEventPayload;
  /**
   * A life-critical alarm the schema refused, read anyway (`asAlarm`): what was wrong with it, in
   * the schema's words. Its `at` is `UNDATED` when the device's time was unreadable.
   */
  readonly repaired?: string;
  /**
   * A repaired alarm's time as the device wrote it (JSON text when it was not a string, `''` when
   * it had none), which names the event with its id (`eventIdFor`): its `at` may be `UNDATED`, and
   * a resend of the same bytes must get the same id while the same id at another time must not.
   */
  readonly sentAt?: string;
}

/** The `at` of an alarm whose device time could not be read: the event is dated on receipt. */
export const UNDATED = '';

/** A device event id as the contract has it, less its minimum length: what dedupes a resend. */
const USABLE_ID = /^[\x21-\x7e]{1,64}$/;
const DeviceTime = z.iso.datetime({ offset: true });

const refuse = (reason: RejectReason, detail: string, deviceEventId?: string): Refusal =>
  deviceEventId === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, deviceEventId };

// fatal: invalid UTF-8 is refused as not-json rather than parsed with replacement characters.
const utf8 = new TextDecoder('utf-8', { fatal: true });

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads one message from a device's events topic: the checks that need nothing but the bytes
 * (JSON, schema, the serial in the payload against the topic's). The device map lookup comes
 * after, in the shell.
 */
export function readDeviceMessage(topicSerial: string, raw: Uint8Array): Accepted | Refusal {
  if (!Serial.safeParse(topicSerial).success) {
    return refuse('unknown-device', `topic serial ${JSON.stringify(topicSerial)} is not a valid serial`);
  }
  if (raw.byteLength > MAX_PAYLOAD_BYTES) {
    return refuse(
      'schema',
      `payload is ${raw.byteLength} bytes; the limit is ${MAX_PAYLOAD_BYTES}`,
      leadingId(raw),
    );
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return refuse('not-json', 'payload is not UTF-8');
  }
  if (nestedDeeperThan(text, MAX_NESTING)) {
    return refuse('schema', `JSON nests deeper than ${MAX_NESTING} levels`, leadingId(raw));
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return refuse('not-json', notJson(text, err));
  }
  const rawId =
    isRecord(json) && typeof json.id === 'string' && json.id.length <= MAX_ECHOED_ID ? json.id : undefined;
  const parsed = DeviceEventPayload.safeParse(json);
  let read: Accepted;
  if (parsed.success) read = { ok: true, payload: parsed.data };
  else {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ');
    const alarm = asAlarm(json, raw);
    if (!alarm) return refuse('schema', detail, rawId);
    read = { ok: true, payload: alarm, repaired: detail, sentAt: sentAtOf(json) };
  }
  // The schema strips unknown keys, so the optional `serial` is read from the raw object.
  if (isRecord(json) && Object.hasOwn(json, 'serial') && json.serial !== topicSerial) {
    // The topic's serial is checked above; the payload's is whatever the device wrote, not quoted.
    return refuse('serial-mismatch', `payload serial is not the topic's ${topicSerial}`, read.payload.id);
  }
  return read;
}

/**
 * A life-critical alarm (DESIGN §4, P1: a press, a fall, smoke, CO...) whose type is readable but
 * whose payload breaks the contract elsewhere: a time with no offset or in another form, a short
 * id, a bad `seq` or `data`, as real hubs send. Refused, the alarm would reach no operator (the
 * device told it was rejected stops resending), so it is read with what is usable: the device's id
 * when it has one (else one made from the bytes, so a resend of the same bytes is the same event),
 * its time when it reads as the contract's (else `UNDATED`: dated on receipt), a valid `seq`,
 * `data` when it is an object within `MAX_EVENT_DATA_BYTES`. Anything else is not an alarm, and
 * stays refused.
 */
function asAlarm(json: unknown, raw: Uint8Array): DeviceEventPayload | undefined {
  if (!isRecord(json)) return undefined;
  const type = DeviceEventTypeSchema.safeParse(json.type);
  if (!type.success || TAXONOMY[type.data].priority !== 1) return undefined;
  const id =
    typeof json.id === 'string' && USABLE_ID.test(json.id)
      ? json.id
      : `unread~${createHash('sha256').update(raw).digest('hex').slice(0, 24)}`;
  const at = DeviceTime.safeParse(json.at);
  const alarm: DeviceEventPayload = {
    id,
    type: type.data,
    at: at.success ? at.data : UNDATED,
    // Data over the bound is dropped, not stored: the alarm is what must reach an operator.
    data: isRecord(json.data) && dataTooLarge(json.data) === undefined ? json.data : {},
  };
  if (Number.isSafeInteger(json.seq) && (json.seq as number) >= 0) alarm.seq = json.seq as number;
  return alarm;
}

/** The device's `at` as it wrote it: its string, other JSON as text, nothing as `''`. */
function sentAtOf(json: unknown): string {
  const at = isRecord(json) ? json.at : undefined;
  if (typeof at === 'string') return at;
  return at === undefined ? '' : JSON.stringify(at);
}

/**
 * What is wrong with text JSON.parse refused, in our own words. Its message quotes the text around
 * the fault, and a payload may carry personal data that must reach neither a log nor an ack: only
 * the byte offset is kept, where the message gives one.
 */
function notJson(text: string, err: unknown): string {
  const at = err instanceof Error ? /\bposition (\d+)\b/.exec(err.message) : null;
  if (!at) return 'payload is not JSON';
  const chars = Number(at[1]);
  return `payload is not JSON at byte ${Buffer.byteLength(text.slice(0, chars), 'utf8')}`;
}

/** The device's event id if the payload starts with it, as the contract's examples do. */
function leadingId(raw: Uint8Array): string | undefined {
  const head = Buffer.from(raw.subarray(0, 256)).toString('utf8');
  return LEADING_ID.exec(head)?.[1];
}

/**
 * Whether JSON text opens more than `max` arrays and objects at once, counted in one pass over the
 * text (brackets inside strings do not count), so the depth is known before anything recurses.
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The longest top-level `type` `topLevelType` reads: longer than any type, short of any payload. */
const MAX_TYPE_BYTES = 64;

const TYPE_KEY = Buffer.from('type');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The type a device message gives itself, found without decoding or parsing it: the string value
 * of its top-level object's `type` (the last one, as JSON.parse keeps the last of a repeated key),
 * in one pass over the bytes that allocates nothing but the answer. A type named anywhere else (a
 * heartbeat's `data`, a nested object, a key) is not its type. Undefined whenever the bytes would
 * not read as that type: not one object, not UTF-8, nested deeper than `MAX_NESTING`, a top-level
 * key or the type written with escapes (valid JSON, which no device writes, and which a byte
 * search cannot tell from another key), or the type not a string within `MAX_TYPE_BYTES`.
 */
export function topLevelType(payload: Uint8Array): string | undefined {
  // A view, not a copy: its native searches skip a string's bytes.
  const raw = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let i = 0;
  // A byte-order mark, which the decoder drops before JSON.parse sees the text.
  if (raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) i = 3;
  while (i < raw.length && isJsonSpace(raw[i] as number)) i++;
  if (raw[i] !== 0x7b || !isUtf8(raw)) return undefined;
  let depth = 1;
  /** At the top level: a key is next (after `{` or `,`), else a value or punctuation. */
  let keyNext = true;
  /** The last top-level key read was `type`, and its value is next. */
  let typeNext = false;
  let type: { start: number; end: number } | undefined;
  for (i++; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c === QUOTE) {
      const start = i + 1;
      i = stringEnd(raw, start);
      if (i < 0) return undefined;
      if (depth > 1) continue;
      const text = raw.subarray(start, i);
      const escaped = text.includes(BACKSLASH);
      if (keyNext) {
        if (escaped) return undefined;
        keyNext = false;
        typeNext = text.equals(TYPE_KEY);
      } else if (typeNext) {
        typeNext = false;
        type = escaped || i - start > MAX_TYPE_BYTES ? undefined : { start, end: i };
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (depth === 1 && typeNext) {
        typeNext = false;
        type = undefined;
      }
      if (++depth > MAX_NESTING) return undefined;
    } else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) break;
    } else if (depth === 1) {
      if (c === 0x2c) keyNext = true;
      else if (typeNext && c !== 0x3a && !isJsonSpace(c)) {
        // A number, true, false or null: not a type.
        typeNext = false;
        type = undefined;
      }
    }
  }
  // Unclosed, or more than one value: JSON.parse refuses it.
  if (depth !== 0) return undefined;
  for (i++; i < raw.length; i++) if (!isJsonSpace(raw[i] as number)) return undefined;
  return type && raw.toString('utf8', type.start, type.end);
}

/** Where the JSON string whose text starts at `start` ends (its closing quote), or -1 if it does not. */
function stringEnd(raw: Buffer, start: number): number {
  for (let from = start; ; ) {
    const quote = raw.indexOf(QUOTE, from);
    if (quote < 0) return -1;
    // Escaped when an odd number of backslashes stand before it.
    let before = quote - 1;
    while (before >= start && raw[before] === BACKSLASH) before--;
    if ((quote - 1 - before) % 2 === 0) return quote;
    from = quote + 1;
  }
}

export const storedAck = (deviceEventId: string): DeviceAck => ({ id: deviceEventId, stored: true });

export const rejectedAck = (refusal: Refusal): DeviceAck =>
  refusal.deviceEventId === undefined
    ? { rejected: `${refusal.reason}: ${refusal.detail}` }
    : { id: refusal.deviceEventId, rejected: `${refusal.reason}: ${refusal.detail}` };

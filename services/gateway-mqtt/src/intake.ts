import { type DeviceAck, DeviceEventPayload, type RejectReason, Serial } from '@telecare/contracts';

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
}

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
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ');
    return refuse('schema', detail, rawId);
  }
  // The schema strips unknown keys, so the optional `serial` is read from the raw object.
  if (isRecord(json) && Object.hasOwn(json, 'serial') && json.serial !== topicSerial) {
    // The topic's serial is checked above; the payload's is whatever the device wrote, not quoted.
    return refuse('serial-mismatch', `payload serial is not the topic's ${topicSerial}`, parsed.data.id);
  }
  return { ok: true, payload: parsed.data };
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

export const storedAck = (deviceEventId: string): DeviceAck => ({ id: deviceEventId, stored: true });

export const rejectedAck = (refusal: Refusal): DeviceAck =>
  refusal.deviceEventId === undefined
    ? { rejected: `${refusal.reason}: ${refusal.detail}` }
    : { id: refusal.deviceEventId, rejected: `${refusal.reason}: ${refusal.detail}` };

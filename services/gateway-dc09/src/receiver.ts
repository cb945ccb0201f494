import { createHash, randomBytes } from 'node:crypto';
import {
  attributeEvent,
  type Dc09AccountEntry,
  type Dc09KeyEncoding,
  eventIdOfKey,
  mayReport,
  partitionOf,
  type RejectReason,
  TAXONOMY,
  type TelecareEvent,
  type UnpairedTime,
} from '@telecare/contracts';
import {
  changeNear,
  dayOff,
  type PanelClockBook,
  type PanelSeen,
  type PanelStamp,
  type PanelZone,
  panelZone,
  readingsOf,
  readPanelStamp,
  wallClock,
  wholeHoursOff,
  zoneName,
} from './clock.ts';
import { Dc09DecryptError, Dc09KeyError, decryptFrame, keyBytes } from './crypto.ts';
import {
  MAX_PANEL_AGE_MS,
  PartlyRead,
  panelTimeOf,
  readableText,
  readCidData,
  readSiaData,
  type SourceEvent,
  sourceCodeOf,
} from './data.ts';
import {
  ackFrame,
  type Content,
  ContentError,
  type CrcFormat,
  duhFrame,
  type Envelope,
  type EnvelopeRefusal,
  nakFrame,
  readContent,
  readEnvelope,
} from './frame.ts';
import { outsideText } from './free-text.ts';
import { mapEvent, unmappedDetail } from './mapping.ts';
import type { Occurrences, StampedMessages, StoredFrames } from './occurrences.ts';
import { type PadSeen, type PadStyleBook, padBreaks, padSeen } from './pad-styles.ts';
import { dataAccountOf, sameAccount } from './strict.ts';

export const EVENT_SOURCE = '/gateway-dc09';
/**
 * The account's device when the registry does not say what it is: a disperser or panel (the zone
 * says which sensor or pendant).
 */
const DEFAULT_DEVICE_KIND = 'home-unit';

export interface TimeWindow {
  /** How far the sender's clock may be behind ours. */
  readonly behindMs: number;
  /** How far it may be ahead. */
  readonly aheadMs: number;
  /**
   * How far behind a frame carrying a life-critical alarm may still be taken, late (`0` or absent:
   * not at all): a panel that lost its line sends its buffered alarms with their first timestamps.
   */
  readonly lateAlarmMs?: number;
}

/** A frame to remember once stored (`StoredFrames`): its key, and until when a copy of it may come. */
export interface Remember {
  readonly key: string;
  readonly until: number;
  /** Held for as long as it could be taken late, past the window (a life-critical alarm). */
  readonly lasting?: boolean;
  /** The sequence number it came under (`StoredFrame.seq`). */
  readonly seq?: string;
}

export interface Refusal {
  readonly reason: RejectReason;
  readonly detail: string;
}

/**
 * What to do with one frame: the events to store (all of them before the reply goes out), the
 * reply, and what to dead-letter with the raw frame.
 */
export interface Interpretation {
  readonly reply: 'ACK' | 'NAK' | 'DUH';
  readonly replyFrame: Buffer;
  readonly events: readonly TelecareEvent[];
  readonly refusal?: Refusal;
  /** Set when the frame named a known account. */
  readonly account?: string;
  /**
   * On a refusal, the account the frame named (upper-case hex), known or not, whenever its
   * envelope could be read: what its dead letter names, so the registry can show it to that
   * account's installer. Unauthenticated: anyone can write any account in a frame.
   */
  readonly named?: string;
  readonly serial?: string;
  /** The bytes are not a DC-09 frame at all (framing, CRC, length or header). */
  readonly notAFrame?: boolean;
  /** An accepted NULL poll. */
  readonly poll?: boolean;
  /**
   * The frame decrypted only with its account's previous key, within that key's grace: answered
   * as any other (the ACK encrypted with that key), its events marked `dc09key: previous`.
   */
  readonly previousKey?: boolean;
  /**
   * Mapped types the account's device kind does not report (`mayReport`): a life-critical alarm
   * `stored` all the same, anything else `refused` (not stored; the frame is still ACKed).
   */
  readonly mismatched?: readonly { readonly type: string; readonly disposition: 'stored' | 'refused' }[];
  /** Source codes (`CID 1999`, `SIA BA`) stored as `code.unmapped`. */
  readonly unmapped?: readonly string[];
  /**
   * A copy of a frame already stored (`StoredFrames`): answered as the stored frame was (ACK, or DUH),
   * nothing stored; `origin` is where the stored frame came from (over UDP a copy is answered only
   * there: the gateway).
   */
  readonly copy?: { readonly origin: string };
  /**
   * A timestamped frame to remember once its events are stored, until its timestamp leaves the window
   * (`lasting`: a frame carrying a life-critical alarm, until it could no longer be taken late).
   */
  readonly remember?: Remember;
  /**
   * Behind the window, taken all the same for the life-critical alarm it carries (`lateAlarmMs`):
   * only those alarms stored, at their own time.
   */
  readonly late?: boolean;
  /**
   * An encrypted frame refused as changed without its account's key (`FORGED`): counted, and raised
   * as a security event by the gateway.
   */
  readonly forged?: Forged;
  /**
   * Refused for a timestamp a whole number of hours from ours (to within the window), the account on
   * UTC: most likely a panel clock on local time (see `clockZone`). The hours, ahead positive.
   */
  readonly clockHoursOff?: number;
  /**
   * The mirror: an account on a zone whose stamp read there is this many whole hours from ours (to
   * within the window) and read as UTC is inside the window: most likely a panel clock on UTC. Its
   * life-critical alarms are taken at the UTC reading, anything else refused.
   */
  readonly zoneHoursOff?: number;
  /** What the frame showed of its panel's clock, to note once it is settled (`PanelClocks`). */
  readonly seen?: PanelSeen;
  /** Taken near a change of its zone's clocks (`changeNear`): what it showed is kept at once. */
  readonly seenAtChange?: boolean;
  /**
   * An accepted encrypted frame's pad, to note once the frame is stored (`PadStyleBook`), under the
   * account's registry entry (`updatedAt`) it was judged by.
   */
  readonly pad?: { readonly seen: PadSeen; readonly entry: string };
}

/**
 * Why an encrypted frame is taken for one changed without its key. `garbled`: the key is proven
 * (the content ends with a timestamp, or names the account) but the content is not laid out as DC-09
 * lays it out, or names no account before its events: a bit flip, blocks spliced, cut off or added.
 * `other-account`: the encrypted data names another account than the clear header (a frame sent
 * again under another home's header). `replayed`: the same account, sequence number and timestamp,
 * or the same account, timestamp and events, already accepted with other content (a bit flip or
 * splice whose garbled block fell in free text). `pad`: the pad breaks the style the account's
 * accepted frames have shown (`padBreaks`): a first block garbled so that the second reads as the
 * changer wants.
 */
export const FORGED = ['garbled', 'other-account', 'replayed', 'pad'] as const;
export type Forged = (typeof FORGED)[number];

export interface InterpretContext {
  readonly now: Date;
  readonly window: TimeWindow;
  readonly partitions: number;
  /**
   * `refuse`: an account without a key is answered exactly as an unknown one, so a plain frame
   * cannot speak for it and no answer tells which accounts exist.
   */
  readonly keyless: 'refuse' | 'allow';
  /** The account's entry, or undefined if the registry has none. May throw (transient). */
  readonly lookup: (account: string) => Promise<Dc09AccountEntry | undefined> | Dc09AccountEntry | undefined;
  /** The frame's envelope when the caller has already read it (`readEnvelope` of the same bytes). */
  readonly envelope?: Envelope | EnvelopeRefusal;
  /**
   * Which occurrence of its message a frame is (see `Occurrences`): a retransmission, stamped
   * anew or not, or the same message sent again as a new event. Without it, events are named by
   * the frame's content alone, and the same content again is always a copy.
   */
  readonly occurrences?: Occurrences;
  /** Timestamped frames already stored: the same frame again is a copy, ACKed and not stored. */
  readonly stored?: StoredFrames;
  /** What each encrypted message accepted said: the same again with other content is refused. */
  readonly stamped?: StampedMessages;
  /**
   * What was last seen of each zoned account's panel clock, to read a stamp that means two times
   * (`PanelClockBook`: it may have to be read first).
   */
  readonly clocks?: Pick<PanelClockBook, 'seen'>;
  /** What each account's accepted encrypted frames showed of its pads (may have to be read first). */
  readonly pads?: Pick<PadStyleBook, 'style'>;
}

const nak = (
  now: Date,
  reason: RejectReason,
  detail: string,
  account: Dc09AccountEntry | undefined,
  crcFormat: CrcFormat | undefined,
): Interpretation => ({
  reply: 'NAK',
  // Our time on the account's panel clock, where the frame named an account we know.
  replyFrame: nakFrame(wallClock(now, panelZone(account)), crcFormat),
  events: [],
  refusal: { reason, detail },
  ...(account ? { account: account.account, serial: account.serial } : {}),
});

/**
 * What a frame's event ids are derived from: what the sender said, not how it was padded or
 * encrypted, so a retransmission of the same message gives the same events and JetStream drops
 * the copy. One per frame, shared by its events.
 */
function digestOf(envelope: Envelope, content: string): string {
  return createHash('sha256')
    .update(`${envelope.id}\u001f${envelope.seq}\u001f${content}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Decoded keys, per account entry or previous key of one (an entry is replaced, not changed, when
 * the registry changes it).
 */
const KEYS = new WeakMap<object, Buffer>();

function keyOf(holder: { readonly key: string | null; readonly keyEncoding: Dc09KeyEncoding }): Buffer {
  let bytes = KEYS.get(holder);
  if (!bytes) {
    bytes = keyBytes(holder.key ?? '', holder.keyEncoding);
    KEYS.set(holder, bytes);
  }
  return bytes;
}

/**
 * Decrypts with the account's key, or, where that fails and the account's previous key is still in
 * its grace (`previousKey.until` after the frame's arrival), with the previous key: a panel keeps
 * sending with its old key until an installer re-programs it on site, and its alarms must not be
 * refused meanwhile. Throws the current key's error when neither reads it.
 */
function decryptFor(
  entry: Dc09AccountEntry,
  rest: string,
  now: Date,
): { plain: string; pad: Buffer; key: Buffer; previous: boolean } {
  try {
    const key = keyOf(entry);
    const { content, pad } = decryptFrame(rest, key, entry.account);
    return { plain: content, pad, key, previous: false };
  } catch (err) {
    const previous = entry.previousKey;
    if (!previous || now.getTime() >= Date.parse(previous.until)) throw err;
    if (!(err instanceof Dc09KeyError || err instanceof Dc09DecryptError)) throw err;
    try {
      const key = keyOf(previous);
      const { content, pad } = decryptFrame(rest, key, entry.account);
      return { plain: content, pad, key, previous: true };
    } catch (old) {
      // A frame of the old key's changed without it is that, and refused as such.
      if (old instanceof Dc09DecryptError && old.tampered) throw old;
      // Otherwise what the installer must put right is the current key's failure, not the old one's.
      throw err;
    }
  }
}

function buildEvent(input: {
  entry: Dc09AccountEntry;
  envelope: Envelope;
  digest: string;
  index: string;
  type: TelecareEvent['type'];
  sourcecode?: string;
  data: Record<string, unknown>;
  /** When it happened, if the event says (SIA `ti`/`da`); else the message's timestamp. */
  at?: Date;
  /** The sender's clock, when the message carried one. */
  timestamp?: Date;
  /** Another instant the panel's time may mean (`PanelStamp.otherwise`). */
  alt?: Date;
  now: Date;
  partitions: number;
  /** Decrypted with the account's previous key (in its grace). */
  previousKey?: boolean;
}): TelecareEvent | UnpairedTime {
  const { entry, envelope } = input;
  const deviceEventId = `dc09-${entry.account}-${envelope.seq}-${input.digest}-${input.index}`;
  const receivedAt = input.now.toISOString();
  // The platform's one rule (gateway-mqtt's, `attributeEvent`): a time from before the panel was
  // paired with this home is the previous resident's when it falls in its previous pairing (a
  // panel moved between homes sending the backlog it held), else a wrong clock, dated on receipt.
  // A time when the panel was with nobody (in stock, or before its previous pairing) is nobody's:
  // no event, the caller refuses it as an unpaired device's.
  const dated = attributeEvent(
    (input.at ?? input.timestamp ?? input.now).toISOString(),
    receivedAt,
    entry,
    lifeCritical(input.type),
  );
  if (dated.residentId === null) return dated;
  const moved = dated.movedat !== undefined;
  return {
    specversion: '1.0',
    id: eventIdOfKey(entry.serial, deviceEventId),
    source: EVENT_SOURCE,
    type: input.type,
    subject: entry.serial,
    time: dated.time,
    ...(dated.devicetime === undefined ? {} : { devicetime: dated.devicetime }),
    datacontenttype: 'application/json',
    residentid: dated.residentId,
    devicekind: entry.kind ?? DEFAULT_DEVICE_KIND,
    deviceeventid: deviceEventId,
    partition: partitionOf(dated.residentId, input.partitions),
    receivedat: receivedAt,
    // The account's test mode and district are the new home's: an alarm from the previous one
    // reaches the queue, and counts in no area incident of the new district.
    testmode: moved ? false : entry.testMode || entry.state === 'test',
    // A sequence written in hex (`000B`) is echoed, not stated as a number it is not.
    ...(/^\d{4}$/.test(envelope.seq) ? { seq: Number(envelope.seq) } : {}),
    ...(moved || entry.postcodeDistrict === null ? {} : { postcodedistrict: entry.postcodeDistrict }),
    ...(input.sourcecode === undefined ? {} : { sourcecode: input.sourcecode }),
    ...(input.previousKey ? { dc09key: 'previous' as const } : {}),
    ...(moved ? { movedat: dated.movedat } : {}),
    // Only where the event is dated by the panel's time: one dated on receipt is not ambiguous.
    ...(input.alt && dated.devicetime === undefined ? { alttime: input.alt.toISOString() } : {}),
    data: input.data,
  };
}

const isUnpaired = (built: TelecareEvent | UnpairedTime): built is UnpairedTime => 'detail' in built;

/**
 * A heartbeat: the link is alive now, dated as the frame (its timestamp, checked against the time
 * window, or its arrival), so always the current pairing's. None in the impossible case where even
 * that falls when the panel was with nobody.
 */
const linkAlive = (built: TelecareEvent | UnpairedTime): TelecareEvent[] =>
  isUnpaired(built) ? [] : [built];

function eventData(event: SourceEvent, content: Content, condition?: string): Record<string, unknown> {
  // Text blocks (`[I…]`, a Dahua's `[R…]` room) may be 8-bit, as zone names are.
  const xdata = Object.fromEntries(content.xdata.map((block) => [block.tag, readableText(block.value)]));
  return {
    zone: event.zone,
    ...(event.area === undefined ? {} : { area: event.area }),
    ...(event.areaText === undefined ? {} : { areaText: event.areaText }),
    ...(event.modifiers === undefined ? {} : { modifiers: event.modifiers }),
    ...(event.modifierText === undefined ? {} : { modifierText: event.modifierText }),
    ...(event.text === undefined ? {} : { text: event.text }),
    ...(event.ascii === undefined ? {} : { ascii: event.ascii }),
    ...(condition === undefined ? {} : { condition }),
    ...(content.xdata.length ? { xdata } : {}),
  };
}

/**
 * The heartbeat's index: this receipt's, never the content's. A plain poll is the same bytes every
 * time, and a panel may poll again (or the network deliver a copy) within the same millisecond; an
 * index from the content or the clock alone would make two receipts one event, and JetStream's
 * duplicate window would drop the second. The process's own tag keeps two gateway instances apart.
 */
const receipts = { tag: randomBytes(4).toString('hex'), count: 0 };
const receiptIndex = (now: Date) => `hb-${now.getTime()}-${receipts.tag}-${(receipts.count++).toString(36)}`;

/**
 * Reads one frame and decides its fate. Pure apart from the account lookup; never throws for
 * anything in the frame (only a failing lookup throws, which is transient: no reply, the sender
 * retries).
 */
export async function interpretFrame(frame: Uint8Array, ctx: InterpretContext): Promise<Interpretation> {
  const { now } = ctx;
  const envelope = ctx.envelope ?? readEnvelope(frame);
  if (!envelope.ok) {
    const detail = `${envelope.problem}: ${envelope.detail}`;
    return { ...nak(now, 'bad-frame', detail, undefined, envelope.crcFormat), notAFrame: true };
  }
  const outcome = await interpretEnvelope(envelope, ctx);
  // Only a refusal needs it (its dead letter): an accepted frame is not copied for it.
  return outcome.refusal ? { ...outcome, named: envelope.account } : outcome;
}

async function interpretEnvelope(envelope: Envelope, ctx: InterpretContext): Promise<Interpretation> {
  const { now } = ctx;
  // Every NAK from here is framed as the frame wrote its CRC: the same bytes whatever the reason.
  const refuse = (reason: RejectReason, detail: string, account?: Dc09AccountEntry, forged?: Forged) => {
    const refusal = nak(now, reason, detail, account, envelope.crcFormat);
    return forged ? { ...refusal, forged } : refusal;
  };
  const entry = await ctx.lookup(envelope.account);
  if (!entry) return refuse('unknown-device', `no DC-09 account ${envelope.account}`);
  if (entry.key === null && ctx.keyless === 'refuse') {
    // The same reply as for an unknown account; only the dead letter says which it was.
    return refuse('unknown-device', `account ${entry.account} has no key; keyless accounts are refused`);
  }
  if (entry.state === 'decommissioned') {
    return refuse('device-not-active', `account ${entry.account} is decommissioned`, entry);
  }

  let plain = envelope.rest;
  let key: Buffer | undefined;
  let pad: Buffer | undefined;
  let previousKey = false;
  if (entry.key !== null) {
    if (!envelope.encrypted) {
      // A keyed account's messages must be encrypted, or anyone could speak for it.
      return refuse('bad-frame', `account ${entry.account} has a key; the message was not encrypted`, entry);
    }
    try {
      ({ plain, pad, key, previous: previousKey } = decryptFor(entry, envelope.rest, now));
    } catch (err) {
      if (err instanceof Dc09KeyError || err instanceof Dc09DecryptError) {
        const tampered = err instanceof Dc09DecryptError && err.tampered;
        return refuse('bad-frame', `cannot decrypt: ${err.message}`, entry, tampered ? 'garbled' : undefined);
      }
      throw err;
    }
  } else if (envelope.encrypted) {
    return refuse('bad-frame', `account ${entry.account} has no key; the message was encrypted`, entry);
  }

  let content: Content;
  try {
    content = readContent(plain);
  } catch (err) {
    if (!(err instanceof ContentError)) throw err;
    if (err.problem === 'timestamp') return refuse('bad-frame', err.message, entry);
    // The account's own frame (decrypted with its key, where it has one): the link is alive.
    const unread: Content = { data: '', xdata: [], canonical: plain, message: plain };
    const heartbeat = linkAlive(
      buildEvent({
        entry,
        envelope,
        digest: digestOf(envelope, unread.canonical),
        index: receiptIndex(now),
        type: 'heartbeat',
        data: {},
        now,
        partitions: ctx.partitions,
        previousKey,
      }),
    );
    return {
      ...duh(envelope, entry, { reason: 'bad-frame', detail: err.message }, heartbeat),
      ...(previousKey ? { previousKey } : {}),
    };
  }
  if (envelope.encrypted && !content.timestamp) {
    return refuse('bad-frame', 'an encrypted message must carry a timestamp', entry);
  }
  const lateAlarmMs = ctx.window.lateAlarmMs ?? 0;
  // From here the timestamp is the instant the panel's clock meant (`clockZone`), read with what is
  // known of the panel where it can mean more than one (`readPanelStamp`).
  const zone = panelZone(entry);
  const wall = content.timestamp;
  const seq = /^\d{4}$/.test(envelope.seq) ? Number(envelope.seq) : undefined;
  const seen = zone ? await ctx.clocks?.seen(entry.account) : undefined;
  const stamp =
    wall && zone
      ? readPanelStamp(wall, zone, now, { ...ctx.window, lateMs: lateAlarmMs }, { seen, seq, mayBeUtc: true })
      : undefined;
  if (stamp) content = { ...content, timestamp: stamp.at };
  const onUtc = stamp?.onUtcHoursOff;
  /** What this frame shows of its panel's clock, noted once it is settled (zoned accounts only). */
  const clockSeen: PanelSeen | undefined =
    wall && zone
      ? onUtc !== undefined
        ? { clock: 'utc' }
        : stamp?.at.getTime() !== wall.getTime() && inWindow(stamp?.at, now, ctx.window)
          ? { clock: 'zone' }
          : {}
      : undefined;
  // Near a change of the zone's clocks what is noted decides what the next stamp means: kept at once.
  const noted = (clock: PanelSeen | undefined) =>
    clock && (clock.clock || clock.taken)
      ? { seen: clock, ...(changeNear(zone, now.getTime(), lateAlarmMs) ? { seenAtChange: true } : {}) }
      : {};
  // A frame that could be taken late (`lateAlarmMs`: it carries a life-critical alarm) is held, once
  // stored, for as long as it could: sent again behind the window it is a copy, not a new alarm.
  const alarm =
    content.timestamp !== undefined && lateAlarmMs > 0 && carriesLifeCriticalAlarm(envelope, entry, content);
  const holdMs = alarm ? Math.max(ctx.window.behindMs, lateAlarmMs) : ctx.window.behindMs;
  let late = false;
  if (content.timestamp) {
    const skew = content.timestamp.getTime() - now.getTime();
    // Behind the window, a life-critical alarm within `lateAlarmMs` is taken late: a panel that lost
    // its line sends what it buffered with the first timestamps, and some never restamp on a NAK.
    late = skew < -ctx.window.behindMs && alarm && skew >= -lateAlarmMs;
    if (!late && (skew < -ctx.window.behindMs || skew > ctx.window.aheadMs)) {
      const hoursOff = zone ? undefined : wholeHoursOff(skew, ctx.window);
      const said = outsideWindow(content.timestamp, skew, zone, hoursOff, dayOff(skew, ctx.window));
      const refusal = refuse('bad-frame', said, entry);
      return hoursOff === undefined ? refusal : { ...refusal, clockHoursOff: hoursOff };
    }
  }
  // A zone's panel on UTC: its alarms are taken at the UTC reading, anything else refused as before,
  // once the frame has passed the checks below (another account's frame, a replay, a copy): only
  // then does it show the panel's clock, and the account is noted as on UTC.
  const refusedOnUtc = content.timestamp !== undefined && onUtc !== undefined && !alarm;
  /** What the pad showed of how the panel pads (encrypted frames). */
  const padShown = pad && padSeen(pad);
  /** The pad broke the style the account's panel has shown (`padBreaks`): why, when it did. */
  let padBroken: string | undefined;
  /** Refused for it: a frame so changed that carries no life-critical alarm (see below). */
  let refusedForPad = false;

  if (envelope.encrypted) {
    // The header is in clear: anyone can put another account there, and many installers give every
    // panel one key. Where the encrypted data names its account, that must be the header's, or a
    // recorded frame could be sent again as another home's.
    const named = dataAccountOf(content.data);
    if (named !== undefined && !sameAccount(named, entry.account)) {
      return refuse(
        'bad-frame',
        `the encrypted data names another account than ${entry.account}`,
        entry,
        'other-account',
      );
    }
    // DC-09 puts the account at the head of the data. Where it is missing, the content could start
    // after a first block garbled by a bit flip (the change it makes to the next block then read
    // as the panel's): the account, in the garbled block, is what tells.
    if (content.data !== '' && (named === undefined || !content.data.startsWith('#'))) {
      return refuse(
        'bad-frame',
        'the encrypted data names no account (#ACCT|) before its events',
        entry,
        'garbled',
      );
    }
    // A pad unlike every one the account's panel has sent: a first block garbled so that the second
    // reads as the changer wants (`padBreaks`), or a panel whose firmware changed how it pads. Such a
    // frame carrying a life-critical alarm is taken for its alarms alone, as a late one is: a forgery
    // turned into an alarm raises a false alarm, one turned into a cancel could hide a real one, and
    // a real fall or fire sent after a firmware update was NAKed until it was lost on site.
    padBroken = padShown && padBreaks(await ctx.pads?.style(entry.account), padShown, entry.updatedAt);
    refusedForPad = padBroken !== undefined && !(alarm || carriesLifeCriticalAlarm(envelope, entry, content));
    // The same account, sequence and timestamp (or account, timestamp and events) with other content
    // is no sender's: a frame changed without the key whose garbled block still reads.
    const timestamp = (content.timestamp as Date).getTime();
    const stamp = `${timestamp}`;
    const digest = createHash('sha256').update(content.canonical).digest('hex').slice(0, 32);
    const keys = [
      `${entry.account}\u001f${envelope.seq}\u001f${stamp}`,
      `${entry.account}\u001f*\u001f${stamp}\u001f${outsideText(content.data)}`,
    ];
    // A frame to be refused is only compared, not remembered as content accepted: a message the
    // panel sends again with other content under the same stamp is no forgery of it.
    const blocks = cipherBlocks(envelope.rest);
    const conflicts =
      refusedOnUtc || refusedForPad
        ? ctx.stamped?.clashes(keys, digest, blocks, now.getTime())
        : ctx.stamped?.conflicts(keys, digest, blocks, timestamp + holdMs, now.getTime());
    if (conflicts) {
      return refuse(
        'bad-frame',
        `account ${entry.account} already sent other content under sequence ${envelope.seq} or with the same events, stamped ${content.timestamp?.toISOString()}, in a frame this one shares encrypted blocks with`,
        entry,
        'replayed',
      );
    }
  }
  if (refusedForPad) return refuse('bad-frame', `${padBroken}: ${PAD_CHANGED}`, entry, 'pad');

  // The same timestamped frame again is a recording or a network copy, not a new sending (a sender
  // stamps each attempt anew): answered ACK, nothing stored (`StoredFrames`). Claimed here, the
  // frame must be settled by the caller from its outcome's `remember`, whatever that outcome.
  const canonical = digestOf(envelope, content.canonical);
  // A plain frame without a timestamp is known by its arrival instead: the same frame again (the
  // same account, message type, sequence and content) within the window behind is a copy, as a
  // timestamped one is, and stores nothing, not even a heartbeat. A message's copy is one while it
  // is the same occurrence of its message (`Occurrences.resent`): the same sequence number and
  // content within the resend gap, other messages of the account between or not (a panel that heard
  // no ACK may send its next message first); another content under the number is a new event.
  const occurrence =
    !content.timestamp && ctx.occurrences !== undefined && isDataMessage(envelope, content)
      ? ctx.occurrences.resent(
          entry.account,
          envelope.seq,
          digestOf(envelope, content.message),
          now.getTime(),
        )
      : undefined;
  const remember: Remember | undefined = content.timestamp
    ? {
        key: storedFrameKey(entry, envelope, content, canonical),
        // Held until the latest instant its stamp could be taken at, read in the zone or as UTC: a
        // recording of a zone's panel sent again an hour on would otherwise be taken as a UTC panel's.
        until: latestReading(wall as Date, zone, content.timestamp) + holdMs,
        ...(alarm ? { lasting: true } : {}),
        seq: envelope.seq,
      }
    : envelope.encrypted
      ? undefined
      : {
          key: `${storedFrameKey(entry, envelope, content, canonical)}${occurrence === undefined ? '' : `\u001f${occurrence}`}`,
          until: now.getTime() + ctx.window.behindMs,
        };
  const stored = remember && ctx.stored ? await ctx.stored.claim(remember.key, now.getTime()) : undefined;
  if (stored && envelope.encrypted && stored.seq !== undefined && stored.seq !== envelope.seq) {
    // The same encrypted message and stamp under another number: a panel that sends what it queued
    // one after another, each stamped as it goes, sends two presses of one second so. A copy would
    // be ACKed and the second press never stored; a recording sent again under another number is
    // refused all the same. NAKed (nothing stored), the panel sends it again stamped anew.
    return refuse(
      'bad-frame',
      `account ${entry.account} sent this message, stamped ${content.timestamp?.toISOString()}, under sequence ${stored.seq} already; under sequence ${envelope.seq} it is another sending of the same second: NAKed, to be sent again stamped anew`,
      entry,
    );
  }
  if (stored) {
    return {
      // What the sender heard the first time: a DUH (it must not retry) is no ACK the second.
      reply: stored.reply,
      replyFrame: stored.reply === 'DUH' ? duhFrame(envelope) : ackFrame(envelope, wallClock(now, zone), key),
      events: [],
      account: entry.account,
      serial: entry.serial,
      copy: { origin: stored.origin },
      ...(envelope.id === 'NULL' ? { poll: true } : {}),
      ...(previousKey ? { previousKey } : {}),
    };
  }
  if (refusedOnUtc) {
    // Nothing stored: the claim is given up at once.
    if (remember) ctx.stored?.release(remember.key);
    return {
      ...refuse('bad-frame', onUtcClock(wall as Date, zone, onUtc as number), entry),
      zoneHoursOff: onUtc,
      ...noted(clockSeen),
    };
  }
  try {
    const answer = answerContent(envelope, entry, content, ctx, {
      canonical,
      key,
      remember,
      previousKey,
      late,
      ...(padBroken === undefined ? {} : { padBroken }),
      ...(stamp ? { stamp } : {}),
      ...(seen ? { seen } : {}),
      ...(seq === undefined ? {} : { seq }),
      ...(occurrence === undefined ? {} : { occurrence }),
    });
    // What the panel's clock showed, and (stored) the frame's place in its order.
    const taken =
      clockSeen && seq !== undefined && answer.reply === 'ACK' && content.timestamp
        ? { ...clockSeen, taken: { seq, at: content.timestamp.getTime() } }
        : clockSeen;
    return {
      ...answer,
      ...(previousKey ? { previousKey } : {}),
      ...(onUtc === undefined ? {} : { zoneHoursOff: onUtc }),
      ...noted(taken),
      // Taken for its alarms alone, a frame whose pad broke the style teaches it nothing.
      ...(padBroken !== undefined && answer.reply === 'ACK' ? { forged: 'pad' as const } : {}),
      ...(padShown && padBroken === undefined && answer.reply === 'ACK'
        ? { pad: { seen: padShown, entry: entry.updatedAt } }
        : {}),
    };
  } catch (err) {
    if (remember) ctx.stored?.release(remember.key);
    throw err;
  }
}

/** What a pad unlike the account's panel's may be, and what to do when it is the panel's. */
const PAD_CHANGED =
  "changed without the key? If the panel's firmware changed how it pads, save the account again in the registry and the gateway learns its pads anew";

const inWindow = (at: Date | undefined, now: Date, window: TimeWindow): boolean =>
  at !== undefined &&
  at.getTime() - now.getTime() >= -window.behindMs &&
  at.getTime() - now.getTime() <= window.aheadMs;

/** The latest instant a stamp could be taken at: read in its zone (either way at a change) or as UTC. */
const latestReading = (wall: Date, zone: PanelZone, taken: Date): number =>
  zone ? Math.max(wall.getTime(), ...readingsOf(wall, zone)) : taken.getTime();

/**
 * Why a zone's panel is taken for one on UTC (dead-lettered, for the account's installer to see);
 * `taken`: the frame was taken for its life-critical alarms, this many other events not stored.
 */
function onUtcClock(wall: Date, zone: PanelZone, hoursOff: number, taken?: number): string {
  const way = hoursOff > 0 ? 'ahead of' : 'behind';
  const said = `timestamp ${wall.toISOString()} read on ${zoneName(zone)} is ${Math.abs(hoursOff)} h ${way} ours, and read as UTC inside the window: a panel clock on UTC? Set the panel's clock to ${zoneName(zone)} time, or the account's clockZone to UTC (dc09ClockZone in the registry)`;
  if (taken === undefined) return said;
  const left = taken ? `: its ${taken} other event(s) not stored` : '';
  return `${said}; taken as UTC for its life-critical alarm(s)${left}`;
}

/**
 * Why a timestamp outside the window is refused (dead-lettered, for the account's installer to
 * see). A panel on UTC whose clock is a whole number of hours out is most likely on local time:
 * said so, with the setting that puts it right.
 */
function outsideWindow(
  timestamp: Date,
  skewMs: number,
  zone: PanelZone,
  hoursOff: number | undefined,
  daysOff: 1 | -1 | undefined,
): string {
  const clock = zone ? ` (read on ${zoneName(zone)})` : '';
  const said = `timestamp ${timestamp.toISOString()}${clock} is ${Math.round(skewMs / 1000)} s from ours; outside the window`;
  // Taken as the day it meant, yesterday's recording of the same time would be a frame of today.
  if (daysOff !== undefined)
    return `${said}; it is a day ${daysOff > 0 ? 'ahead of' : 'behind'} ours: a date written out of step with its time (a local date beside a UTC time, or a date rolled over before or after the time)? Refused, as a recording a day old would be: set the panel's date and time (a NAK carries ours)`;
  if (hoursOff === undefined) return said;
  const way = hoursOff > 0 ? 'ahead of' : 'behind';
  return `${said}; it is ${Math.abs(hoursOff)} h ${way} UTC: a panel clock on local time? Set the account's clockZone (dc09ClockZone in the registry)`;
}

/** The ciphertext's 16-byte blocks after the first, in upper-case hex (see `StampedMessages`). */
function cipherBlocks(hex: string): string[] {
  const blocks: string[] = [];
  for (let at = 32; at + 32 <= hex.length; at += 32) blocks.push(hex.slice(at, at + 32).toUpperCase());
  return blocks;
}

/** A life-critical alarm (priority 1): what the alarm reserve is for, and what may come late. */
export const lifeCritical = (type: TelecareEvent['type']): boolean => TAXONOMY[type].priority === 1;

/**
 * Whether the frame's data holds a life-critical alarm as `answerContent` maps it (the account's
 * overrides included; a restore maps to its restore type, never one): what may pass the window late.
 */
function carriesLifeCriticalAlarm(envelope: Envelope, entry: Dc09AccountEntry, content: Content): boolean {
  if (!isDataMessage(envelope, content)) return false;
  let source: readonly SourceEvent[];
  try {
    source = envelope.id === 'ADM-CID' ? readCidData(content.data) : readSiaData(content.data);
  } catch (err) {
    if (err instanceof PartlyRead) source = err.events;
    else if (err instanceof ContentError) return false;
    else throw err;
  }
  return source.some((event) => {
    const mapped = mapEvent(event, entry.codeOverrides);
    return mapped !== undefined && lifeCritical(mapped.type);
  });
}

/** Whether a frame carries events to read: an SIA-DCS or ADM-CID message with more than its account. */
function isDataMessage(envelope: Envelope, content: Content): boolean {
  if (envelope.id !== 'SIA-DCS' && envelope.id !== 'ADM-CID') return false;
  return !(content.data === '' || /^(?:#[0-9A-Fa-f]{3,16}\|?|[0-9A-Fa-f]{3,16}\|)$/.test(content.data));
}

/**
 * What identifies a timestamped frame among those already stored. Encrypted, its account and its
 * content as decrypted, padding aside (the sender's timestamp included), and not the header's
 * sequence number or message type: they are outside the encryption, so anyone holding a recorded
 * frame can change them (and the CRC and length after them) without the key, and each change was
 * taken for a new message, its press stored again. An encrypted sender sends no two messages of
 * the same content stamped the same second; two such are one. A plain frame authenticates nothing
 * (anyone may write any of it), so it is known by its sequence number and type too, as its events
 * are: a keyless panel's messages sent quickly under new numbers are each stored.
 */
function storedFrameKey(
  entry: Dc09AccountEntry,
  envelope: Envelope,
  content: Content,
  digest: string,
): string {
  if (!envelope.encrypted) return `${entry.account}\u001f${digest}`;
  return `${entry.account}\u001f*${createHash('sha256').update(content.canonical).digest('hex').slice(0, 32)}`;
}

/** The frame's answer once it is known not to be a copy: its events, or DUH. */
function answerContent(
  envelope: Envelope,
  entry: Dc09AccountEntry,
  content: Content,
  ctx: InterpretContext,
  frame: {
    readonly canonical: string;
    readonly key: Buffer | undefined;
    readonly remember: Remember | undefined;
    readonly previousKey: boolean;
    /** Behind the window, taken for its life-critical alarms: only they are stored. */
    readonly late: boolean;
    /**
     * Its pad broke the account's style (`padBreaks`: why), taken for its life-critical alarms: only
     * they are stored, each marked `padBroken` in its data.
     */
    readonly padBroken?: string;
    /** How its stamp was read on the account's zone (`readPanelStamp`); absent on UTC. */
    readonly stamp?: PanelStamp;
    /** What was known of the panel's clock before this frame. */
    readonly seen?: PanelSeen;
    readonly seq?: number;
    /** Which occurrence of its message the frame is, when already asked (`Occurrences.of`). */
    readonly occurrence?: number;
  },
): Interpretation {
  const { now } = ctx;
  const { canonical, key, remember, previousKey } = frame;
  const zone = panelZone(entry);

  // Events are named by the message and by which occurrence of it this is (`Occurrences`): its
  // first sending's timestamp, or when it first came if it has none. Without that memory, by the
  // content alone (the same bytes are always a copy).
  let digest = canonical;
  const occurrence = () => {
    if (ctx.occurrences === undefined) return;
    const message = digestOf(envelope, content.message);
    const at = (content.timestamp ?? now).getTime();
    digest = `${message}-${frame.occurrence ?? ctx.occurrences.of(entry.account, message, now.getTime(), at)}`;
  };
  const build = (
    index: string,
    type: TelecareEvent['type'],
    data: Record<string, unknown>,
    sourcecode?: string,
    at?: Date,
    alt?: Date,
  ) =>
    buildEvent({
      entry,
      envelope,
      digest,
      ...(content.timestamp ? { timestamp: content.timestamp } : {}),
      index,
      type,
      data,
      now,
      partitions: ctx.partitions,
      ...(sourcecode === undefined ? {} : { sourcecode }),
      ...(at === undefined ? {} : { at }),
      ...(alt === undefined ? {} : { alt }),
      previousKey,
    });
  // Anything the account says, understood or not, proves the link is alive (`receiptIndex`). Dated
  // as the frame, its time is as uncertain as the frame's stamp (`alttime`). Not a frame whose pad
  // broke its panel's style: a forgery made from a recorded frame would keep a cut line looking alive.
  const heartbeat = () =>
    frame.padBroken !== undefined
      ? []
      : linkAlive(
          build(
            receiptIndex(now),
            'heartbeat',
            {},
            envelope.id === 'NULL' ? 'NULL' : undefined,
            undefined,
            frame.stamp?.otherwise,
          ),
        );
  const withHeartbeat = (events: TelecareEvent[]) =>
    events.some((e) => e.type === 'heartbeat' || e.type === 'test.periodic')
      ? events
      : [...events, ...heartbeat()];

  // Extended data not understood after readable data: ACKed and stored all the same (a DUH would
  // lose the alarm before it), the frame dead-lettered for a person.
  const unreadXdata: Partial<Interpretation> = content.unread
    ? { refusal: { reason: 'bad-frame', detail: content.unread }, named: entry.account }
    : {};
  const ack = (events: TelecareEvent[], extra: Partial<Interpretation> = {}): Interpretation => ({
    reply: 'ACK',
    replyFrame: ackFrame(envelope, wallClock(now, zone), key),
    events: withHeartbeat(events),
    account: entry.account,
    serial: entry.serial,
    ...(remember ? { remember } : {}),
    ...unreadXdata,
    ...extra,
  });

  // Every answer from here carries `remember`, so the claim on the frame is settled.
  const remembered = remember ? { remember } : {};
  if (envelope.id === 'NULL') return ack([], { poll: true });
  if (envelope.id !== 'SIA-DCS' && envelope.id !== 'ADM-CID') {
    return {
      ...duh(envelope, entry, { reason: 'unknown-code', detail: `message type ${envelope.id}` }, [
        ...heartbeat(),
      ]),
      ...remembered,
    };
  }
  if (!isDataMessage(envelope, content)) return ack([]);

  let source: readonly SourceEvent[];
  /** Where reading stopped, when the events before it were read: they are stored all the same. */
  let unread: string | undefined = content.unread;
  try {
    source = envelope.id === 'ADM-CID' ? readCidData(content.data) : readSiaData(content.data);
  } catch (err) {
    if (!(err instanceof ContentError)) throw err;
    if (err instanceof PartlyRead) {
      // The sender's alarm is in what was read. A DUH tells it not to retry, so the alarm would be
      // lost with the part we cannot read: ACKed, stored, and the frame dead-lettered for a person.
      source = err.events;
      unread = [`${err.message}; the ${err.events.length} event(s) before it were stored`, content.unread]
        .filter((why) => why !== undefined)
        .join('; ');
    } else {
      return {
        ...duh(envelope, entry, { reason: 'bad-frame', detail: err.message }, heartbeat()),
        ...remembered,
      };
    }
  }
  occurrence();
  const kind = entry.kind ?? DEFAULT_DEVICE_KIND;
  const events: TelecareEvent[] = [];
  const unmapped: string[] = [];
  const mismatched: { type: string; disposition: 'stored' | 'refused' }[] = [];
  /** Why each event timed when the panel was with nobody was left out (`UnpairedTime`). */
  const unpaired: string[] = [];
  /** A zone's panel taken for one on UTC (`readPanelStamp`): the hours its zone reading is out. */
  const onUtc = frame.stamp?.onUtcHoursOff;
  // Behind the window, from a zone's panel on UTC, or with a pad unlike its panel's, only
  // life-critical alarms are taken.
  const { padBroken } = frame;
  const alarmsOnly = frame.late || onUtc !== undefined || padBroken !== undefined;
  /** Events of such a frame that are no life-critical alarm: not stored. */
  let leftLate = 0;
  const keep = (built: TelecareEvent | UnpairedTime) => {
    if (isUnpaired(built)) unpaired.push(built.detail);
    else if (alarmsOnly && !lifeCritical(built.type)) leftLate++;
    // The operator sees that the frame broke its panel's pad style.
    else events.push(padBroken === undefined ? built : { ...built, data: { ...built.data, padBroken } });
  };
  const reference = content.timestamp ?? now;
  // An event's own time (SIA `ti`/`da`) is on the panel's clock too: UTC for a zone's panel on UTC.
  const clock = onUtc === undefined ? zone : undefined;
  // An event time ahead of its message is not believed: the message's time is used.
  const messageTime = (): { at?: Date; alt?: Date } =>
    frame.stamp?.otherwise ? { alt: frame.stamp.otherwise } : {};
  const eventTime = (event: SourceEvent): { at?: Date; alt?: Date } => {
    // Ahead is judged on the instant the time is read as, not on the clock: on the night the clocks
    // go back, `ti01:40` in a message stamped 01:15 of the second pass shows 25 min ahead of it, but
    // is the first pass's 01:40, 35 min before it (the second is ruled out as ahead).
    const shown = panelTimeOf(event.modifiers, wallClock(reference, clock), Number.POSITIVE_INFINITY);
    if (!shown) return messageTime();
    const read = readPanelStamp(
      shown,
      clock,
      reference,
      { ...ctx.window, lateMs: MAX_PANEL_AGE_MS },
      { seen: frame.seen, seq: frame.seq },
    );
    if (read.at.getTime() - reference.getTime() > ctx.window.aheadMs) return messageTime();
    return read.otherwise ? { at: read.at, alt: read.otherwise } : { at: read.at };
  };
  source.forEach((event, index) => {
    const mapped = mapEvent(event, entry.codeOverrides);
    const { at, alt } = eventTime(event);
    const code = sourceCodeOf(event);
    if (!mapped) {
      if (alarmsOnly) {
        // Behind the window only life-critical alarms are taken (`late`).
        leftLate++;
        return;
      }
      // A readable code we do not map is still the sender's event: ACKed (a sender that retries on
      // anything else would block every alarm queued behind it) and kept for a person to map.
      unmapped.push(code);
      const why = unmappedDetail(event, entry.codeOverrides);
      keep(
        build(
          String(index),
          'code.unmapped',
          {
            ...eventData(event, content),
            note: `unmapped code from account ${entry.account}: ${why}`,
          },
          code,
          at,
          alt,
        ),
      );
      return;
    }
    if (!TAXONOMY[mapped.type].derived && !mayReport(kind, mapped.type)) {
      // A sensor that dials in itself sends only its own codes: a restore, a cancel or a dose taken
      // under its account would hide an alert or close a condition it never saw. A life-critical
      // alarm is stored all the same (a registry mistake must never lose one). A code the table maps
      // to a type triage derives (a panel's own inactivity or temperature alarm) raises an alert,
      // hides none: kept as before.
      const stored = lifeCritical(mapped.type);
      mismatched.push({ type: mapped.type, disposition: stored ? 'stored' : 'refused' });
      if (!stored) return;
      // Attributed as what it is: triage keeps it out of the home's other presses and no cancel
      // closes it (the envelope's `unexpectedkind`).
      const alarm = build(
        String(index),
        mapped.type,
        eventData(event, content, mapped.condition),
        code,
        at,
        alt,
      );
      keep(isUnpaired(alarm) ? alarm : { ...alarm, unexpectedkind: true });
      return;
    }
    keep(build(String(index), mapped.type, eventData(event, content, mapped.condition), code, at, alt));
  });
  const refused = mismatched.filter((m) => m.disposition === 'refused');
  const notForKind = refused.length
    ? `a ${kind} does not report ${[...new Set(refused.map((m) => m.type))].join(', ')}`
    : undefined;
  // ACKed all the same, as an unmapped code is: a sender that retries on anything but ACK would
  // block every alarm queued behind it. The frame is dead-lettered, for the registry to show.
  // An event timed when the panel was in stock (or before its previous home) is neither home's:
  // not stored, the frame ACKed (its other events are) and dead-lettered as an unpaired device's.
  const noResident = unpaired.length
    ? `${unpaired.length} event(s) of account ${entry.account} not stored: ${[...new Set(unpaired)].join('; ')}`
    : undefined;
  // A late frame's other events (a restore, a test) are not stored: only its life-critical alarms
  // pass the window late, so a recording sent again can raise an old alarm, never hide one.
  // A zone's panel on UTC is named whatever it sent, for its installer to put the clock right.
  const left = leftLate ? `: its ${leftLate} other event(s) not stored` : '';
  const notLate =
    onUtc !== undefined
      ? onUtcClock(reference, zone, onUtc, leftLate)
      : frame.late && leftLate
        ? `timestamp ${content.timestamp?.toISOString()} behind the window, taken late for its life-critical alarm(s)${left}`
        : undefined;
  // Always said, for the account's installer to save the account again if its panel's firmware changed.
  const notPadded =
    padBroken === undefined
      ? undefined
      : `${padBroken}: ${PAD_CHANGED}; taken for its life-critical alarm(s), marked padBroken${notLate ? '' : left}`;
  const refusal: Refusal | undefined = notForKind
    ? {
        reason: 'type-not-for-kind',
        detail: [notForKind, noResident, notPadded, notLate, unread].filter(Boolean).join('; '),
      }
    : noResident
      ? {
          reason: 'unknown-device',
          detail: [noResident, notPadded, notLate, unread].filter(Boolean).join('; '),
        }
      : unread || notLate || notPadded
        ? { reason: 'bad-frame', detail: [notPadded, notLate, unread].filter(Boolean).join('; ') }
        : undefined;
  return ack(events, {
    ...(frame.late ? { late: true } : {}),
    ...(unmapped.length ? { unmapped } : {}),
    ...(mismatched.length ? { mismatched } : {}),
    ...(refusal ? { refusal, named: entry.account } : {}),
  });
}

function duh(
  envelope: Envelope,
  entry: Dc09AccountEntry,
  refusal: Refusal,
  events: TelecareEvent[],
): Interpretation {
  return {
    reply: 'DUH',
    replyFrame: duhFrame(envelope),
    events,
    refusal,
    account: entry.account,
    serial: entry.serial,
  };
}

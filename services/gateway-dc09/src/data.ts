import { ContentError } from './content-error.ts';

/** One event as the sender coded it, before mapping onto the taxonomy. */
export interface SourceEvent {
  readonly protocol: 'CID' | 'SIA';
  /** Contact ID event code (`101`) or SIA event code (`MA`). */
  readonly code: string;
  /** Contact ID qualifier digit: 1 new, 3 restore, 6 still present. */
  readonly qualifier?: string;
  /** Contact ID zone or user; SIA zone or parameter (may be empty). */
  readonly zone: string;
  /** Contact ID group/partition; SIA `ri` area. */
  readonly area?: string;
  /** SIA modifiers in force for this event (`id`, `ti`, `pi`, `da`). */
  readonly modifiers?: Readonly<Record<string, string>>;
  /** SIA free text between `^` after the event (a zone name). */
  readonly text?: string;
  /** SIA free text after the `ri` modifier in force: the area's name (`Nri01^TOTAL^/…`). */
  readonly areaText?: string;
  /** SIA free text after other modifiers in force, by modifier (`id` → the user's name). */
  readonly modifierText?: Readonly<Record<string, string>>;
  /** SIA `|A…` ASCII text block about the events before it. */
  readonly ascii?: string;
}

/**
 * Data readable up to a point: the events before it, and (the message) where reading stopped. A
 * panel may follow its events with something we cannot read (a block or field of its own): what
 * it said before that is still its alarm.
 */
export class PartlyRead extends ContentError {
  constructor(
    message: string,
    readonly events: readonly SourceEvent[],
  ) {
    super(message, 'data');
  }
}

/** Rethrows a ContentError met after `events` were read as PartlyRead, with them. */
function partly(err: unknown, events: readonly SourceEvent[]): never {
  if (err instanceof ContentError && !(err instanceof PartlyRead) && events.length > 0) {
    throw new PartlyRead(err.message, [...events]);
  }
  throw err;
}

/** The provenance kept on every event: `CID 1101`, `SIA QA`. */
export const sourceCodeOf = (event: SourceEvent): string =>
  event.protocol === 'CID' ? `CID ${event.qualifier ?? ''}${event.code}` : `SIA ${event.code}`;

/**
 * `#ACCT|` before the events is optional; it names the same account as the header. Some senders
 * leave out its `#` (`1234|1101 01 001`): no event starts with hex digits and `|`.
 */
function withoutAccount(data: string): string {
  const m = /^#?[0-9A-Fa-f]{3,16}\|/.exec(data);
  return m ? data.slice(m[0].length) : data;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/**
 * Windows-1252's characters for bytes 0x80–0x9F (the rest is Latin-1); its five unassigned bytes
 * are kept as Latin-1 reads them. Written out: Node's own `windows-1252` decoder reads Latin-1.
 */
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const windows1252 = (bytewise: string): string =>
  bytewise.replace(/[\u0080-\u009f]/g, (ch) => CP1252_HIGH[ch.charCodeAt(0) - 0x80] as string);

/**
 * Free text as a person wrote it. A frame is read byte for byte (one character per byte); a panel
 * that names its rooms in 8-bit text sends UTF-8 (`KÃ¼che` read so) or Windows-1252, as DC-09
 * allows (Latin-1 but for 0x80–0x9F, where it has letters and signs: `€`, `„`, `“`, not control
 * characters): UTF-8 where the bytes are valid UTF-8, else Windows-1252.
 */
export function readableText(bytewise: string): string {
  if (!/[\u0080-\u00ff]/.test(bytewise)) return bytewise;
  const bytes = Buffer.from(bytewise, 'latin1');
  try {
    return UTF8.decode(bytes);
  } catch {
    return windows1252(bytewise);
  }
}

/** Splits on `separator` outside `^…^` text. */
function splitOutsideText(text: string, separator: string): string[] {
  const out: string[] = [];
  let current = '';
  let inText = false;
  for (const ch of text) {
    if (ch === '^') inText = !inText;
    if (ch === separator && !inText) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  if (inText) throw new ContentError('free text has no closing ^', 'data');
  out.push(current);
  return out;
}

// The qualifier is any digit: one outside 1, 3 and 6 is still a readable event (recorded, unmapped).
// Or the letter receivers print for it (`E130 01 015`, `R130 …`, `P…`), as some senders write it.
// Some senders leave out the spaces, others put more than one: the fields are of fixed width.
const CID_EVENT = /^(\d|[ERPerp])([0-9A-Fa-f]{3}) *([0-9A-Fa-f]{2}) *([0-9A-Fa-f]{3})$/;
/** Contact ID's qualifier letters: E event (new), R restore, P previous (still present). */
const QUALIFIER_LETTER: Readonly<Record<string, string>> = { E: '1', R: '3', P: '6' };

/**
 * ADM-CID data: `#ACCT|QEEE GG ZZZ`, several events separated by `/` (as some panels batch them).
 * Throws ContentError (PartlyRead, with the events before it, for an event after the first).
 */
export function readCidData(data: string): SourceEvent[] {
  const events: SourceEvent[] = [];
  for (const [index, token] of splitOutsideText(withoutAccount(data), '/').entries()) {
    const m = CID_EVENT.exec(token.trim());
    // Counted, not quoted: the sender's text may name a person (here and in every refusal below).
    if (!m) partly(new ContentError(`Contact ID event ${index + 1} is not QEEE GG ZZZ`, 'data'), events);
    events.push({
      protocol: 'CID' as const,
      qualifier: QUALIFIER_LETTER[(m[1] as string).toUpperCase()] ?? (m[1] as string),
      code: (m[2] as string).toUpperCase(),
      area: (m[3] as string).toUpperCase(),
      zone: (m[4] as string).toUpperCase(),
    });
  }
  return events;
}

/**
 * What a modifier's value may hold. `ti` and `da` are checked as times later (a bad one is kept,
 * not believed); every other modifier (`ri` area, `id` user, `pi` peripheral, and those we do not
 * use) is a number, so the letters after it start the next item.
 */
const MODIFIER_VALUE: Readonly<Record<string, RegExp>> = {
  ti: /[0-9:]*/y,
  da: /[0-9-]*/y,
};
const NUMBER = /[0-9]*/y;
const ZONE = /[0-9]*/y;

/** Where the spaces from `at` end. */
function afterSpaces(text: string, at: number): number {
  while (text[at] === ' ') at++;
  return at;
}

function matchAt(pattern: RegExp, text: string, at: number): string {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0] ?? '';
}

/**
 * SIA DC-03 data as DC-09 carries it: `#ACCT|` then blocks separated by `|`:
 * - `N…` new events: modifiers (two lower-case letters and a value: `ri` area, `id` user, `ti`
 *   time, `pi` peripheral, `da` date, others kept) and events (two upper-case letters and a zone
 *   or parameter), with or without `/` between them (`Nri1MA1`, `Nri1/MA01`,
 *   `Nri0000pi0006da10-25-18ti14:37:53UT0000`); a modifier stays in force for the events after
 *   it; `^…^` after an event is its zone name;
 * - `A…` ASCII text about the events of the block before it.
 * Several events may share one block. Throws ContentError for anything else: PartlyRead, with
 * them, when events were read before it.
 */
export function readSiaData(data: string): SourceEvent[] {
  const rest = withoutAccount(data);
  if ((rest.match(/\^/g)?.length ?? 0) % 2 === 1) {
    // Text cut short before its closing `^` (a panel that cuts a long zone name at its limit): the
    // events before it are read, as for anything else not understood after them.
    let before: readonly SourceEvent[] = [];
    try {
      before = readSiaBlocks(rest.slice(0, rest.lastIndexOf('^')));
    } catch (err) {
      if (!(err instanceof ContentError)) throw err;
      if (err instanceof PartlyRead) before = err.events;
    }
    partly(new ContentError('free text has no closing ^', 'data'), before);
  }
  return readSiaBlocks(rest);
}

/** The blocks of SIA data without its account (`readSiaData`). */
function readSiaBlocks(rest: string): SourceEvent[] {
  const modifiers: Record<string, string> = {};
  const texts: Record<string, string> = {};
  const events: SourceEvent[] = [];
  let blockStart = 0;
  for (const [index, block] of splitOutsideText(rest, '|').entries()) {
    // A trailing `|` (some senders end every block with one) leaves an empty block: nothing to read.
    if (block === '') continue;
    const kind = block[0];
    if (kind === 'N') {
      // An `N` with nothing after it names no event and no modifier: no sender sends one, and it is
      // what the tail of a pad drawn from every byte reads as (`…N|` before `Nri1MA1`).
      if (block.length === 1)
        partly(new ContentError(`SIA block ${index + 1} is an N block with nothing in it`, 'data'), events);
      blockStart = events.length;
      try {
        readEventBlock(block.slice(1), modifiers, texts, events, index + 1);
      } catch (err) {
        partly(err, events);
      }
      continue;
    }
    if (kind === 'A' && events.length > blockStart) {
      for (let i = blockStart; i < events.length; i++) {
        const event = events[i] as SourceEvent;
        events[i] = {
          ...event,
          ascii:
            event.ascii === undefined
              ? readableText(block.slice(1))
              : `${event.ascii} ${readableText(block.slice(1))}`,
        };
      }
      continue;
    }
    partly(
      new ContentError(`SIA block ${index + 1} is neither N (events) nor A (text after events)`, 'data'),
      events,
    );
  }
  if (events.length === 0) throw new ContentError('SIA data has no event code', 'data');
  return events;
}

function readEventBlock(
  block: string,
  modifiers: Record<string, string>,
  /** Text naming a modifier's value (`ri01^TOTAL^`), in force with it. */
  texts: Record<string, string>,
  events: SourceEvent[],
  /** Which block of the data, counted from 1, for a refusal to name. */
  blockNumber: number,
): void {
  let at = 0;
  let pendingText: string | undefined;
  /** The modifier just read, when nothing came after it yet: a `^…^` here names its value. */
  let afterModifier: string | undefined;
  const blockStart = events.length;
  while (at < block.length) {
    const ch = block[at] as string;
    if (ch === '/' || ch === ' ') {
      at++;
      continue;
    }
    if (ch === '^') {
      const end = block.indexOf('^', at + 1);
      if (end < 0) throw new ContentError('free text has no closing ^', 'data');
      const text = readableText(block.slice(at + 1, end));
      at = end + 1;
      if (afterModifier !== undefined) {
        texts[afterModifier] = text;
        afterModifier = undefined;
        continue;
      }
      const previous = events.length > blockStart ? events.at(-1) : undefined;
      if (previous && previous.text === undefined) events[events.length - 1] = { ...previous, text };
      else pendingText = text;
      continue;
    }
    afterModifier = undefined;
    const letters = block.slice(at, at + 2);
    if (/^[a-z]{2}$/.test(letters)) {
      // Some panels space a value from its modifier, as a zone from its code (`N ri 1 MA 01`).
      const valueAt = afterSpaces(block, at + 2);
      const value = matchAt(MODIFIER_VALUE[letters] ?? NUMBER, block, valueAt);
      modifiers[letters] = value;
      // A new value is not named by the old one's text.
      delete texts[letters];
      afterModifier = letters;
      at = value === '' ? at + 2 : valueAt + value.length;
      continue;
    }
    if (/^[A-Z]{2}$/.test(letters)) {
      // Some panels put a space between the code and its zone (a Hikvision AX Pro: `N BA 000`).
      let zoneAt = afterSpaces(block, at + 2);
      let zone = matchAt(ZONE, block, zoneAt);
      if (zone === '') {
        zoneAt = at + 2;
        zone = matchAt(ZONE, block, zoneAt);
      }
      at = zoneAt + zone.length;
      const { ri, ...others } = modifiers;
      const { ri: areaText, ...otherTexts } = texts;
      events.push({
        protocol: 'SIA',
        code: letters,
        zone,
        ...(ri === undefined ? {} : { area: ri }),
        ...(Object.keys(others).length ? { modifiers: { ...others } } : {}),
        ...(pendingText === undefined ? {} : { text: pendingText }),
        ...(areaText === undefined ? {} : { areaText }),
        ...(Object.keys(otherTexts).length ? { modifierText: { ...otherTexts } } : {}),
      });
      pendingText = undefined;
      continue;
    }
    // The block's N is character 1; `block` starts after it.
    throw new ContentError(
      `SIA block ${blockNumber}, character ${at + 2}: neither a modifier nor an event`,
      'data',
    );
  }
}

/** How old a time a panel reports for a buffered event may be before it is not believed. */
export const MAX_PANEL_AGE_MS = 7 * 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

const SIA_TIME = /^(\d{2}):(\d{2})(?::(\d{2}))?$/;
const SIA_DATE = /^(\d{2})-(\d{2})-(\d{2}|\d{4})$/;

/**
 * When an SIA event happened by its own `ti` (`HH:MM` or `HH:MM:SS`) and `da` (`MM-DD-YY` or
 * `MM-DD-YYYY`) modifiers — a panel that buffered events while its line was down reports when
 * each happened, so triage can flag the alarm late. Read in UTC, as DC-09's own timestamp is.
 * `ti` without `da` takes the day, of the message's, the one before and the one after, that puts
 * it nearest the message (a `ti` only says the time of day: hours before or after midnight are the
 * day before or after). Undefined, and the message's time used, when there is no `ti`, when either
 * does not read as a real time, or when the result is more than `aheadMs` after the message (a
 * panel on local summer time, or its clock running fast) or more than a week before it (a reset
 * clock): the modifiers stay on the event's data either way.
 */
export function panelTimeOf(
  modifiers: Readonly<Record<string, string>> | undefined,
  reference: Date,
  aheadMs: number,
): Date | undefined {
  const time = modifiers?.ti === undefined ? undefined : SIA_TIME.exec(modifiers.ti);
  if (!time) return undefined;
  const [hh, mi, ss] = [Number(time[1]), Number(time[2]), Number(time[3] ?? 0)];
  let year = reference.getUTCFullYear();
  let month = reference.getUTCMonth() + 1;
  let day = reference.getUTCDate();
  if (modifiers?.da !== undefined) {
    const date = SIA_DATE.exec(modifiers.da);
    if (!date) return undefined;
    month = Number(date[1]);
    day = Number(date[2]);
    year = (date[3] as string).length === 2 ? 2000 + Number(date[3]) : Number(date[3]);
  }
  let at = new Date(Date.UTC(year, month - 1, day, hh, mi, ss));
  const real =
    at.getUTCFullYear() === year &&
    at.getUTCMonth() === month - 1 &&
    at.getUTCDate() === day &&
    at.getUTCHours() === hh &&
    at.getUTCMinutes() === mi &&
    at.getUTCSeconds() === ss;
  if (!real) return undefined;
  if (modifiers?.da === undefined) {
    // Of the message's day, the day before and the day after, the time nearest the message: a press
    // just before midnight reported after it is the day before's, and a clock a little ahead (of
    // the communicator's that stamps the message, or of ours), or on summer time, is judged ahead
    // below, not taken for the day before's.
    const nearest = [at.getTime() - DAY_MS, at.getTime(), at.getTime() + DAY_MS].reduce((best, t) =>
      Math.abs(t - reference.getTime()) < Math.abs(best - reference.getTime()) ? t : best,
    );
    at = new Date(nearest);
  }
  const offset = at.getTime() - reference.getTime();
  if (offset > aheadMs || offset < -MAX_PANEL_AGE_MS) return undefined;
  return at;
}

import { ContentError } from './frame.ts';

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
  /** SIA free text between `^`. */
  readonly text?: string;
}

/** The provenance kept on every event: `CID 1101`, `SIA QA`. */
export const sourceCodeOf = (event: SourceEvent): string =>
  event.protocol === 'CID' ? `CID ${event.qualifier ?? ''}${event.code}` : `SIA ${event.code}`;

/** `#ACCT|` before the events is optional; it names the same account as the header. */
function withoutAccount(data: string): string {
  const m = /^#[0-9A-Fa-f]{3,16}\|/.exec(data);
  return m ? data.slice(m[0].length) : data;
}

/** Splits on `/` outside `^…^` text. */
function tokens(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inText = false;
  for (const ch of text) {
    if (ch === '^') inText = !inText;
    if (ch === '/' && !inText) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  if (inText) throw new ContentError('free text has no closing ^', 'data');
  out.push(current);
  return out;
}

const CID_EVENT = /^(\d)([0-9A-Fa-f]{3}) ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{3})$/;

/**
 * ADM-CID data: `#ACCT|QEEE GG ZZZ`, several events separated by `/` (as some panels batch them).
 */
export function readCidData(data: string): SourceEvent[] {
  const events = tokens(withoutAccount(data)).map((token) => {
    const m = CID_EVENT.exec(token.trim());
    if (!m)
      throw new ContentError(
        `Contact ID event ${JSON.stringify(token.slice(0, 40))} is not QEEE GG ZZZ`,
        'data',
      );
    return {
      protocol: 'CID' as const,
      qualifier: m[1] as string,
      code: (m[2] as string).toUpperCase(),
      area: (m[3] as string).toUpperCase(),
      zone: (m[4] as string).toUpperCase(),
    };
  });
  return events;
}

const SIA_MODIFIER = /^(ri|id|ti|pi|da)([0-9A-Za-z:.-]{0,16})$/;
const SIA_EVENT = /^([A-Z]{2})([0-9A-Za-z]{0,8})(?:\^([^^]*)\^)?$/;

/**
 * SIA-DCS data: `#ACCT|N` then `/`-separated modifiers (`ri` area, `id` user, `ti` time, `pi`
 * peripheral, `da` date) and events (`MA01`), each event taking the modifiers before it; free
 * text `^…^` after an event belongs to it.
 */
export function readSiaData(data: string): SourceEvent[] {
  const rest = withoutAccount(data);
  if (!rest.startsWith('N')) throw new ContentError('SIA data must start with N (new event)', 'data');
  const modifiers: Record<string, string> = {};
  const events: SourceEvent[] = [];
  // The first token may carry modifiers or an event straight after the N.
  for (const token of tokens(rest.slice(1))) {
    const modifier = SIA_MODIFIER.exec(token);
    if (modifier) {
      modifiers[modifier[1] as string] = modifier[2] as string;
      continue;
    }
    const event = SIA_EVENT.exec(token);
    if (event) {
      const { ri, ...others } = modifiers;
      events.push({
        protocol: 'SIA',
        code: event[1] as string,
        zone: event[2] as string,
        ...(ri === undefined ? {} : { area: ri }),
        ...(Object.keys(others).length ? { modifiers: { ...others } } : {}),
        ...(event[3] === undefined ? {} : { text: event[3] }),
      });
      continue;
    }
    const previous = events.at(-1);
    const text = /^\^([^^]*)\^$/.exec(token);
    if (text && previous && previous.text === undefined) {
      events[events.length - 1] = { ...previous, text: text[1] as string };
      continue;
    }
    throw new ContentError(
      `SIA token ${JSON.stringify(token.slice(0, 40))} is neither a modifier nor an event`,
      'data',
    );
  }
  if (events.length === 0) throw new ContentError('SIA data has no event code', 'data');
  return events;
}

/** How old a time a panel reports for a buffered event may be before it is not believed. */
export const MAX_PANEL_AGE_MS = 7 * 24 * 3600 * 1000;

const SIA_TIME = /^(\d{2}):(\d{2})(?::(\d{2}))?$/;
const SIA_DATE = /^(\d{2})-(\d{2})-(\d{2}|\d{4})$/;

/**
 * When an SIA event happened by its own `ti` (`HH:MM` or `HH:MM:SS`) and `da` (`MM-DD-YY` or
 * `MM-DD-YYYY`) modifiers — a panel that buffered events while its line was down reports when
 * each happened, so triage can flag the alarm late. Read in UTC, as DC-09's own timestamp is.
 * `ti` without `da` takes the message's date (the day before when that would put it ahead of the
 * message). Undefined, and the message's time used, when there is no `ti`, when either does not
 * read as a real time, or when the result is more than `aheadMs` after the message (a panel on
 * local summer time) or more than a week before it (a reset clock): the modifiers stay on the
 * event's data either way.
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
  if (modifiers?.da === undefined && at.getTime() > reference.getTime() + aheadMs) {
    at = new Date(at.getTime() - 24 * 3600 * 1000);
  }
  const offset = at.getTime() - reference.getTime();
  if (offset > aheadMs || offset < -MAX_PANEL_AGE_MS) return undefined;
  return at;
}

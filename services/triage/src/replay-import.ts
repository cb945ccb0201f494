import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  type Alert,
  AwayPeriod,
  attributeEvent,
  DeviceEventPayload,
  DeviceKind,
  eventIdFor,
  isUnexpectedKindAlarm,
  PreviousPairing,
  partitionOf,
  TAXONOMY,
  type TelecareEvent,
} from '@telecare/contracts';
import { type RuleSet, RulesRunner } from '@telecare/rules';
import { z } from 'zod';

/**
 * One line of an imported history: a device event as the device sent it, with what the device
 * map says about the device (`kind`, `location`, the resident it belongs to).
 */
export const ImportedEvent = z.object({
  serial: z.string().min(1).max(64),
  kind: DeviceKind,
  location: z.string().min(1).max(64).optional(),
  residentId: z.string().min(1).max(64),
  postcodeDistrict: z.string().min(1).max(8).optional(),
  /**
   * When the platform received the event, where the log kept it. With it, a device time too far
   * ahead or behind (or before `pairedAt`) is dated on receipt, as the gateway dates it.
   */
  receivedAt: z.iso.datetime({ offset: true }).optional(),
  /** When the device joined the resident's home (the device map's `pairedAt`), where known. */
  pairedAt: z.iso.datetime({ offset: true }).optional(),
  /**
   * The device's pairing before (the device map's `previousPairing`), where known: with a receipt
   * time, a device time in it is that resident's event, as the gateway gives it.
   */
  previousPairing: PreviousPairing.optional(),
  /**
   * When the device entered stock before this pairing (the device map's `stockedAt`), where known:
   * with a receipt time and no previous pairing, a device time from then until `pairedAt` less the
   * hour was the device's in stock and gives no event, as the gateway refuses it.
   */
  stockedAt: z.iso.datetime({ offset: true }).optional(),
  event: DeviceEventPayload,
});
export type ImportedEvent = z.infer<typeof ImportedEvent>;

/**
 * One line of a labels file: something really happened to the resident between `from` and `to`;
 * an alert for them in that span is a true one, and its first alert measures the time to alert.
 */
export const Label = z.object({
  residentId: z.string().min(1),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  kind: z.string().max(64).optional(),
});
export type Label = z.infer<typeof Label>;

/**
 * One line of an away file: a period the resident declared away (`from`, `until` or open-ended,
 * `reason`), as the registry would publish it; `id` defaults to the line's number.
 */
export const DeclaredAway = AwayPeriod.extend({
  residentId: z.string().min(1).max(64),
  id: z.string().min(1).max(64).optional(),
});
export type DeclaredAway = z.infer<typeof DeclaredAway>;

export class ImportLineError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'ImportLineError';
    this.line = line;
  }
}

/** One line of a JSON-lines file, checked (`n`: its number, from 1); undefined when blank. */
function parseLine<T>(raw: string, n: number, schema: z.ZodType<T>): T | undefined {
  const line = raw.trim();
  if (!line) return undefined;
  if (line.length > MAX_LINE_CHARS) throw new ImportLineError(n, `longer than ${MAX_LINE_CHARS} characters`);
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    throw new ImportLineError(n, `not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new ImportLineError(
      n,
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '),
    );
  return parsed.data;
}

/** A line longer than this is no device event (a device event is a few hundred characters). */
const MAX_LINE_CHARS = 65_536;

function parseLines<T>(text: string, schema: z.ZodType<T>): T[] {
  const out: T[] = [];
  text.split('\n').forEach((raw, i) => {
    const parsed = parseLine(raw, i + 1, schema);
    if (parsed !== undefined) out.push(parsed);
  });
  return out;
}

/**
 * A history of device events read from a file line by line, each line checked as it comes (the
 * first bad one stops the read, named by its number), as the gateways would have stored the
 * events, in time order; only `residents`' when given. A file of any size is read without holding
 * its text; `onProgress` is told the bytes read so far.
 */
export async function readImport(
  file: string,
  options: { residents?: readonly string[]; onProgress?: (bytes: number) => void } = {},
): Promise<TelecareEvent[]> {
  const only = options.residents && options.residents.length > 0 ? new Set(options.residents) : undefined;
  const stream = createReadStream(file, { encoding: 'utf8' });
  const events: TelecareEvent[] = [];
  let n = 0;
  let lastReport = 0;
  try {
    for await (const raw of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
      n++;
      const line = parseLine(raw, n, ImportedEvent);
      const event = line === undefined ? undefined : toTelecareEvent(line);
      if (event !== undefined && (!only || only.has(event.residentid))) events.push(event);
      if (options.onProgress && n - lastReport >= 50_000) {
        lastReport = n;
        options.onProgress(stream.bytesRead);
      }
    }
  } finally {
    stream.destroy();
  }
  return inTimeOrder(events);
}

const inTimeOrder = (events: TelecareEvent[]): TelecareEvent[] =>
  events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));

export const parseImport = (text: string): ImportedEvent[] => parseLines(text, ImportedEvent);
export const parseLabels = (text: string): Label[] => parseLines(text, Label);

/** Each resident's declared away periods, in the form the registry publishes them. */
export function parseAway(text: string): Map<string, AwayPeriod[]> {
  const byResident = new Map<string, AwayPeriod[]>();
  parseLines(text, DeclaredAway).forEach(({ residentId, id, ...period }, i) => {
    if (period.until !== undefined && Date.parse(period.until) <= Date.parse(period.from))
      throw new ImportLineError(i + 1, 'until: must be after from');
    const list = byResident.get(residentId) ?? [];
    list.push({ id: id ?? `away-${i + 1}`, ...period });
    byResident.set(residentId, list);
  });
  return byResident;
}

/**
 * The event as the gateways would have stored it: the same id, envelope and fields. With a receipt
 * time, dated and attributed by the gateway's own rule (`attributeEvent`): a device time too far
 * ahead or behind, or from before the device was paired, becomes the receipt time, kept as
 * `devicetime`; one in the device's previous pairing is the previous resident's event at its own
 * time, marked `movedat` and without the new home's location and district. Without one there is
 * nothing to hold the device's clock against, so its time is taken as written and stands for the
 * receipt time too: a history from a device whose clock was wrong replays at the times it wrote (a
 * line's receipt time is what makes a wrong clock tellable). A device time when the device was with
 * nobody (in stock between its previous pairing and this one, in stock before its first pairing, or
 * before the previous one) gives no event (undefined): the gateways refuse it as an unpaired
 * device's, and it is no resident's.
 */
export function toTelecareEvent(line: ImportedEvent): TelecareEvent | undefined {
  const iso = (at: string) => new Date(Date.parse(at)).toISOString();
  const receivedAt = line.receivedAt === undefined ? undefined : iso(line.receivedAt);
  const dated =
    receivedAt === undefined
      ? undefined
      : attributeEvent(line.event.at, receivedAt, line, TAXONOMY[line.event.type]?.priority === 1);
  if (dated?.residentId === null) return undefined;
  const residentId = dated?.residentId ?? line.residentId;
  const moved = dated?.movedat !== undefined;
  return {
    specversion: '1.0',
    id: eventIdFor(line.serial, line.event.id, line.event.at, line.event.type),
    source: '/import',
    type: line.event.type,
    subject: line.serial,
    time: dated?.devicetime === undefined ? iso(line.event.at) : dated.time,
    ...(dated?.devicetime === undefined ? {} : { devicetime: dated.devicetime }),
    datacontenttype: 'application/json',
    residentid: residentId,
    devicekind: line.kind,
    deviceeventid: line.event.id,
    partition: partitionOf(residentId, 8),
    receivedat: receivedAt ?? iso(line.event.at),
    testmode: false,
    ...(line.event.seq === undefined ? {} : { seq: line.event.seq }),
    ...(line.location && !moved ? { location: line.location } : {}),
    ...(line.postcodeDistrict && !moved ? { postcodedistrict: line.postcodeDistrict } : {}),
    ...(moved ? { movedat: dated?.movedat } : {}),
    // As the gateways store it: a life-critical alarm of a type its device's kind never reports (a
    // pendant's login sending a pull-cord's pull) is kept apart from the home's other presses, and
    // no cancel closes it. (The gateways refuse any other such type; a history keeps it as written.)
    ...(isUnexpectedKindAlarm(line.kind, line.event.type) ? { unexpectedkind: true } : {}),
    data: line.event.data,
  } as TelecareEvent;
}

export interface ImportOptions {
  readonly learnDays: number;
  /** Only these residents (all when empty). */
  readonly residents?: readonly string[];
  /** Declared away periods per resident, given with each input as triage gives the registry's. */
  readonly away?: ReadonlyMap<string, readonly AwayPeriod[]>;
}

export interface ImportRun {
  /** Alerts raised after the learning days, in order. */
  readonly alerts: Alert[];
  readonly events: number;
  readonly residents: number;
  /** Resident-days after learning (each resident from their first event's day plus `learnDays`). */
  readonly residentDays: number;
  readonly from: number;
  readonly to: number;
}

const DAY_MS = 86_400_000;

/**
 * Runs a rule set over an imported history, each event at its own time (in time order) and every
 * timer at its due time, and keeps the alerts raised after each resident's learning days.
 */
export function runImported(
  lines: readonly ImportedEvent[],
  ruleSet: RuleSet,
  options: ImportOptions,
): ImportRun {
  const only = options.residents && options.residents.length > 0 ? new Set(options.residents) : undefined;
  return runEvents(
    inTimeOrder(
      lines.flatMap((line) => {
        const event = toTelecareEvent(line);
        return event === undefined || (only && !only.has(event.residentid)) ? [] : [event];
      }),
    ),
    ruleSet,
    options,
  );
}

/**
 * `runImported` over events already as stored and in time order (`readImport`'s): `onProgress`
 * is told the share of them evaluated so far.
 */
export function runEvents(
  events: readonly TelecareEvent[],
  ruleSet: RuleSet,
  options: ImportOptions,
  onProgress?: (share: number) => void,
): ImportRun {
  const firstOf = new Map<string, number>();
  const lastOf = new Map<string, number>();
  for (const event of events) {
    const at = Date.parse(event.time);
    if (!firstOf.has(event.residentid)) firstOf.set(event.residentid, at);
    lastOf.set(event.residentid, at);
  }
  const learnedFrom = new Map(
    [...firstOf].map(([id, at]) => [id, Math.floor(at / DAY_MS) * DAY_MS + options.learnDays * DAY_MS]),
  );
  const away = options.away;
  const runner = new RulesRunner(ruleSet, away ? { away: (residentId) => away.get(residentId) } : {});
  const raised: Alert[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as TelecareEvent;
    for (const alert of runner.event(event, Date.parse(event.time))) raised.push(alert);
    if (onProgress && i % 50_000 === 49_999) onProgress((i + 1) / events.length);
  }
  let to = 0;
  for (const at of lastOf.values()) to = Math.max(to, at);
  let from = Number.POSITIVE_INFINITY;
  for (const at of firstOf.values()) from = Math.min(from, at);
  for (const alert of runner.advance(Math.ceil(to / DAY_MS) * DAY_MS)) raised.push(alert);
  const alerts = raised.filter(
    (alert) =>
      !alert.testMode && Date.parse(alert.raisedAt) >= (learnedFrom.get(alert.residentId) ?? Infinity),
  );
  let residentDays = 0;
  for (const [id, from] of learnedFrom)
    residentDays += Math.max(0, Math.ceil(((lastOf.get(id) ?? 0) - from) / DAY_MS));
  return {
    alerts,
    events: events.length,
    residents: firstOf.size,
    residentDays,
    from,
    to,
  };
}

export interface LabelScore {
  readonly falseAlerts: number;
  readonly falsePerResidentDay: number;
  readonly labels: number;
  readonly caught: number;
  /** Per label kind: how many, caught, median minutes to the first alert. */
  readonly byKind: Readonly<Record<string, { n: number; caught: number; medianMin?: number }>>;
}

/** How long after a label's end an alert still belongs to it (what happened is found late). */
const LABEL_GRACE_MS = 3600_000;

/** False alerts (for no labelled incident) per resident-day, and when the labelled ones were caught. */
export function scoreLabels(run: ImportRun, labels: readonly Label[]): LabelScore {
  const spans = labels.map((label) => ({
    label,
    from: Date.parse(label.from),
    to: Date.parse(label.to) + LABEL_GRACE_MS,
  }));
  const alerts = run.alerts.filter((alert) => !alert.closes && alert.priority <= 4);
  let falseAlerts = 0;
  const first = new Map<(typeof spans)[number], number>();
  for (const alert of alerts) {
    const at = Date.parse(alert.raisedAt);
    const span = spans.find(
      (s) => s.label.residentId === alert.residentId && at >= s.from - 120_000 && at <= s.to,
    );
    if (!span) falseAlerts++;
    else if (!first.has(span)) first.set(span, at);
  }
  const byKind: Record<string, { n: number; caught: number; times: number[] }> = {};
  for (const span of spans) {
    const name = span.label.kind ?? 'incident';
    const kind = byKind[name] ?? { n: 0, caught: 0, times: [] };
    byKind[name] = kind;
    kind.n++;
    const at = first.get(span);
    if (at !== undefined) {
      kind.caught++;
      kind.times.push((at - span.from) / 60_000);
    }
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  };
  return {
    falseAlerts,
    falsePerResidentDay: run.residentDays > 0 ? falseAlerts / run.residentDays : 0,
    labels: spans.length,
    caught: first.size,
    byKind: Object.fromEntries(
      Object.entries(byKind).map(([kind, k]) => [
        kind,
        {
          n: k.n,
          caught: k.caught,
          ...(k.times.length > 0 ? { medianMin: Math.round(median(k.times)) } : {}),
        },
      ]),
    ),
  };
}

export interface Pairing {
  /** The same alert (same id) from both. */
  readonly same: number;
  /** The same incident, raised at another time: same resident and type within `windowMs`. */
  readonly moved: ReadonlyArray<{
    readonly current: Alert;
    readonly candidate: Alert;
    readonly byMs: number;
  }>;
  readonly onlyCurrent: readonly Alert[];
  readonly onlyCandidate: readonly Alert[];
}

/**
 * Pairs two rule sets' alerts by incident: the same id is the same alert; otherwise an alert of
 * the same resident and type within `windowMs` is the same incident raised earlier or later
 * (nearest first), so a moved alert shows as moved, not as one gone and one new.
 */
export function pairAlerts(
  current: readonly Alert[],
  candidate: readonly Alert[],
  windowMs = 12 * 3600_000,
): Pairing {
  const candidateIds = new Set(candidate.map((alert) => alert.id));
  const currentIds = new Set(current.map((alert) => alert.id));
  const leftCurrent = current.filter((alert) => !candidateIds.has(alert.id));
  const leftCandidate = candidate.filter((alert) => !currentIds.has(alert.id));
  const taken = new Set<Alert>();
  const moved: Array<{ current: Alert; candidate: Alert; byMs: number }> = [];
  const onlyCurrent: Alert[] = [];
  for (const alert of leftCurrent) {
    const at = Date.parse(alert.raisedAt);
    let best: Alert | undefined;
    for (const other of leftCandidate) {
      if (taken.has(other) || other.residentId !== alert.residentId || other.type !== alert.type) continue;
      const distance = Math.abs(Date.parse(other.raisedAt) - at);
      if (distance <= windowMs && (!best || distance < Math.abs(Date.parse(best.raisedAt) - at)))
        best = other;
    }
    if (best) {
      taken.add(best);
      moved.push({ current: alert, candidate: best, byMs: Date.parse(best.raisedAt) - at });
    } else onlyCurrent.push(alert);
  }
  return {
    same: current.length - leftCurrent.length,
    moved,
    onlyCurrent,
    onlyCandidate: leftCandidate.filter((alert) => !taken.has(alert)),
  };
}

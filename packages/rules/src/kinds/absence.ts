/**
 * Absence rules: an expected event that did not come (wake-up, medication, carer visit, supervision).
 */
import { type Alert, deviceKindLabel, type EventType, TAXONOMY } from '@telecare/contracts';
import type {
  AbsenceRule,
  DeviceSupervision,
  EventInput,
  RecentEvent,
  ResidentState,
  RuleSet,
  Timer,
} from '../model.ts';
import { formatAlso, formatHhmm, formatWhen, zonedInstant } from '../time.ts';
import {
  assertNever,
  checkDue,
  derivedAlert,
  deviceValues,
  minutes,
  type Output,
  UNKNOWN_KIND,
  withField,
} from './output.ts';
import { planOf } from './plan.ts';
import { findEvent, firstAtOrAfter, KEEP_DEVICES_MS } from './recent.ts';
import { nextCheck, reschedule } from './schedule.ts';

export function absenceOnEvent(
  rule: AbsenceRule,
  entry: RecentEvent,
  state: ResidentState,
  input: EventInput,
  out: Output,
): ResidentState {
  const window = rule.window;
  if (window.kind === 'after-event') {
    const withinS = out.settings.thresholds[rule.id]?.withinS ?? window.withinS;
    // The check carries its event: decided hours behind, `recent` may have let it go.
    if (window.after.includes(entry.type))
      out.setTimer(rule, entry.at + withinS * 1000, {
        id: `${rule.id}:${entry.id}`,
        eventId: entry.id,
        event: entry,
      });
    else if (rule.expect.includes(entry.type)) metAfterEvent(rule, entry, state.recent, withinS, out);
    return state;
  }
  if (window.kind === 'visit')
    return rule.expect.includes(entry.type) ? metVisit(rule, entry, state, out) : state;
  if (window.kind !== 'supervision' || !rule.expect.includes(entry.type)) return state;
  const current = state.devices[entry.serial];
  const intervalS =
    input.device?.supervisionIntervalS ??
    out.settings.thresholds[rule.id]?.withinS ??
    current?.intervalS ??
    window.defaultIntervalS;
  const checkAt = entry.at + intervalS * 1000;
  // A heartbeat older than the latest (late, or of the same instant) has its check of its own, as
  // every heartbeat once had: it may start a silence the latest does not (up to the heartbeat
  // after it), and its tick looks for that heartbeat by event time, so it gives the same answer
  // whenever it arrives.
  if (current && current.lastAt >= entry.at) {
    out.setTimer(rule, checkAt, beatCheck(rule, entry.serial, entry.id, entry.at));
    return state;
  }
  if (current && !current.lost) {
    const within = entry.at <= current.lastAt + current.intervalS * 1000;
    // A record of the version before: the latest heartbeat's check is stored under its own id.
    // This one came within its interval: that check is moot.
    if (current.checkAt === undefined && within)
      out.timer({ op: 'cancel', id: beatTimerId(rule, entry.serial, current.lastId) });
    // This one came after the latest's interval, before its check fired: that check must still
    // decide the silence (and see this heartbeat end it), so it stays, under the heartbeat's own
    // id, as the device's timer moves on to this one.
    if (current.checkAt !== undefined && current.checkAt > 0 && !within)
      out.setTimer(rule, current.checkAt, beatCheck(rule, entry.serial, current.lastId, current.lastAt));
  }
  // The device's one check, moved to this heartbeat's: one write, not a set and a cancel.
  out.setTimer(rule, checkAt, {
    id: supervisionTimerId(rule.id, out.residentId, entry.serial),
    key: entry.serial,
    eventId: entry.id,
    eventAt: entry.at,
  });
  if (current?.lost) out.alert(restoredAlert(rule, out, current.lost, entry, intervalS));
  // The caller gave up the state (`evaluate`'s `reuse`): when no device is forgotten, the device's
  // record is updated where it is, as the copy below would make it. Only a record that has every
  // field the new one has, in the same order, and no other (not lost, no test mode but when this
  // heartbeat is a test's, its check stored): the stored JSON is then the same.
  const inPlace = out.reuse && state === out.owned && keepsAll(state.devices, out.now);
  if (
    inPlace &&
    current !== undefined &&
    current.lost === undefined &&
    current.checkAt !== undefined &&
    current.kind === entry.deviceKind &&
    current.testMode === (entry.testMode ? true : undefined)
  ) {
    const own = current as { -readonly [K in keyof DeviceSupervision]: DeviceSupervision[K] };
    own.lastAt = entry.at;
    own.lastId = entry.id;
    own.intervalS = intervalS;
    own.checkAt = checkAt;
    return state;
  }
  const kind = entry.deviceKind;
  const record: DeviceSupervision = entry.testMode
    ? { lastAt: entry.at, lastId: entry.id, intervalS, checkAt, kind, testMode: true }
    : { lastAt: entry.at, lastId: entry.id, intervalS, checkAt, kind };
  // A new device, or a record of another form: the record takes its place in the devices kept (a
  // new device goes last), as in the copy below.
  if (inPlace) {
    state.devices[entry.serial] = record;
    return state;
  }
  const devices: ResidentState['devices'] = {};
  // Devices silent for a month (and not lost) are forgotten: the state stays bounded.
  // `for…in` over the plain record, in the order `Object.entries` gives, without its pairs.
  for (const serial in state.devices) {
    const device = state.devices[serial] as DeviceSupervision;
    if (device.lost || device.lastAt >= out.now - KEEP_DEVICES_MS) devices[serial] = device;
  }
  devices[entry.serial] = record;
  return withField(out, state, 'devices', devices);
}

/**
 * An expected event (a dose taken) within the window after the events it answers (the dose
 * offered): their checks are cancelled. Taken in time order they would find it in `recent`; decided
 * hours behind (triage catching up), `recent` may have let it go and the dose would be "missed".
 */
function metAfterEvent(
  rule: AbsenceRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  withinS: number,
  out: Output,
): void {
  if (rule.window.kind !== 'after-event') return;
  for (let i = firstAtOrAfter(recent, entry.at - withinS * 1000); i < recent.length; i++) {
    const due = recent[i] as RecentEvent;
    if (due.at > entry.at) break;
    if (
      rule.window.after.includes(due.type) &&
      (due.doseId === undefined || entry.doseId === undefined || due.doseId === entry.doseId)
    )
      out.timer({ op: 'cancel', id: `${rule.id}:${due.id}` });
  }
}

/**
 * A carer's arrival within a visit's window: noted in the schedule (`scheduled`, under
 * `<rule>@<check time>`) for that visit's check, which reads it when `recent` (decided hours behind,
 * triage catching up) has let the arrival go. Behind, the check awaited may be an earlier visit's.
 */
function metVisit(rule: AbsenceRule, entry: RecentEvent, state: ResidentState, out: Output): ResidentState {
  const visit = nextCheck(rule, out, entry.at - 1, state);
  if (!visit || !visitWindowHas(rule, visit.key, visit.checkAt, entry, out)) return state;
  const key = metKey(rule, visit.checkAt);
  if (state.scheduled[key] !== undefined) return state;
  return withField(out, state, 'scheduled', { ...state.scheduled, [key]: entry.at });
}

const metKey = (rule: AbsenceRule, checkAt: number) => `${rule.id}@${checkAt}`;

/** The schedule without the arrivals noted for this rule's visits checked by `checkAt`. */
function withoutMet(rule: AbsenceRule, state: ResidentState, checkAt: number): ResidentState {
  const prefix = `${rule.id}@`;
  let scheduled: Record<string, number> | undefined;
  for (const key in state.scheduled)
    if (key.startsWith(prefix) && Number(key.slice(prefix.length)) <= checkAt) {
      scheduled ??= { ...state.scheduled };
      delete scheduled[key];
    }
  return scheduled ? withField(undefined, state, 'scheduled', scheduled) : state;
}

/** Whether `seen` is an expected event within the visit `key` (`<date>T<hh:mm>@<visit at>`) checked at `checkAt`. */
function visitWindowHas(
  rule: AbsenceRule,
  key: string | undefined,
  checkAt: number,
  seen: RecentEvent,
  out: Output,
) {
  const toleranceS =
    out.settings.thresholds[rule.id]?.withinS ?? (rule.window.kind === 'visit' ? rule.window.toleranceS : 0);
  const from = Number(key?.split('@')[1]) - toleranceS * 1000;
  return rule.expect.includes(seen.type) && seen.at >= from && seen.at <= checkAt;
}

/**
 * The id of a device's one supervision check: the latest heartbeat's, moved by each heartbeat in
 * order (one write per heartbeat). The resident is in it, so that a device moved to another home
 * never moves the check of the one it left.
 */
export const supervisionTimerId = (ruleId: string, residentId: string, serial: string): string =>
  `${ruleId}:${residentId}:${serial}`;

/**
 * The id of one heartbeat's own check: a late heartbeat's, one that must still decide a silence a
 * later heartbeat ended, and every check stored by the version before.
 */
export const beatTimerId = (rule: AbsenceRule, serial: string, eventId: string): string =>
  `${rule.id}:${serial}:${eventId}`;

const beatCheck = (rule: AbsenceRule, serial: string, eventId: string, eventAt: number) => ({
  id: beatTimerId(rule, serial, eventId),
  key: serial,
  eventId,
  eventAt,
});

/** Whether every device is still remembered: lost, or heard from within `KEEP_DEVICES_MS`. */
function keepsAll(devices: ResidentState['devices'], now: number): boolean {
  for (const serial in devices) {
    const device = devices[serial] as DeviceSupervision;
    if (!(device.lost || device.lastAt >= now - KEEP_DEVICES_MS)) return false;
  }
  return true;
}

export function restoredAlert(
  rule: AbsenceRule,
  out: Output,
  lostId: string,
  back: RecentEvent,
  intervalS: number,
): Alert {
  return derivedAlert(rule, out, {
    key: `restored:${lostId}`,
    evidence: [back],
    thresholds: { intervalS },
    detail: `${deviceNamed(back.deviceKind, back.serial)} heard again at ${formatHhmm(back.at, out.settings.timeZone)}`,
    decidedAt: back.at,
    type: 'supervision.restored',
    priority: 5,
    closes: { alertId: lostId, outcome: 'restored' },
  });
}

/** A device as a supervision alert names it: its kind and serial (`device` and the serial when the kind is not known). */
const deviceNamed = (kind: string, serial: string): string =>
  `${kind === UNKNOWN_KIND ? 'device' : deviceKindLabel(kind)} ${serial}`;

/** The heartbeat a supervision timer started from, told by the timer when the state lost it. */
export function lostStateBase(
  id: string,
  at: number,
  serial: string,
  rule: AbsenceRule,
  kind: string = UNKNOWN_KIND,
): RecentEvent {
  return {
    id,
    type: rule.expect[0] ?? 'heartbeat',
    at,
    serial,
    deviceKind: kind,
    testMode: false,
  };
}

export function absenceOnTick(
  rule: AbsenceRule,
  timer: Timer,
  state: ResidentState,
  out: Output,
): ResidentState {
  const window = rule.window;
  const tz = out.settings.timeZone;
  switch (window.kind) {
    case 'after-event': {
      const recent = state.recent;
      const withinWindowS = out.settings.thresholds[rule.id]?.withinS ?? window.withinS;
      const at = findEvent(recent, timer.eventId, timer.checkAt - withinWindowS * 1000);
      const due = at >= 0 ? (recent[at] as RecentEvent) : timer.event;
      if (due === undefined) return state;
      // What came from its time to the check: the list is sorted, so from the first at its time.
      for (let i = firstAtOrAfter(recent, due.at); i < recent.length; i++) {
        const seen = recent[i] as RecentEvent;
        if (seen.at > timer.checkAt) break;
        if (
          rule.expect.includes(seen.type) &&
          (due.doseId === undefined || seen.doseId === undefined || seen.doseId === due.doseId)
        )
          return state;
      }
      const withinS = Math.round((timer.checkAt - due.at) / 1000);
      out.alert(
        derivedAlert(rule, out, {
          key: due.id,
          evidence: [due],
          thresholds: { withinS },
          detail: `${TAXONOMY[due.type].description.toLowerCase()} at ${formatWhen(due.at, tz, timer.checkAt)}`,
          expected: `${rule.expect.join(' or ')} by ${formatHhmm(timer.checkAt, tz)}`,
          seen: 'none',
          decidedAt: checkDue(timer, out),
          byTimer: true,
        }),
      );
      return state;
    }
    case 'supervision':
      // The device was re-paired to another resident, or removed, while its check here was due:
      // not this home's to supervise any more. Its record goes (a loss it raised stays closed by
      // nothing: the helpline holds that case).
      if (out.device !== undefined && out.device.residentId !== timer.residentId)
        return state.devices[timer.key ?? ''] === undefined ? state : withoutDevice(state, timer.key ?? '');
      return timer.id === supervisionTimerId(rule.id, timer.residentId, timer.key ?? '')
        ? deviceCheck(rule, timer, state, out)
        : beatCheckTick(rule, timer, state, out);
    case 'wake-up': {
      const date = timer.key ?? '';
      const from = zonedInstant(date, out.settings.wakeFrom, tz);
      const to = timer.checkAt;
      const active = state.recent.some(
        (seen) => rule.expect.includes(seen.type) && seen.at >= from && seen.at <= to,
      );
      if (!active) {
        const last = lastOf(state.recent, rule.expect, to);
        out.alert(
          derivedAlert(rule, out, {
            key: `wake-up:${date}`,
            evidence: last ? [last] : [],
            thresholds: { wakeUpFrom: formatHhmm(from, tz), wakeUpTo: formatHhmm(to, tz) },
            detail: `no movement between ${formatHhmm(from, tz)} and ${formatWhen(to, tz, to)}`,
            expected: `movement by ${formatHhmm(to, tz)}`,
            seen: last
              ? `last movement at ${formatAlso(last.at, tz, to, to)} (${deviceValues(last).device})`
              : 'no movement recorded',
            decidedAt: checkDue(timer, out),
            byTimer: true,
          }),
        );
      }
      return reschedule(rule, state, out, timer.checkAt);
    }
    case 'visit': {
      const visitAt = Number(timer.key?.split('@')[1]);
      const toleranceS = out.settings.thresholds[rule.id]?.withinS ?? window.toleranceS;
      const from = visitAt - toleranceS * 1000;
      const arrived =
        state.scheduled[metKey(rule, timer.checkAt)] !== undefined ||
        state.recent.some(
          (seen) => rule.expect.includes(seen.type) && seen.at >= from && seen.at <= timer.checkAt,
        );
      if (!arrived) {
        out.alert(
          derivedAlert(rule, out, {
            key: `visit:${timer.key}`,
            evidence: [],
            thresholds: { toleranceS, visitAt: formatHhmm(visitAt, tz) },
            detail: `visit due at ${formatWhen(visitAt, tz, timer.checkAt)}`,
            expected: `${rule.expect.join(' or ')} between ${formatHhmm(from, tz)} and ${formatHhmm(timer.checkAt, tz)}`,
            seen: 'none',
            decidedAt: checkDue(timer, out),
            byTimer: true,
          }),
        );
      }
      return reschedule(rule, withoutMet(rule, state, timer.checkAt), out, timer.checkAt);
    }
    default:
      return assertNever(window);
  }
}

export function lastOf(recent: readonly RecentEvent[], types: readonly EventType[], before: number) {
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at <= before && types.includes(seen.type)) return seen;
  }
  return undefined;
}

/**
 * A device's one check come due (`supervisionTimerId`). It was set for the latest heartbeat, and
 * each heartbeat in order moved it, so it names the heartbeat the device has been silent since:
 * that one is read from the device's record, never looked for in `recent`, which may have let it
 * go (a day's events, or a busy home's last 200) before an interval of more than a day ran out.
 */
function deviceCheck(rule: AbsenceRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const serial = timer.key ?? '';
  const device = state.devices[serial];
  if (timer.eventId === undefined || timer.eventAt === undefined) return state;
  // The state was lost after this heartbeat (Redis flushed), or holds only what came before it:
  // any heartbeat since would have put the device back in it, so it has been silent since.
  if (!device || device.lastAt < timer.eventAt) return silentSince(rule, timer, state, out, undefined);
  if (device.lost) return state; // the loss is raised once while silent
  if (device.lastId === timer.eventId && device.lastAt === timer.eventAt)
    return silentSince(rule, timer, state, out, device);
  // A heartbeat came after the one the check was set for and the check was not moved with it:
  // the state is ahead of the stored timer (the tick was read before the heartbeat moved it).
  // Its own check decides that heartbeat as it always did; the latest's is stored again.
  const decided = beatCheckTick(rule, timer, state, out);
  const latest = decided.devices[serial] as DeviceSupervision;
  if (latest.lost) return decided;
  const checkAt = latest.lastAt + latest.intervalS * 1000;
  if (checkAt > timer.checkAt) {
    out.setTimer(rule, checkAt, {
      id: timer.id,
      key: serial,
      eventId: latest.lastId,
      eventAt: latest.lastAt,
    });
    return withDevice(decided, serial, { ...latest, checkAt });
  }
  return silentSince(
    rule,
    { ...timer, eventId: latest.lastId, eventAt: latest.lastAt },
    decided,
    out,
    latest,
  );
}

/** The loss of a device silent since the heartbeat `timer` names, raised once. */
function silentSince(
  rule: AbsenceRule,
  timer: Timer,
  state: ResidentState,
  out: Output,
  device: DeviceSupervision | undefined,
): ResidentState {
  const serial = timer.key ?? '';
  const eventId = timer.eventId as string;
  const eventAt = timer.eventAt as number;
  const found = findEvent(state.recent, eventId, eventAt);
  const remembered = found < 0 ? undefined : state.recent[found];
  const base = remembered ?? {
    ...lostStateBase(eventId, eventAt, serial, rule, device?.kind ?? out.device?.kind),
    testMode: device?.testMode === true,
  };
  const alert = lostAlert(rule, out, timer, base);
  out.alert(alert);
  const lost = device
    ? lostRecord(device.lastAt, device.lastId, device.intervalS, device.kind, alert.id)
    : lostRecord(
        base.at,
        base.id,
        Math.round((timer.checkAt - base.at) / 1000),
        base.deviceKind === UNKNOWN_KIND ? undefined : base.deviceKind,
        alert.id,
      );
  return withDevice(state, serial, lost);
}

function withoutDevice(state: ResidentState, serial: string): ResidentState {
  const devices: ResidentState['devices'] = {};
  for (const other in state.devices)
    if (other !== serial) devices[other] = state.devices[other] as DeviceSupervision;
  return withField(undefined, state, 'devices', devices);
}

/**
 * The serial a timer supervises, when it is a supervision check of the rule set (the shell looks
 * the device up in the device map and gives it with the tick, `TickInput.device`); else undefined.
 */
export function supervisedSerial(timer: Timer, ruleSet: RuleSet): string | undefined {
  const rule = planOf(ruleSet).byId.get(timer.ruleId);
  return rule?.kind === 'absence' && rule.window.kind === 'supervision' ? timer.key : undefined;
}

const withDevice = (state: ResidentState, serial: string, record: DeviceSupervision): ResidentState =>
  withField(undefined, state, 'devices', { ...state.devices, [serial]: record });

function lostAlert(rule: AbsenceRule, out: Output, timer: Timer, base: RecentEvent): Alert {
  const serial = timer.key ?? '';
  const tz = out.settings.timeZone;
  const intervalS = Math.round((timer.checkAt - base.at) / 1000);
  return derivedAlert(rule, out, {
    key: `${serial}:${base.id}`,
    evidence: [base],
    thresholds: { intervalS },
    detail: `${deviceNamed(base.deviceKind, serial)} silent since ${formatWhen(base.at, tz, timer.checkAt)}`,
    expected: `a heartbeat every ${minutes(intervalS * 1000)}`,
    seen: `none for ${minutes(timer.checkAt - base.at)}`,
    decidedAt: checkDue(timer, out),
    byTimer: true,
  });
}

/**
 * One heartbeat's own check (`beatTimerId`): silent from that heartbeat to its check when the
 * device's next heartbeat by event time is later (or none came). It looks for the heartbeat in
 * `recent`, which keeps each device's last two.
 */
function beatCheckTick(rule: AbsenceRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const serial = timer.key ?? '';
  const device = state.devices[serial];
  if (device?.lost) return state; // the loss is raised once while silent
  const recent = state.recent;
  // The timer carries its heartbeat's time (older stored timers may not: then a scan).
  const found =
    timer.eventAt === undefined
      ? recent.findIndex((seen) => seen.id === timer.eventId)
      : findEvent(recent, timer.eventId, timer.eventAt);
  let base = found < 0 ? undefined : recent[found];
  if (!device) {
    // The state was lost after this heartbeat (Redis flushed): any heartbeat since would have
    // put the device back in it, so the device has been silent since the timer's event.
    if (timer.eventId === undefined || timer.eventAt === undefined) return state;
    base = lostStateBase(timer.eventId, timer.eventAt, serial, rule, out.device?.kind);
  }
  if (!base) return state;
  // The device's heartbeats after it, by time (the list is sorted): one by the check means the
  // device was not silent; the first after the check, that it is back already.
  let back: RecentEvent | undefined;
  for (let i = firstAtOrAfter(recent, base.at); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at <= base.at || seen.serial !== serial || !rule.expect.includes(seen.type)) continue;
    if (seen.at <= timer.checkAt) return state;
    back = seen;
    break;
  }
  const alert = lostAlert(rule, out, timer, base);
  out.alert(alert);
  // A heartbeat that arrived before this check but came after the interval: back already.
  if (back) {
    out.alert(restoredAlert(rule, out, alert.id, back, Math.round((timer.checkAt - base.at) / 1000)));
    return state;
  }
  const supervised = device ?? {
    lastAt: base.at,
    lastId: base.id,
    intervalS: Math.round((timer.checkAt - base.at) / 1000),
  };
  const kind = device?.kind ?? (base.deviceKind === UNKNOWN_KIND ? undefined : base.deviceKind);
  const lost = lostRecord(supervised.lastAt, supervised.lastId, supervised.intervalS, kind, alert.id);
  return withDevice(state, serial, lost);
}

/**
 * The record of a device whose loss was raised, its kind kept when known. One literal each, not a
 * spread and a field added to it: that gives every record its own shape.
 */
function lostRecord(
  lastAt: number,
  lastId: string,
  intervalS: number,
  kind: string | undefined,
  lost: string,
): DeviceSupervision {
  return kind === undefined
    ? { lastAt, lastId, intervalS, checkAt: 0, lost }
    : { lastAt, lastId, intervalS, checkAt: 0, kind, lost };
}

import { type Alert, type EventType, eventIdFor, partitionOf, TelecareEvent } from '@telecare/contracts';
import { type Evaluation, evaluate, type HeldAlert, type SuppressedAlert } from './evaluate.ts';
import { initialState, type ResidentState, type RuleSet, type Timer } from './model.ts';

/**
 * Builds a valid TelecareEvent for tests and replays: ids derived exactly as the gateways do,
 * so fixtures look like the real thing.
 */
export function makeEvent(
  overrides: Partial<Omit<TelecareEvent, 'id'>> & { type: EventType; deviceEventId?: string } & {
    time: string;
  },
): TelecareEvent {
  const { deviceEventId = `dev-evt-${overrides.type}-${overrides.time}`, ...fields } = overrides;
  const serial = fields.subject ?? 'PX-0001';
  const residentid = fields.residentid ?? 'res_test0001';
  return TelecareEvent.parse({
    specversion: '1.0',
    source: '/test',
    subject: serial,
    datacontenttype: 'application/json',
    residentid,
    devicekind: 'pendant',
    deviceeventid: deviceEventId,
    partition: partitionOf(residentid, 8),
    receivedat: fields.time,
    testmode: false,
    data: {},
    ...fields,
    id: eventIdFor(serial, deviceEventId, fields.devicetime ?? fields.time, fields.type),
  });
}

/**
 * An event maker for one resident's device reports (`[device kind, serial, location]`), each with
 * an id of its own (`<prefix>-1`, `<prefix>-2`, …), as a home's senders number theirs.
 */
export function deviceEvents(residentid: string, prefix: string) {
  let counter = 0;
  return (
    type: EventType,
    time: number,
    [devicekind, subject, location]: readonly [string, string, string],
  ) =>
    makeEvent({
      type,
      time: new Date(time).toISOString(),
      residentid,
      devicekind,
      subject,
      location,
      deviceEventId: `${prefix}-${++counter}`,
    });
}

/**
 * The rules shell by hand, for tests: each evaluation's state, alerts, holds, suppressed reports and timer commands
 * taken, the timers kept in a map and fired only when the test says (`fire`), so a test can hold
 * them back as a triage that is behind does.
 */
export function handShell(residentId: string, ruleSet: RuleSet) {
  let state: ResidentState = initialState(residentId);
  const timers = new Map<string, Timer>();
  const raised: Alert[] = [];
  const held: HeldAlert[] = [];
  const suppressed: SuppressedAlert[] = [];
  const take = (result: Evaluation) => {
    state = result.state;
    for (const command of result.timers)
      if (command.op === 'set') timers.set(command.timer.id, command.timer);
      else timers.delete(command.id);
    raised.push(...result.alerts);
    held.push(...result.held);
    suppressed.push(...result.suppressed);
  };
  return {
    timers,
    raised,
    held,
    suppressed,
    get state() {
      return state;
    },
    /** Reads an event, by default a second after its time. */
    read(event: TelecareEvent, now = Date.parse(event.time) + 1000) {
      take(evaluate(state, { kind: 'event', event, now }, ruleSet));
    },
    /** Fires every timer due by `until`, earliest first, each at its due time unless `now` says. */
    fire(until: number, now: (timer: Timer) => number = (timer) => timer.dueAt) {
      for (;;) {
        let due: Timer | undefined;
        for (const t of timers.values()) if (t.dueAt <= until && (!due || t.dueAt < due.dueAt)) due = t;
        if (!due) return;
        timers.delete(due.id);
        take(evaluate(state, { kind: 'tick', timer: due, now: now(due) }, ruleSet));
      }
    },
  };
}

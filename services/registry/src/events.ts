import { TelecareEvent } from '@telecare/contracts';
import type { Clock, Logger } from '@telecare/platform';
import { type ConsumerDeps, startRegistryConsumer } from './consumers.ts';
import { kindMismatchOf } from './kind-mismatch.ts';
import type { TestCall } from './records.ts';
import type { RegistryStore } from './store.ts';

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

export interface EventsDeps extends ConsumerDeps {
  /** Called after a test call ended, so the device map and DC-09 bucket follow the device. */
  onTestFinished: (test: TestCall) => Promise<void>;
}

/**
 * The registry's own durable consumer of every event: it keeps device health (last heartbeat,
 * battery, mains, signal, last pendant use, the latest alarm its kind does not report) and confirms
 * test calls end to end — the event has passed the gateway, JetStream and reached a consumer like
 * triage does. What it cannot read is not ours to judge: the gateway validated it and triage
 * dead-letters what it cannot read.
 */
export async function startEventsConsumer(deps: EventsDeps): Promise<{ stop(): Promise<void> }> {
  const log = deps.logger.child({ component: 'events' });
  return startRegistryConsumer(deps, {
    stream: deps.names.streams.events,
    subjects: deps.names.subjects.allEvents,
    from: { deliver_policy: 'all' },
    schema: TelecareEvent,
    handle: (event) => recordEvent(deps, log, event),
    log,
  });
}

/** One event: the device's health, and the test call it may end; the consumer loop acks after. */
async function recordEvent(deps: EventsDeps, log: Logger, event: TelecareEvent): Promise<void> {
  const data = event.data;
  const batteryPercent = num(data.batteryPercent);
  const signalDbm = num(data.signalDbm);
  const mains = typeof data.mains === 'boolean' ? data.mains : undefined;
  // A life-critical alarm the gateway stored although the device's kind (as the gateway held it)
  // does not report it: no dead letter tells of it, so health does.
  const mismatch = kindMismatchOf(event.devicekind, { type: event.type, at: event.time, eventId: event.id });
  // Raised by gateway-mqtt from the broker's log: the device's secret in use somewhere else too.
  const contested =
    event.type === 'device.login-contested'
      ? { eventId: event.id, takeovers: num(data.takeovers) ?? null, addresses: num(data.addresses) ?? null }
      : undefined;
  await deps.store.recordHealth(
    event.subject,
    {
      type: event.type,
      // Health only moves forward in time: a time after receipt (a device clock ahead, or forged)
      // would make the device look alive, and its supervision silent, until then.
      at: new Date(Math.min(Date.parse(event.time), Date.parse(event.receivedat))),
      ...(batteryPercent === undefined ? {} : { batteryPercent }),
      ...(signalDbm === undefined ? {} : { signalDbm }),
      ...(mains === undefined ? {} : { mains }),
      ...(mismatch === undefined ? {} : { kindMismatch: { kind: mismatch.kind, eventId: mismatch.eventId } }),
      ...(contested === undefined ? {} : { loginContested: contested }),
      // By its receipt, not the panel's clock (a timestamp to the second may read before the key
      // change it came after): the gateway took the old key only once the change had reached it.
      ...(event.dc09key === 'previous' ? { previousKeyAt: new Date(event.receivedat) } : {}),
    },
    new Date(deps.clock.now()),
  );
  if (event.testmode) await confirmTestCall(deps, log, event, { batteryPercent, signalDbm });
}

/**
 * A device time further behind its receipt than this is a wrong clock (one reset to 2000 after a
 * power cut, or a forged time), not a slow path: the latency is then measured from receipt.
 */
const CLOCK_BEHIND_MS = 3_600_000;

/**
 * Press (device clock) to confirmed here: the whole path, gateway and JetStream included. From
 * receipt when the device's clock is wrong: years since a reset clock's date are no latency, and
 * more milliseconds than the column holds (the pass was never written, the event handed back).
 */
function latencyOf(event: TelecareEvent, now: number): number {
  const pressed = Date.parse(event.time);
  const received = Date.parse(event.receivedat);
  const from = received - pressed > CLOCK_BEHIND_MS ? received : pressed;
  return Math.max(0, now - from);
}

/**
 * A test-mode event: a trigger the test waits for passes it; anything else proves the line only. A
 * life-critical alarm of a type the registered kind does not report (a pendant registered as a
 * pull-cord) is kept as a kind mismatch: it is the installer's cue that the registration is wrong.
 */
async function confirmTestCall(
  deps: EventsDeps,
  log: Logger,
  event: TelecareEvent,
  read: { batteryPercent: number | undefined; signalDbm: number | undefined },
): Promise<void> {
  const test = await deps.store.waitingTest(event.subject);
  if (!test || Date.parse(event.receivedat) < Date.parse(test.startedAt)) return;
  const now = deps.clock.now();
  const trigger = test.expected.includes(event.type);
  const arrival = {
    type: event.type,
    at: event.time,
    eventId: event.id,
    trigger,
    ...(event.dc09key === 'previous' ? { previousKey: true as const } : {}),
  };
  if (!trigger) {
    // A connection, a heartbeat, a DC-09 poll or any other event proves the line, not the
    // sensor: shown as "connected, no trigger yet", and the test keeps waiting. So it does after a
    // kind mismatch, as after a refusal: a device may still send its trigger (a pendant with a fall
    // sensor registered as a pendant), and at the deadline the call fails naming the mismatch.
    const mismatch = kindMismatchOf(test.kind, { type: event.type, at: event.time, eventId: event.id });
    await deps.store.noteTestArrival(test.id, arrival, new Date(now), mismatch);
    if (mismatch)
      log.info(
        { serial: event.subject, testId: test.id, type: event.type, kind: test.kind },
        'test call: an alarm the registered kind does not report',
      );
    else
      log.info(
        { serial: event.subject, testId: test.id, type: event.type },
        'test call: connected, no trigger yet',
      );
    return;
  }
  const health = (await deps.store.health({ serial: event.subject }, new Date(now)))[0];
  const finished = await deps.store.finishTest(
    test.id,
    {
      status: 'passed',
      eventId: event.id,
      eventType: event.type,
      latencyMs: latencyOf(event, now),
      batteryPercent: read.batteryPercent ?? health?.batteryPercent ?? null,
      signalDbm: read.signalDbm ?? health?.signalDbm ?? null,
      arrival,
    },
    new Date(now),
  );
  if (finished) {
    log.info({ serial: event.subject, testId: test.id, latencyMs: finished.latencyMs }, 'test call passed');
    await deps.onTestFinished(finished);
  }
}

/**
 * Why a test call ended without its trigger: an alarm its registered kind does not report (the
 * latest named: the device is likely registered as the wrong kind), messages a gateway refused (the
 * latest named: the device is sending, wrongly), silence, or a device that was there ("connected,
 * no trigger yet") with what arrived, so the installer knows the line works and the sensor was not
 * set off.
 */
export function failureReason(test: TestCall): string {
  const waitedS = Math.round((Date.parse(test.deadline) - Date.parse(test.startedAt)) / 1000);
  const mismatch = test.mismatched.at(-1);
  if (mismatch)
    return `kind mismatch: ${mismatch.detail}; no ${test.expected.join(' or ')} from ${test.serial} within ${waitedS} s`;
  const refused = test.refused.at(-1);
  if (refused)
    return `messages arrive but are refused: ${refused.reason}: ${refused.detail}; no ${test.expected.join(' or ')} from ${test.serial} within ${waitedS} s`;
  if (test.arrived.length === 0) return `no event from ${test.serial} within ${waitedS} s`;
  const types = [...new Set(test.arrived.map((a) => a.type))].join(', ');
  return `connected, no trigger yet: ${types} arrived from ${test.serial}, but no ${test.expected.join(' or ')} within ${waitedS} s`;
}

/**
 * Ends test calls whose deadline has passed: failed with a reason, the device back to installed.
 * Deadlines live in PostgreSQL, so a restarted registry ends them on time too.
 */
export function startTestDeadlines(deps: {
  store: RegistryStore;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
  onTestFinished: (test: TestCall) => Promise<void>;
}): { stop(): Promise<void> } {
  const log = deps.logger.child({ component: 'test-calls' });
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const tick = async () => {
    const now = new Date(deps.clock.now());
    for (const test of await deps.store.expiredTests(now)) {
      const finished = await deps.store.finishTest(
        test.id,
        { status: 'failed', reason: failureReason(test) },
        now,
      );
      if (finished) {
        log.info({ serial: test.serial, testId: test.id }, 'test call failed: no event before the deadline');
        await deps.onTestFinished(finished);
      }
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(tick).catch((err: unknown) => log.warn({ err }, 'test deadline check failed'));
  }, deps.intervalMs ?? 500);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

import type { JsMsg } from '@nats-io/jetstream';
import { type Names, TelecareEvent } from '@telecare/contracts';
import {
  ACK_WAIT_S,
  backoffDelay,
  type Clock,
  decodeJson,
  type JetStreamClient,
  type JetStreamManager,
  keepWorking,
  type Logger,
  REDELIVERY,
  SECOND_NS,
} from '@telecare/platform';
import type { TestCall } from './records.ts';
import type { RegistryStore } from './store.ts';

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

export interface EventsDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  store: RegistryStore;
  clock: Clock;
  logger: Logger;
  consumer: string;
  /** Called after a test call ended, so the device map and DC-09 bucket follow the device. */
  onTestFinished: (test: TestCall) => Promise<void>;
}

/**
 * The registry's own durable consumer of every event: it keeps device health (last heartbeat,
 * battery, mains, signal, last pendant use) and confirms test calls end to end — the event has
 * passed the gateway, JetStream and reached a consumer like triage does.
 */
export async function startEventsConsumer(deps: EventsDeps): Promise<{ stop(): Promise<void> }> {
  const log = deps.logger.child({ component: 'events' });
  const stream = deps.names.streams.events;
  const existing = await deps.jsm.consumers.info(stream, deps.consumer).catch(() => undefined);
  if (!existing)
    await deps.jsm.consumers.add(stream, {
      durable_name: deps.consumer,
      ack_policy: 'explicit',
      deliver_policy: 'all',
      filter_subject: deps.names.subjects.allEvents,
      ack_wait: ACK_WAIT_S * SECOND_NS,
      max_deliver: -1,
      max_ack_pending: 1000,
    });
  else if (existing.config.ack_wait !== ACK_WAIT_S * SECOND_NS)
    await deps.jsm.consumers.update(stream, deps.consumer, { ack_wait: ACK_WAIT_S * SECOND_NS });
  const consumer = await deps.js.consumers.get(stream, deps.consumer);
  const messages = await consumer.consume({ max_messages: 256 });
  const loop = (async () => {
    for await (const msg of messages)
      await keepWorking(msg, ACK_WAIT_S * 1_000, () => handle(deps, log, msg));
  })().catch((err: unknown) => log.error({ err }, 'events consumer stopped unexpectedly'));
  return {
    async stop() {
      await messages.close();
      await loop;
    },
  };
}

async function handle(deps: EventsDeps, log: Logger, msg: JsMsg): Promise<void> {
  const parsed = decodeJson(TelecareEvent, msg.data);
  if (!parsed.ok) {
    // Not ours to judge: the gateway validated it and triage dead-letters what it cannot read.
    log.warn({ subject: msg.subject }, 'event not readable; skipped for health');
    msg.ack();
    return;
  }
  const event = parsed.value;
  try {
    const data = event.data;
    const batteryPercent = num(data.batteryPercent);
    const signalDbm = num(data.signalDbm);
    const mains = typeof data.mains === 'boolean' ? data.mains : undefined;
    await deps.store.recordHealth(event.subject, {
      type: event.type,
      // Health only moves forward in time: a time after receipt (a device clock ahead, or forged)
      // would make the device look alive, and its supervision silent, until then.
      at: new Date(Math.min(Date.parse(event.time), Date.parse(event.receivedat))),
      ...(batteryPercent === undefined ? {} : { batteryPercent }),
      ...(signalDbm === undefined ? {} : { signalDbm }),
      ...(mains === undefined ? {} : { mains }),
    });
    if (event.testmode) {
      const test = await deps.store.waitingTest(event.subject);
      if (test && Date.parse(event.receivedat) >= Date.parse(test.startedAt)) {
        const now = deps.clock.now();
        const trigger = test.expected.includes(event.type);
        const arrival = { type: event.type, at: event.time, eventId: event.id, trigger };
        if (!trigger) {
          // A connection, a heartbeat, a DC-09 poll or any other event proves the line, not the
          // sensor: shown as "connected, no trigger yet", and the test keeps waiting.
          await deps.store.noteTestArrival(test.id, arrival, new Date(now));
          log.info(
            { serial: event.subject, testId: test.id, type: event.type },
            'test call: connected, no trigger yet',
          );
        } else {
          const health = (await deps.store.health({ serial: event.subject }, new Date(now)))[0];
          const finished = await deps.store.finishTest(
            test.id,
            {
              status: 'passed',
              eventId: event.id,
              eventType: event.type,
              // Press (device clock) to confirmed here: the whole path, gateway and JetStream included.
              latencyMs: Math.max(0, now - Date.parse(event.time)),
              batteryPercent: batteryPercent ?? health?.batteryPercent ?? null,
              signalDbm: signalDbm ?? health?.signalDbm ?? null,
              arrival,
            },
            new Date(now),
          );
          if (finished) {
            log.info(
              { serial: event.subject, testId: test.id, latencyMs: finished.latencyMs },
              'test call passed',
            );
            await deps.onTestFinished(finished);
          }
        }
      }
    }
    msg.ack();
  } catch (err) {
    log.warn({ err, eventId: event.id }, 'health not recorded; will retry');
    msg.nak(backoffDelay(REDELIVERY, msg.info.deliveryCount));
  }
}

/**
 * Why a test call ended without its trigger: silence, or a device that was there ("connected, no
 * trigger yet") with what arrived, so the installer knows the line works and the sensor was not set off.
 */
export function failureReason(test: TestCall): string {
  const waitedS = Math.round((Date.parse(test.deadline) - Date.parse(test.startedAt)) / 1000);
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

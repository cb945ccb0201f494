import { DeadLetter, type Names } from '@telecare/contracts';
import {
  ACK_WAIT_S,
  type Clock,
  ensureDurableConsumer,
  type JetStreamClient,
  type JetStreamManager,
  type Logger,
  type Registry,
  SECOND_NS,
  startConsumerLoop,
} from '@telecare/platform';
import type { RegistryStore } from './store.ts';

/** How far back a new consumer starts: what device health counts (the last 24 hours). */
const LOOK_BACK_MS = 24 * 3600 * 1000;

export interface RefusalsDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  store: RegistryStore;
  clock: Clock;
  logger: Logger;
  consumer: string;
  metrics?: Registry;
}

/**
 * The registry's durable consumer of DEADLETTER: a refused message that names a device (gateway-mqtt
 * writes the device's topic as the letter's origin) goes to the device's health and to its test
 * call, so an installer sees that the device sends, wrongly, instead of "no event". Only the reason,
 * the gateway's words and the time are kept: the raw bytes may hold personal data. A DC-09 letter's
 * origin is the sender's address, which names no account; it is skipped.
 */
export async function startRefusalsConsumer(deps: RefusalsDeps): Promise<{ stop(): Promise<void> }> {
  const log = deps.logger.child({ component: 'refusals' });
  const stream = deps.names.streams.deadletter;
  await ensureDurableConsumer(
    deps.jsm,
    stream,
    deps.consumer,
    { ack_wait: ACK_WAIT_S * SECOND_NS },
    {
      deliver_policy: 'by_start_time',
      opt_start_time: new Date(deps.clock.now() - LOOK_BACK_MS).toISOString(),
      filter_subject: deps.names.subjects.allDeadletters,
      max_deliver: -1,
      max_ack_pending: 1000,
    },
  );
  return startConsumerLoop({
    js: deps.js,
    names: deps.names,
    stream,
    consumer: deps.consumer,
    service: 'registry',
    schema: DeadLetter,
    // A letter is a record of what someone else refused; one we cannot read is not ours to refuse again.
    undecodable: 'skip',
    handle: async (letter) => {
      const serial = deps.names.mqtt.serialOf(letter.origin);
      if (serial === undefined) return;
      const now = deps.clock.now();
      const test = await deps.store.recordRefusal(
        serial,
        {
          reason: letter.reason,
          detail: letter.detail,
          // A refusal is not dated after its receipt here, whatever the gateway's clock says.
          at: new Date(Math.min(Date.parse(letter.at), now)).toISOString(),
          deadLetterId: letter.id,
        },
        new Date(now),
      );
      if (test)
        log.info(
          { serial, testId: test.id, reason: letter.reason, deadLetterId: letter.id },
          'test call: a message of the device was refused',
        );
    },
    logger: log,
    clock: deps.clock,
    batch: 32,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
}

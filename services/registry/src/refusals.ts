import { DeadLetter } from '@telecare/contracts';
import { type ConsumerDeps, startRegistryConsumer } from './consumers.ts';

/** How far back a new consumer starts: what device health counts (the last 24 hours). */
const LOOK_BACK_MS = 24 * 3600 * 1000;

/**
 * The registry's durable consumer of DEADLETTER: a refused message that names a device (gateway-mqtt
 * writes the device's topic as the letter's origin) goes to the device's health and to its test
 * call, so an installer sees that the device sends, wrongly, instead of "no event". Only the reason,
 * the gateway's words and the time are kept: the raw bytes may hold personal data. A DC-09 letter's
 * origin is the sender's address; the account its frame named (`account`) names the device whose
 * DC-09 account it is. That account is the unauthenticated sender's word (a refused frame proved
 * nothing), so it is shown to the installer and counted, never acted on.
 */
export async function startRefusalsConsumer(deps: ConsumerDeps): Promise<{ stop(): Promise<void> }> {
  const log = deps.logger.child({ component: 'refusals' });
  return startRegistryConsumer(deps, {
    stream: deps.names.streams.deadletter,
    subjects: deps.names.subjects.allDeadletters,
    from: {
      deliver_policy: 'by_start_time',
      opt_start_time: new Date(deps.clock.now() - LOOK_BACK_MS).toISOString(),
    },
    schema: DeadLetter,
    handle: async (letter) => {
      const serial = deps.names.mqtt.serialOf(letter.origin);
      const device =
        serial !== undefined
          ? { serial }
          : letter.account !== undefined
            ? { dc09Account: letter.account }
            : undefined;
      if (device === undefined) return;
      const now = deps.clock.now();
      const test = await deps.store.recordRefusal(
        device,
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
          { serial: test.serial, testId: test.id, reason: letter.reason, deadLetterId: letter.id },
          'test call: a message of the device was refused',
        );
    },
    log,
  });
}

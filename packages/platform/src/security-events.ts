import { randomUUID } from 'node:crypto';
import { type Names, SecurityEvent } from '@telecare/contracts';
import type { Logger } from './logger.ts';
import type { JetStreamPublisher } from './publisher.ts';
import { sleep } from './work.ts';

/** Tries of one security event's store before it is given up (logged; the warn line still holds it). */
const ATTEMPTS = 4;
const RETRY_MS = 250;

/**
 * How a service other than the helpline raises a security event: stored on the SECURITY stream
 * under an id of its own (`sec_…`, the `Nats-Msg-Id`), so a retried store is one message and the
 * helpline stores it once whichever of its instances reads it, and keeps what was raised while it
 * was away. A store that fails is tried again a few times; the raising service's budget bounds how
 * many are in hand. Returns the `securityEvent` callback the gateways take.
 */
export function securityEventPublisher(
  publisher: JetStreamPublisher,
  n: Names,
  logger: Logger,
): (event: SecurityEvent) => void {
  return (event) => {
    const body = JSON.stringify(SecurityEvent.parse(event));
    const msgID = `sec_${randomUUID().replaceAll('-', '')}`;
    void (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await publisher.publish(n.subjects.securityEvents, body, {
            msgID,
            expectStream: n.streams.security,
          });
          return;
        } catch (err) {
          if (attempt >= ATTEMPTS) {
            logger.error({ err, securityEvent: event.kind, ref: msgID }, 'security event not stored');
            return;
          }
          await sleep(RETRY_MS * attempt);
        }
      }
    })();
  };
}

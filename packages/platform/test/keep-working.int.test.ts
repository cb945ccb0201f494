import { names } from '@telecare/contracts';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createLogger,
  ensureStreams,
  jetstream,
  jetstreamManager,
  keepWorking,
  SECOND_NS,
  sleep,
} from '../src/index.ts';

const ns = uniqueNamespace('keepworking');
const n = names(ns);
const logger = createLogger('keep-working-test', 'silent');

afterAll(() => cleanupNamespace(ns));

describe('keepWorking on a real JetStream consumer', () => {
  it('keeps a message that takes three ack waits from being redelivered', async () => {
    const nc = await connectNats({ url: servers.natsUrl, name: 'keep-working-test', logger });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm, n, ['alerts']);
      await jsm.consumers.add(n.streams.alerts, {
        durable_name: 'slow',
        ack_policy: 'explicit',
        ack_wait: SECOND_NS,
        max_deliver: -1,
      });
      const js = jetstream(nc);
      await js.publish(n.subjects.alert(1, 'res_slow'), '{}');
      const consumer = await js.consumers.get(n.streams.alerts, 'slow');
      const msg = await consumer.next({ expires: 5_000 });
      expect(msg).not.toBeNull();
      if (!msg) return;
      // A second worker waits meanwhile: a message whose ack wait ran out would go to it.
      const other = await js.consumers.get(n.streams.alerts, 'slow');
      const second = other.next({ expires: 4_000 });
      await keepWorking(msg, 1_000, () => sleep(3_000));
      await msg.ackAck();
      expect(await second).toBeNull();
      const info = await jsm.consumers.info(n.streams.alerts, 'slow');
      expect(info.num_redelivered).toBe(0);
      expect(info.num_ack_pending).toBe(0);
    } finally {
      await nc.close();
    }
  });
});

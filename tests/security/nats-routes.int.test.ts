import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  makeTestCertificates,
  OwnNatsCluster,
  type RouteSecurity,
  streamMessages,
  type TestCertificates,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The NATS cluster's routes carry every alarm and every resident id, and JetStream's replication:
 * a server that joins the cluster receives them all and can inject its own. The routes are secured
 * as infra/nats/nats-*.conf secure production's, mutual TLS with the deployment's CA and one route
 * login: a server that knows the cluster's name and reaches a node's route port, but lacks either,
 * never holds a route, and a message published on a node never reaches it. The three nodes still
 * form the cluster, and an R3 stream works through the loss of a node. Against routes with neither
 * (as they were), the same stranger joins and receives what a node publishes.
 */
const LOGIN = { user: 'route', password: 'route-password-0123456789abcdef' };
let certs: TestCertificates;
let other: TestCertificates;

beforeAll(() => {
  certs = makeTestCertificates(['IP:127.0.0.1']);
  other = makeTestCertificates(['IP:127.0.0.1']);
});

afterAll(() => {
  certs?.remove();
  other?.remove();
});

const MEMBERS = [0, 1, 2];
const subject = `${uniqueNamespace('routes')}.probe`;

/** A subscription on one node: how many messages of `subject` it has received. */
async function listen(url: string): Promise<{ nc: NatsConnection; received: () => number }> {
  const nc = await connect({ servers: url, timeout: 5_000 });
  let count = 0;
  nc.subscribe(subject, {
    callback: () => {
      count++;
    },
  });
  await nc.flush();
  return { nc, received: () => count };
}

/** Publishes on node 0 until `received` says the message arrived (interest crosses routes late). */
async function publishUntil(cluster: OwnNatsCluster, received: () => boolean, what: string): Promise<void> {
  const nc = await connect({ servers: cluster.urlOf(0), timeout: 5_000 });
  try {
    await waitFor(
      async () => {
        nc.publish(subject, 'alarm');
        await nc.flush();
        return received();
      },
      { what, timeoutMs: 30_000, intervalMs: 200 },
    );
  } finally {
    await nc.close();
  }
}

/** How many times the stranger has opened a route to each member (one `rid` per connection). */
function attempts(cluster: OwnNatsCluster, stranger: number): number[] {
  const log = cluster.logOf(stranger);
  return MEMBERS.map((member) => {
    const at = new RegExp(`127\\.0\\.0\\.1:${cluster.clusterPortOf(member)} - rid:(\\d+) `, 'g');
    return new Set([...log.matchAll(at)].map((match) => match[1])).size;
  });
}

describe('routes with neither TLS nor a login (as they were)', () => {
  let cluster: OwnNatsCluster;

  beforeAll(async () => {
    cluster = await OwnNatsCluster.start(3);
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('let a stranger that knows the cluster name join, and it receives what a node publishes', async () => {
    const stranger = await cluster.startStranger();
    await waitFor(async () => (await cluster.peersOf(stranger)).length === MEMBERS.length, {
      what: 'the stranger to hold a route with every node',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(await cluster.peersOf(0)).toContain(`stranger-${stranger + 1}`);
    const spy = await listen(cluster.urlOf(stranger));
    try {
      await publishUntil(cluster, () => spy.received() > 0, 'a message published on node 0 at the stranger');
    } finally {
      await spy.nc.close();
      await cluster.killNode(stranger);
    }
  }, 60_000);
});

describe('routes over mutual TLS with a route login', () => {
  let cluster: OwnNatsCluster;

  beforeAll(async () => {
    cluster = await OwnNatsCluster.start(3, { routes: { tls: certs, auth: LOGIN } });
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  const strangers: Array<[string, () => RouteSecurity]> = [
    ['neither TLS nor the login', () => ({})],
    ['a certificate from the cluster CA but no login', () => ({ tls: certs })],
    [
      'a certificate from the cluster CA and a wrong password',
      () => ({ tls: certs, auth: { ...LOGIN, password: 'guessed' } }),
    ],
    ['the login but a certificate from another CA', () => ({ tls: other, auth: LOGIN })],
    ['the login but no TLS', () => ({ auth: LOGIN })],
  ];

  it.each(strangers)(
    'refuse a stranger with %s',
    async (_, security) => {
      const stranger = await cluster.startStranger(security());
      const member = await listen(cluster.urlOf(1));
      const spy = await listen(cluster.urlOf(stranger));
      try {
        // It retries each route about once a second: twice refused by every node, it is not let in.
        await waitFor(
          async () =>
            attempts(cluster, stranger).every((count) => count >= 2) ||
            (await cluster.peersOf(stranger)).length > 0,
          { what: 'the stranger to have tried every node twice', timeoutMs: 30_000, intervalMs: 200 },
        );
        expect(await cluster.peersOf(stranger)).toEqual([]);
        for (const index of MEMBERS)
          expect((await cluster.peersOf(index)).sort()).toEqual(
            MEMBERS.filter((one) => one !== index).map((one) => `node-${one + 1}`),
          );
        // A message crosses the routes to node 1, and never to the stranger.
        await publishUntil(cluster, () => member.received() > 0, 'a message published on node 0 at node 1');
        await spy.nc.flush();
        expect(spy.received()).toBe(0);
      } finally {
        await member.nc.close();
        await spy.nc.close();
        await cluster.killNode(stranger);
      }
    },
    60_000,
  );

  it('form the cluster: an R3 stream stores, gives back, and keeps its messages through a node killed', async () => {
    for (const index of MEMBERS) expect(await cluster.peersOf(index)).toHaveLength(MEMBERS.length - 1);
    const stream = `${uniqueNamespace('routes')}_ALARMS`.toUpperCase();
    const nc = await connect({ servers: MEMBERS.map((i) => cluster.urlOf(i)), timeout: 5_000 });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], num_replicas: 3 });
      const js = jsm.jetstream();
      for (let i = 0; i < 3; i++) await js.publish(`${stream}.alarm`, `alarm ${i}`);
      // Both copies catch up with the leader (under load one may still be a message behind).
      const current = async () =>
        (await jsm.streams.info(stream)).cluster?.replicas?.filter((replica) => replica.current).length;
      await waitFor(async () => (await current()) === 2, {
        what: 'both replicas to be current',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      const info = await jsm.streams.info(stream);
      expect(info.cluster?.replicas?.filter((replica) => replica.current)).toHaveLength(2);

      // The client moves to a surviving node if it was on this one; the message id keeps a
      // publish retried after a lost answer from being stored twice.
      const leader = cluster.indexOf(info.cluster?.leader ?? '');
      expect(leader).toBeGreaterThanOrEqual(0);
      await cluster.killNode(leader);
      await waitFor(
        async () => {
          await js.publish(`${stream}.alarm`, 'alarm 3', { timeout: 2_000, msgID: 'alarm-3' });
          return true;
        },
        {
          what: 'the stream to take a message after its leader was killed',
          timeoutMs: 30_000,
          intervalMs: 250,
        },
      );
      // Read back once the survivors answer for the whole account too (the killed node may have
      // led the cluster's meta group, whose election the reader's first request waits on).
      let stored: string[] = [];
      await waitFor(
        async () => {
          stored = (await streamMessages(nc, stream)).map((msg) => new TextDecoder().decode(msg.data));
          return stored.length >= 4;
        },
        { what: 'the alarms read back from the surviving nodes', timeoutMs: 30_000, intervalMs: 250 },
      );
      expect(stored).toEqual(['alarm 0', 'alarm 1', 'alarm 2', 'alarm 3']);
    } finally {
      await nc.close();
    }
  }, 90_000);
});

import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { names } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  headers,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, freePort, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriageConfig, startTriage, type TriageHandle } from '../src/index.ts';
import { drained, makeEvent, metricValue, publishEvent, readAlerts, scrape, T0 } from './support.ts';

// This file stops and starts a Redis of its own (on a free port), never the shared one.
const ns = uniqueNamespace('triagefault');
const n = names(ns);
const PARTITIONS = 1;
const logger = createLogger('triage-faults-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let redisPort: number;
let redisServer: ChildProcess | undefined;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let triage: TriageHandle;

async function startRedis(): Promise<void> {
  const child = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  redisServer = child;
  await waitFor(() => answersPing(redisPort), { what: 'own redis-server to start' });
}

/** True when a Redis on the port answers PING (inline command, no client needed). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function stopRedis(): Promise<void> {
  const child = redisServer;
  if (!child || child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
  redisServer = undefined;
}

beforeAll(async () => {
  redisPort = await freePort();
  await startRedis();
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-faults-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  const config = loadTriageConfig(
    serviceEnv(ns, {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      TRIAGE_PORT: '0',
      TELECARE_PARTITIONS: String(PARTITIONS),
      TRIAGE_RETRY_DELAY_MS: '100',
      // The one-instance mode: every partition, no leases.
      TRIAGE_LEASES: 'false',
    }),
  );
  triage = await startTriage(config, { logger, clock: new ManualClock(T0) });
});

afterAll(async () => {
  await triage?.close();
  await nc?.close();
  await stopRedis();
  await cleanupNamespace(ns);
});

describe('triage when Redis goes away', () => {
  it('holds the event, retries it, and alerts once Redis is back', async () => {
    const first = makeEvent({
      residentId: 'res_fault',
      type: 'pendant.pressed',
      deviceEventId: 'fault-000001',
      partitions: PARTITIONS,
    });
    await publishEvent(js, n, first);
    await waitFor(async () => (await readAlerts(jsm, n)).length === 1, { what: 'the first alert' });
    await drained(jsm, n, PARTITIONS);

    await stopRedis();
    const retriesBefore = metricValue(
      await scrape(triage.url),
      /^triage_retries_total\{[^}]*dependency="redis"/,
    );
    const fall = makeEvent({
      residentId: 'res_fault',
      type: 'fall.detected',
      deviceEventId: 'fault-000002',
      partitions: PARTITIONS,
      devicekind: 'fall-detector',
    });
    await publishEvent(js, n, fall);
    await waitFor(
      async () =>
        metricValue(await scrape(triage.url), /^triage_retries_total\{[^}]*dependency="redis"/) >
        retriesBefore + 1,
      { what: 'triage to retry while redis is down', timeoutMs: 20_000 },
    );
    const notReady = await fetch(`${triage.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({
      checks: { redis: false, nats: true },
      partitions: Array.from({ length: PARTITIONS }, (_, p) => p),
      area: true,
    });
    // This resident's state is held in memory: the alert is stored at once, and the event stays
    // unacknowledged, retried until its state is saved.
    await waitFor(async () => (await readAlerts(jsm, n)).length === 2, {
      what: 'the fall alert with redis down',
    });
    const pending = await jsm.consumers.info(n.streams.events, 'triage-p0');
    expect(pending.num_ack_pending + pending.num_pending).toBe(1);
    // A resident whose state is not held: their alarm lane decides the press without it and
    // stores its alert at once; the event waits on its partition lane for Redis to save the state.
    const other = makeEvent({
      residentId: 'res_fault_cold',
      type: 'pendant.pressed',
      deviceEventId: 'fault-000003',
      partitions: PARTITIONS,
    });
    await publishEvent(js, n, other);
    const all = await waitFor(
      async () => {
        const stored = await readAlerts(jsm, n);
        return stored.length === 3 && stored;
      },
      { what: 'the press of a resident whose state is not held alerted with redis down', timeoutMs: 20_000 },
    );
    expect(all.map((stored) => stored.alert.evidence[0])).toEqual([first.id, fall.id, other.id]);
    const waiting = await jsm.consumers.info(n.streams.events, 'triage-p0');
    expect(waiting.num_ack_pending + waiting.num_pending).toBe(2);

    await startRedis();
    await drained(jsm, n, PARTITIONS);
    await waitFor(async () => (await fetch(`${triage.url}/readyz`)).status === 200, { what: 'ready again' });
    // The fall, raised again once its state could be saved, has the same alert id: still one.
    expect(await readAlerts(jsm, n)).toHaveLength(3);
  });
});

describe('triage when ALERTS cannot store an alert', () => {
  it('leaves the event unacknowledged, retries it, and stores the alert once, with its trace, when ALERTS is back', async () => {
    await drained(jsm, n, PARTITIONS);
    // ALERTS gone and its subjects held by another stream: triage's stores are refused (they
    // expect ALERTS) and triage cannot make ALERTS again while the subjects are taken.
    await jsm.streams.delete(n.streams.alerts);
    const decoy = `${n.streams.alerts}-DECOY`;
    await jsm.streams.add({ name: decoy, subjects: [n.subjects.allAlerts], storage: 'memory' });
    const retriesBefore = metricValue(
      await scrape(triage.url),
      /^triage_retries_total\{[^}]*dependency="nats"/,
    );
    const press = makeEvent({
      residentId: 'res_fault_alerts',
      type: 'pendant.pressed',
      deviceEventId: 'fault-000004',
      partitions: PARTITIONS,
    });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const h = headers();
    h.set('traceparent', traceparent);
    await js.publish(n.subjects.event(press.partition, press.type), JSON.stringify(press), {
      msgID: press.id,
      headers: h,
    });
    await waitFor(
      async () =>
        metricValue(await scrape(triage.url), /^triage_retries_total\{[^}]*dependency="nats"/) >
        retriesBefore + 1,
      { what: 'triage to retry while ALERTS is missing', timeoutMs: 20_000 },
    );
    // Nothing acknowledged that is not stored: the press waits in its lane.
    const pending = await jsm.consumers.info(n.streams.events, 'triage-p0');
    expect(pending.num_ack_pending + pending.num_pending).toBe(1);

    // The subjects free again: triage makes ALERTS itself (nobody else does here).
    await jsm.streams.delete(decoy);
    const stored = await waitFor(
      async () => {
        const all = await readAlerts(jsm, n);
        return all.length === 1 && all;
      },
      { what: 'the press to alert once ALERTS is back', timeoutMs: 20_000 },
    );
    expect(stored[0]?.alert.evidence).toEqual([press.id]);
    expect(stored[0]?.msgId).toBe(stored[0]?.alert.id);
    await drained(jsm, n, PARTITIONS);
    expect(await readAlerts(jsm, n)).toHaveLength(1);
    const message = await jsm.streams.getMessage(n.streams.alerts, {
      last_by_subj: stored[0]?.subject ?? '',
    });
    expect(message?.header.get('traceparent')).toBe(traceparent);
  });
});

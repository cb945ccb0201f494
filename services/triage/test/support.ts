import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  Alert,
  type EventType,
  eventIdFor,
  type Names,
  names,
  partitionOf,
  TelecareEvent,
} from '@telecare/contracts';
import {
  connectNats,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type Logger,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { parseRuleSet } from '@telecare/rules';
import {
  cleanupNamespace,
  freePort,
  OwnServer,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { onTestFinished } from 'vitest';
import { consumerName, loadTriageConfig, startTriage, type TriageHandle, timerBucket } from '../src/index.ts';

/** The fixed time the tests' ManualClock starts at. */
export const T0 = Date.parse('2026-11-22T10:00:00.000Z');

/** A TelecareEvent as a gateway would publish it (one second before T0). */
export function makeEvent(spec: {
  residentId: string;
  type: EventType;
  deviceEventId: string;
  partitions: number;
  serial?: string;
  devicekind?: string;
  location?: string;
}): TelecareEvent {
  const serial = spec.serial ?? 'PX-1000';
  return TelecareEvent.parse({
    specversion: '1.0',
    id: eventIdFor(serial, spec.deviceEventId, new Date(T0 - 1_000).toISOString(), spec.type),
    source: '/test',
    type: spec.type,
    subject: serial,
    time: new Date(T0 - 1_000).toISOString(),
    datacontenttype: 'application/json',
    residentid: spec.residentId,
    devicekind: spec.devicekind ?? 'pendant',
    deviceeventid: spec.deviceEventId,
    partition: partitionOf(spec.residentId, spec.partitions),
    receivedat: new Date(T0 - 900).toISOString(),
    testmode: false,
    ...(spec.location ? { location: spec.location } : {}),
    data: {},
  });
}

/** A home's report from its hub at `at`, with the postcode district the area rules count by. */
export function districtReport(spec: {
  type: EventType;
  residentId: string;
  district: string;
  at: number;
  partitions: number;
}): TelecareEvent {
  const serial = `HUB-${spec.residentId}`;
  return {
    ...makeEvent({
      residentId: spec.residentId,
      type: spec.type,
      deviceEventId: `${spec.type}-${spec.residentId}-${spec.at}`,
      partitions: spec.partitions,
      serial,
      devicekind: 'hub',
    }),
    time: new Date(spec.at).toISOString(),
    receivedat: new Date(spec.at + 100).toISOString(),
    postcodedistrict: spec.district,
  };
}

/** Publishes as a gateway does: partition subject, msgID = event id unless a redelivery is simulated. */
export async function publishEvent(
  js: JetStreamClient,
  n: Names,
  event: TelecareEvent,
  msgID = event.id,
): Promise<void> {
  await js.publish(n.subjects.event(event.partition, event.type), JSON.stringify(event), { msgID });
}

export interface StoredAlert {
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly alert: Alert;
}

/** Everything in ALERTS, in stream order. */
export async function readAlerts(jsm: JetStreamManager, n: Names): Promise<StoredAlert[]> {
  const info = await jsm.streams.info(n.streams.alerts);
  const out: StoredAlert[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(n.streams.alerts, { seq });
    if (!msg) continue;
    out.push({
      subject: msg.subject,
      msgId: msg.header.get('Nats-Msg-Id') || undefined,
      alert: Alert.parse(msg.json()),
    });
  }
  return out;
}

/** Every partition consumer has taken and acked (or terminated) everything published so far. */
export async function drained(jsm: JetStreamManager, n: Names, partitions: number): Promise<void> {
  await waitFor(
    async () => {
      for (let p = 0; p < partitions; p++) {
        const info = await jsm.consumers.info(n.streams.events, consumerName(p));
        if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      // The alarm and area lanes too.
      for await (const info of jsm.consumers.list(n.streams.events)) {
        if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    },
    { what: 'triage to drain EVENTS', timeoutMs: 20_000 },
  );
}

/** Sum of the samples whose line matches, from a Prometheus text page. */
export function metricValue(page: string, line: RegExp): number {
  return page
    .split('\n')
    .filter((sample) => line.test(sample))
    .reduce((sum, sample) => sum + Number(sample.slice(sample.lastIndexOf(' ') + 1)), 0);
}

export async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Waits until the instances together have withheld and released these many held per-home alerts. */
export async function heldDecided(
  urls: readonly string[],
  counts: { withheld: number; released: number },
): Promise<void> {
  await waitFor(
    async () => {
      const page = (await Promise.all(urls.map(scrape))).join('\n');
      return (
        metricValue(page, /^triage_alerts_withheld_total\{/) === counts.withheld &&
        metricValue(page, /^triage_alerts_held_released_total\{/) === counts.released
      );
    },
    { what: 'the held alerts to be decided', timeoutMs: 15_000 },
  );
}

/** Medication not taken within 10 min of the dose: a timer that fires with no further event. */
export const MEDICATION_RULE = {
  id: 'absence.medication',
  version: 1,
  kind: 'absence',
  type: 'medication.missed',
  expect: ['medication.taken'],
  window: { kind: 'after-event', after: ['medication.due'], withinS: 600 },
  reason: '{what}: {detail}; expected {expected}, seen {seen}',
} as const;

/** Sitting for `forS` without getting up: a timer that an event (the vacated) cancels. */
export const chairRule = (forS: number) =>
  ({
    id: 'sustained.chair',
    version: 1,
    kind: 'sustained',
    type: 'chair.too-long',
    condition: { starts: ['chair.occupied'], ends: ['chair.vacated'] },
    forS,
    reason: '{what}: {detail}',
  }) as const;

/** No heartbeat from a device within `intervalS` (unless the device map says otherwise). */
export const supervisionRule = (intervalS: number) =>
  ({
    id: 'absence.supervision',
    version: 1,
    kind: 'absence',
    type: 'supervision.lost',
    expect: ['heartbeat'],
    window: { kind: 'supervision', defaultIntervalS: intervalS },
    reason: '{what}: {detail}',
  }) as const;

/** Removes what a test's triage left in its namespace: the timer bucket, streams and keys. */
export async function dropTriageNamespace(nc: NatsConnection, n: Names): Promise<void> {
  await openBucket(nc, timerBucket(n))
    .then((kv) => kv.destroy())
    .catch(() => undefined);
  await cleanupNamespace(n.namespace);
}

/** The rules of the lease tests (shared with the instance they run in a process of its own). */
export const LEASE_RULES = parseRuleSet({
  version: 1,
  rules: [
    { id: 'trigger.pendant', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' },
    { id: 'trigger.flood', version: 1, kind: 'trigger', on: ['flood.detected'], reason: '{what}' },
    MEDICATION_RULE,
  ],
});

/**
 * What a triage test file needs: a namespace of its own, triage's configuration for it (any free
 * port, quick retries) and the test's own NATS clients.
 */
export function triageTestbed(
  label: string,
  partitions: number,
  logger: Logger,
  env: Record<string, string> = {},
) {
  const ns = uniqueNamespace(label);
  const config = loadTriageConfig(
    serviceEnv(ns, {
      TRIAGE_PORT: '0',
      TELECARE_PARTITIONS: String(partitions),
      TRIAGE_RETRY_DELAY_MS: '100',
      ...env,
    }),
  );
  return {
    ns,
    n: names(ns),
    config,
    async connect(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
      const nc = await connectNats({ url: servers.natsUrl, name: `${label}-test`, logger });
      return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
    },
  };
}

/**
 * A triage instance in a process of its own (instance.ts, with the lease rules), to be killed:
 * SIGKILL, so nothing drains and no lease is given back. Resolves once it prints its URL.
 */
export async function spawnTriage(
  env: Record<string, string | undefined>,
  clockAt: number,
): Promise<{ url: string; process: ChildProcess; kill(): void }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./instance.ts', import.meta.url))],
    {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      env: { ...process.env, ...env, TRIAGE_TEST_CLOCK: String(clockAt) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout?.once('data', (chunk) => resolve(String(chunk).trim()));
    proc.once('exit', (code) => reject(new Error(`the triage process exited with ${code}`)));
  });
  return { url, process: proc, kill: () => proc.kill('SIGKILL') };
}

/** The killable triage processes of one test file, all started with `env` and a clock at T0. */
export function killableInstances(env: Record<string, string>) {
  const children = new Set<ChildProcess>();
  return {
    async start(extra: Record<string, string> = {}): Promise<{ url: string; kill(): void }> {
      const spawned = await spawnTriage({ ...env, ...extra }, T0);
      children.add(spawned.process);
      return {
        url: spawned.url,
        kill: () => {
          spawned.kill();
          children.delete(spawned.process);
        },
      };
    },
    /** For afterAll: whatever a failed test left running. */
    killAll(): void {
      for (const child of children) child.kill('SIGKILL');
      children.clear();
    },
  };
}

/** Messages of a partition lane not acked yet (pending or in hand). */
export async function unackedOn(jsm: JetStreamManager, n: Names, partition: number): Promise<number> {
  const info = await jsm.consumers.info(n.streams.events, consumerName(partition));
  return info.num_pending + info.num_ack_pending;
}

/** A resident's event index as the helpline reads it, with the helpline's token. */
export async function eventIndexAt(
  url: string,
  residentId: string,
  token: string,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/api/residents/${residentId}/event-index`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new Error(`event index: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/**
 * Publishes one resident's events, each from a device of its own, as a gateway stores them:
 * resolves with each event's EVENTS sequence.
 */
export function residentPublisher(
  js: JetStreamClient,
  n: () => Names,
  residentId: string,
  partitions: number,
) {
  let count = 0;
  return async (type: EventType): Promise<number> => {
    count++;
    const event = makeEvent({
      residentId,
      type,
      deviceEventId: `${residentId}-${count}`,
      partitions,
      serial: `${residentId}-${count}`,
    });
    const ack = await js.publish(n().subjects.event(event.partition, event.type), JSON.stringify(event), {
      msgID: event.id,
    });
    return ack.seq;
  };
}

/** The helpline's token of the tests that read the event index. */
export const HELPLINE_TOKEN = 'test-helpline-triage-token-0123456789';

/**
 * One triage (one partition, no leases, the lease rules, a ManualClock at T0, `env` over the
 * testbed's) on a Redis of its own, for a test file to kill, stop and start again; `close` for afterAll.
 */
export async function triageOnOwnRedis(label: string, logger: Logger, env: Record<string, string> = {}) {
  const redisServer = await OwnServer.start('redis', await freePort());
  const testbed = triageTestbed(label, 1, logger, {
    HELPLINE_TRIAGE_TOKEN: HELPLINE_TOKEN,
    REDIS_URL: redisServer.url,
    TRIAGE_LEASES: 'false',
    ...env,
  });
  const clients = await testbed.connect();
  const clock = new ManualClock(T0);
  const triage: TriageHandle = await startTriage(testbed.config, { logger, clock, ruleSet: LEASE_RULES });
  return {
    redisServer,
    testbed,
    ...clients,
    clock,
    triage,
    async close(): Promise<void> {
      await triage.close();
      await clients.nc.close();
      redisServer.destroy();
      await cleanupNamespace(testbed.ns);
    },
  };
}

/**
 * Stops a server (SIGSTOP: its connections stay up and nothing is answered) until the test ends or
 * the returned function is called.
 */
export function pauseServer(server: OwnServer): () => void {
  const pid = server.pid() as number;
  process.kill(pid, 'SIGSTOP');
  const resume = (): void => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Gone already: nothing to continue.
    }
  };
  onTestFinished(resume);
  return resume;
}

/**
 * Publishes a press of the resident's (`publish`, a `residentPublisher`) and resolves with how long
 * its alert took to be in ALERTS.
 */
export async function pressToAlert(
  jsm: JetStreamManager,
  n: Names,
  residentId: string,
  publish: (type: EventType) => Promise<number>,
): Promise<number> {
  const alerted = async () =>
    (await readAlerts(jsm, n)).filter((stored) => stored.alert.residentId === residentId).length;
  const before = await alerted();
  const sentAt = performance.now();
  await publish('pendant.pressed');
  await waitFor(async () => (await alerted()) > before, {
    what: `the press of ${residentId} alerted`,
    timeoutMs: 30_000,
    intervalMs: 20,
  });
  return performance.now() - sentAt;
}

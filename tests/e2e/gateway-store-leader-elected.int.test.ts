import { DeviceAck, names } from '@telecare/contracts';
import { type GatewayDc09Handle, loadGatewayDc09Config, startGatewayDc09 } from '@telecare/gateway-dc09';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import {
  connectMqtt,
  connectNats,
  createLogger,
  ensureStreams,
  type JetStreamManager,
  jetstreamManager,
  type MqttClient,
  type NatsConnection,
  openDc09Accounts,
  openDeviceMap,
  sleep,
} from '@telecare/platform';
import { Dc09Dialler } from '@telecare/simulators';
import {
  OwnNatsCluster,
  servers,
  serviceEnv,
  stepDownUntil,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dc09Account, mqttDevice } from '../support/homes.ts';

/**
 * Both gateways on a three-node cluster (R3 streams) whose node leading EVENTS is killed
 * (SIGKILL). Presses made just after are stored as soon as EVENTS has a new leader: while it
 * elects one every store fails at once, the gateways' waits between tries grow to their longest
 * (2 s), and the advisory of the new leader ends them. The gateways and the test stay on a node
 * that lives; every other stream is led from it or the third.
 */
const ns = uniqueNamespace('gwelect');
const n = names(ns);
const logger = createLogger('gateway-leader-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** Presses per gateway, each waiting out a backoff of its own. */
const PRESSES = 5;
/** From the advisory to a press stored and answered: tens of ms; a loaded two-core machine's margin. */
const STORED_WITHIN_MS = 600;
/** The node everything of the test's own connects to; EVENTS is led elsewhere. */
const STAYS = 0;

let cluster: OwnNatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;
let mqttGateway: GatewayMqttHandle | undefined;
let dc09Gateway: GatewayDc09Handle | undefined;
let devices: MqttClient | undefined;
const diallers: Dc09Dialler[] = [];
/** When each MQTT press was acked `stored`, by its serial. */
const ackedAt = new Map<string, number>();

const serials = Array.from({ length: PRESSES }, (_, i) => `PND-EL${i}`);
const accounts = Array.from({ length: PRESSES }, (_, i) => `E0${i}`);

beforeAll(async () => {
  cluster = await OwnNatsCluster.start(3);
  nc = await connectNats({ url: cluster.urlOf(STAYS), name: 'gateway-leader-test', logger });
  jsm = await jetstreamManager(nc, { timeout: 2_000 });
  // Just started, the cluster may not place three replicas yet.
  await waitFor(
    () =>
      ensureStreams(jsm, n, ['events', 'deadletter', 'security'], { replicas: 3 }).then(
        () => true,
        () => undefined,
      ),
    { what: 'the R3 streams', timeoutMs: 30_000, intervalMs: 250 },
  );
  // Its R3 buckets too: on a busy machine a bucket's stream may take longer than one request's wait.
  const deviceMap = await waitFor(() => openDeviceMap(nc, n, { replicas: 3 }).catch(() => undefined), {
    what: 'the R3 device map',
    timeoutMs: 30_000,
    intervalMs: 250,
  });
  for (const serial of serials) await deviceMap.put(serial, JSON.stringify(mqttDevice(serial)));
  const dc09Accounts = await waitFor(() => openDc09Accounts(nc, n, { replicas: 3 }).catch(() => undefined), {
    what: 'the R3 DC-09 accounts',
    timeoutMs: 30_000,
    intervalMs: 250,
  });
  for (const account of accounts) await dc09Accounts.put(account, JSON.stringify(dc09Account(account)));
  const env = { NATS_URL: cluster.urlOf(STAYS), TELECARE_STREAM_REPLICAS: '3' };
  mqttGateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, { ...env, GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: `${ns}-gateway` }),
    ),
    { logger },
  );
  // A frame is held (not left unanswered) for as long as an election takes here.
  dc09Gateway = await startGatewayDc09(
    loadGatewayDc09Config(
      serviceEnv(ns, { ...env, DC09_PORT: '0', GATEWAY_DC09_PORT: '0', DC09_RETRY_S: '60' }),
    ),
    { logger },
  );
  devices = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-devices`, logger });
  devices.on('message', (topic, payload) => {
    const ack = DeviceAck.parse(JSON.parse(payload.toString()));
    const serial = serials.find((s) => topic === n.mqtt.ack(s));
    if (serial && 'stored' in ack && !ackedAt.has(serial)) ackedAt.set(serial, performance.now());
  });
  for (const serial of serials) await devices.subscribeAsync(n.mqtt.ack(serial), { qos: 1 });
  for (const account of accounts) {
    const dialler = new Dc09Dialler({
      host: '127.0.0.1',
      port: dc09Gateway.dc09.tcpPort,
      transport: 'tcp',
      account,
      answerTimeoutMs: 60_000,
      maxAttempts: 1,
    });
    await dialler.connect();
    diallers.push(dialler);
  }
}, 120_000);

afterAll(async () => {
  for (const dialler of diallers) await dialler.close().catch(() => undefined);
  await devices?.endAsync();
  await mqttGateway?.close();
  await dc09Gateway?.close();
  const sweeper = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-gateway`, logger, clean: true });
  await sweeper.endAsync();
  await nc?.close();
  await cluster?.destroy();
}, 60_000);

const press = (serial: string) =>
  devices?.publishAsync(
    n.mqtt.events(serial),
    JSON.stringify({ id: `el-${serial}`, type: 'pendant.pressed', at: new Date().toISOString() }),
    { qos: 1 },
  );

describe('the gateways while EVENTS elects a new leader', () => {
  it('store the presses made meanwhile as soon as it has one', async () => {
    const stays = `node-${STAYS + 1}`;
    const lost = await stepDownUntil(nc, (leader) => leader !== stays, n.streams.events);
    // EVENTS' election is the only one: everything else is led from the nodes that live.
    for (const stream of await jsm.streams.names().next())
      if (stream !== n.streams.events) await stepDownUntil(nc, (leader) => leader !== lost, stream);

    let electedAt: number | undefined;
    nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${n.streams.events}`, {
      callback: () => {
        electedAt ??= performance.now();
      },
    });
    await nc.flush();
    await cluster.killNode(cluster.indexOf(lost));
    const killedAt = performance.now();
    try {
      await sleep(300);
      // One after another, so their backoffs are out of step.
      const answered: Array<Promise<number>> = [];
      for (let i = 0; i < PRESSES; i++) {
        await press(serials[i] as string);
        const dialler = diallers[i] as Dc09Dialler;
        answered.push(
          dialler
            .sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])
            .then(() => performance.now()),
        );
        await sleep(150);
      }
      const frames = await Promise.all(answered);
      const mqtt = await waitFor(
        () => (ackedAt.size === PRESSES ? serials.map((s) => ackedAt.get(s) as number) : undefined),
        { what: 'every MQTT press acked', timeoutMs: 60_000, intervalMs: 20 },
      );
      const elected = await waitFor(() => electedAt, {
        what: 'the advisory of the new leader',
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      const after = (at: number) => at - elected;
      console.log(
        `EVENTS elected ${(elected - killedAt).toFixed(0)} ms after the kill; stored after it: mqtt ${mqtt
          .map((at) => after(at).toFixed(0))
          .join(', ')} ms, dc09 ${frames.map((at) => after(at).toFixed(0)).join(', ')} ms`,
      );
      // Made during the election: none stored before it.
      for (const at of [...mqtt, ...frames]) expect(after(at)).toBeGreaterThan(0);
      for (const at of [...mqtt, ...frames]) expect(after(at)).toBeLessThan(STORED_WITHIN_MS);
    } finally {
      await cluster.startNode(cluster.indexOf(lost));
    }
  }, 120_000);
});

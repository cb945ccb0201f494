import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { type Dc09AccountEntry, type DeviceMapEntry, names } from '@telecare/contracts';
import { loadGatewayDc09Config, startGatewayDc09 } from '@telecare/gateway-dc09';
import { loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { Dc09Dialler, SimulatedDevice } from '@telecare/simulators';
import { cleanupNamespace, servers, serviceEnv, startOwnMosquitto, uniqueNamespace } from '@telecare/testkit';
import mqtt from 'mqtt';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1000);
/** Senders at once for the throughput run; each sends one event at a time and waits for its ack. */
const SENDERS = Number(process.env.BENCH_SENDERS ?? 16);
const WARMUP = 50;
/** `dc09` or `mqtt` runs only that gateway's phases (with the raw ceiling), e.g. to profile one. */
const ONLY = process.env.BENCH_GATEWAYS ?? 'all';
/**
 * The many-sender runs are cut into this many rounds, raw, gateway-mqtt and gateway-dc09 taking
 * turns (`BENCH_EVENTS` ÷ rounds events each per round, the order turning each round), so that a
 * change in the machine's load falls on all three alike. 1: each runs once, back to back.
 */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
const SKIPPED: Run = { perSecond: Number.NaN, p50: Number.NaN, p99: Number.NaN };

interface Run {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

/** What one or more drives measured: every latency, and the seconds they took between them. */
interface Sample {
  readonly latencies: number[];
  seconds: number;
}

/** `senders` loops, each sending one event at a time until `total` are acked; latency per event. */
async function drive(
  total: number,
  senders: number,
  send: (sender: number) => Promise<number>,
  into: Sample = { latencies: [], seconds: 0 },
): Promise<Sample> {
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async (_, sender) => {
      while (issued < total) {
        issued++;
        into.latencies.push(await send(sender));
      }
    }),
  );
  into.seconds += (performance.now() - started) / 1000;
  return into;
}

const summary = (sample: Sample): Run => ({
  perSecond: round(sample.latencies.length / sample.seconds, 0),
  p50: round(percentile(sample.latencies, 50), 3),
  p99: round(percentile(sample.latencies, 99), 3),
});

/**
 * Events per second through each gateway into JetStream, device send → device ack, against
 * raw JetStream publishes from this process in the same run (the ceiling). Only the gateways
 * run (no triage), so the figures are the ingest path's own.
 */
const benchmark: Benchmark = {
  description: 'events/s and send → ack through gateway-mqtt and gateway-dc09, against raw JetStream publish',
  async run(log) {
    const mosquitto = await startOwnMosquitto();
    const ns = uniqueNamespace('benchgw');
    const n = names(ns);
    const env = serviceEnv(ns, {
      LOG_LEVEL: 'silent',
      MQTT_URL: mosquitto.url,
      GATEWAY_MQTT_PORT: '0',
      GATEWAY_DC09_PORT: '0',
      DC09_PORT: '0',
      // Every dialler connects from this one address.
      DC09_MAX_CONNECTIONS_PER_SOURCE: String(Math.max(32, SENDERS)),
      MQTT_CLIENT_ID: `${ns}-gateway`,
      // Each sender sends back to back to measure the gateway, far over a real device's rate.
      GATEWAY_MQTT_DEVICE_RATE: '0',
      DC09_ACCOUNT_RATE: '0',
    });
    const nc = await connect({ servers: servers.natsUrl });
    const mqttGateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
    const dc09Gateway = await startGatewayDc09(loadGatewayDc09Config(env));
    const closers: Array<() => Promise<void>> = [];
    try {
      const kvm = new Kvm(nc);
      const deviceMap = await kvm.create(n.kv.deviceMap, { history: 5 });
      const accounts = await kvm.create(n.kv.dc09Accounts, { history: 5 });
      const now = new Date().toISOString();
      for (let i = 0; i < SENDERS; i++) {
        const device: DeviceMapEntry = {
          serial: `BENCH-PND-${i}`,
          deviceId: `dev_bench${i}`,
          residentId: `res_bench${i}`,
          kind: 'pendant',
          protocol: 'mqtt',
          location: null,
          supervisionIntervalS: 3600,
          state: 'installed',
          testMode: true,
          postcodeDistrict: null,
          updatedAt: now,
        };
        await deviceMap.put(device.serial, JSON.stringify(device));
        const account: Dc09AccountEntry = {
          account: (0xb000 + i).toString(16).toUpperCase(),
          serial: `BENCH-DC09-${i}`,
          residentId: `res_benchdc${i}`,
          key: '000102030405060708090A0B0C0D0E0F',
          keyEncoding: 'hex',
          codeOverrides: {},
          supervisionIntervalS: 3600,
          state: 'installed',
          testMode: true,
          postcodeDistrict: null,
          updatedAt: now,
        };
        await accounts.put(account.account, JSON.stringify(account));
      }

      // Ceiling: raw JetStream publishes of an event-sized payload, same senders, same process.
      const jsm = await jetstreamManager(nc);
      const rawStream = `${n.streams.events}_RAW`;
      await jsm.streams.add({ name: rawStream, subjects: [`${ns}.raw.>`] });
      const js = jetstream(nc);
      const payload = JSON.stringify({ pad: 'x'.repeat(600) });
      let rawId = 0;
      const rawSend = async () => {
        const t0 = performance.now();
        await js.publish(`${ns}.raw.1`, payload, { msgID: `raw-${rawId++}` });
        return performance.now() - t0;
      };
      await drive(WARMUP, 1, rawSend);
      const raw1 = summary(await drive(EVENTS, 1, rawSend));

      const devices = Array.from(
        { length: SENDERS },
        (_, i) => new SimulatedDevice({ serial: `BENCH-PND-${i}`, mqttUrl: mosquitto.url, namespace: ns }),
      );
      for (const d of devices) await d.connect();
      closers.push(async () => {
        for (const d of devices) await d.close();
      });
      const mqttSend = async (sender: number) =>
        (await (devices[sender] as SimulatedDevice).send('test.manual')).latencyMs;
      const runMqtt = ONLY !== 'dc09';
      if (runMqtt) await drive(WARMUP, 1, mqttSend);

      // What the MQTT path allows without the gateway: the same devices (in a namespace the gateway
      // does not hear) answered by a stand-in that acks each event at once ('echo'), or that first
      // stores the payload as sent with one JetStream publish ('store'): no validation, no envelope.
      const standIn = { mode: 'echo' as 'echo' | 'store' };
      const nsStandIn = `${ns}-bare`;
      const standInNc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });
      const standInJs = jetstream(standInNc);
      const responder = await mqtt.connectAsync(mosquitto.url, {
        protocolVersion: 5,
        clientId: `${nsStandIn}-responder`,
      });
      (responder.stream as { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(true);
      responder.on('message', (topic, message) => {
        const serial = topic.split('/')[3] as string;
        const { id } = JSON.parse(message.toString()) as { id: string };
        const ack = () =>
          responder.publish(`${nsStandIn}/v1/devices/${serial}/ack`, JSON.stringify({ id, stored: true }), {
            qos: 1,
          });
        if (standIn.mode === 'echo') ack();
        else void standInJs.publish(`${ns}.raw.bare`, message, { msgID: `bare-${id}` }).then(ack);
      });
      await responder.subscribeAsync(`${nsStandIn}/v1/devices/+/events`, { qos: 1 });
      const bareDevices = Array.from(
        { length: SENDERS },
        (_, i) =>
          new SimulatedDevice({ serial: `BENCH-BARE-${i}`, mqttUrl: mosquitto.url, namespace: nsStandIn }),
      );
      for (const d of bareDevices) await d.connect();
      closers.push(async () => {
        for (const d of bareDevices) await d.close();
        await responder.endAsync();
        await standInNc.close();
      });
      const bareSend = (mode: 'echo' | 'store') => async (sender: number) => {
        standIn.mode = mode;
        return (await (bareDevices[sender] as SimulatedDevice).send('test.manual')).latencyMs;
      };
      if (runMqtt) {
        await drive(WARMUP, 1, bareSend('echo'));
        await drive(WARMUP, 1, bareSend('store'));
      }
      const mqtt1 = runMqtt ? summary(await drive(EVENTS, 1, mqttSend)) : SKIPPED;

      const diallers = Array.from(
        { length: SENDERS },
        (_, i) =>
          new Dc09Dialler({
            host: dc09Gateway.dc09.host,
            port: dc09Gateway.dc09.tcpPort,
            transport: 'tcp',
            account: (0xb000 + i).toString(16).toUpperCase(),
            key: { value: '000102030405060708090A0B0C0D0E0F', encoding: 'hex' },
          }),
      );
      for (const d of diallers) await d.connect();
      closers.push(async () => {
        for (const d of diallers) await d.close();
      });
      const dc09Send = async (sender: number) =>
        (await (diallers[sender] as Dc09Dialler).sendCid([{ kind: 'cid', qualifier: 1, code: '601' }]))
          .latencyMs;
      const runDc09 = ONLY !== 'mqtt';
      if (runDc09) await drive(WARMUP, 1, dc09Send);
      const dc091 = runDc09 ? summary(await drive(EVENTS, 1, dc09Send)) : SKIPPED;

      // The many-sender runs, in rounds taking turns (one round: raw, mqtt, dc09 back to back).
      const echo = { send: bareSend('echo'), sample: { latencies: [], seconds: 0 } as Sample };
      const store = { send: bareSend('store'), sample: { latencies: [], seconds: 0 } as Sample };
      const many = [
        { send: rawSend, sample: { latencies: [], seconds: 0 } as Sample },
        ...(runMqtt ? [{ send: mqttSend, sample: { latencies: [], seconds: 0 } as Sample }] : []),
        ...(runDc09 ? [{ send: dc09Send, sample: { latencies: [], seconds: 0 } as Sample }] : []),
        ...(runMqtt ? [echo, store] : []),
      ];
      const perRound = Math.ceil(EVENTS / ROUNDS);
      for (let r = 0; r < ROUNDS; r++) {
        for (let k = 0; k < many.length; k++) {
          const phase = many[(k + r) % many.length] as (typeof many)[number];
          await drive(perRound, SENDERS, phase.send, phase.sample);
        }
      }
      await jsm.streams.delete(rawStream);
      const [rawN, mqttN, dc09N] = [
        summary((many[0] as (typeof many)[number]).sample),
        runMqtt ? summary((many[1] as (typeof many)[number]).sample) : SKIPPED,
        runDc09 ? summary((many[runMqtt ? 2 : 1] as (typeof many)[number]).sample) : SKIPPED,
      ] as const;
      const [echoN, storeN] = runMqtt ? [summary(echo.sample), summary(store.sample)] : [SKIPPED, SKIPPED];

      const line = (label: string, one: Run, many: Run) =>
        log(
          `${label.padEnd(26)} 1 sender: ${String(one.perSecond).padStart(6)}/s p50 ${one.p50} ms p99 ${one.p99} ms | ` +
            `${SENDERS} senders: ${String(many.perSecond).padStart(6)}/s p50 ${many.p50} ms p99 ${many.p99} ms`,
        );
      log(
        `${EVENTS} events per run, ${SENDERS}-sender runs in ${ROUNDS} round(s) taking turns, own Mosquitto at ${mosquitto.url}`,
      );
      line('raw JetStream publish', raw1, rawN);
      line('gateway-mqtt (QoS 1)', mqtt1, mqttN);
      line('gateway-dc09 (TCP, AES)', dc091, dc09N);
      const bare = (label: string, run: Run) =>
        log(
          `${label.padEnd(28)} ${SENDERS} senders: ${String(run.perSecond).padStart(6)}/s p50 ${run.p50} ms p99 ${run.p99} ms` +
            ` (${round(run.perSecond / rawN.perSecond, 2)} of raw)`,
        );
      log('without the gateway, the same MQTT devices answered by a stand-in:');
      bare('  acks at once', echoN);
      bare('  stores as sent, then acks', storeN);
      return {
        events: EVENTS,
        senders: SENDERS,
        rounds: ROUNDS,
        raw_1_per_s: raw1.perSecond,
        raw_1_p99_ms: raw1.p99,
        raw_n_per_s: rawN.perSecond,
        raw_n_p99_ms: rawN.p99,
        mqtt_1_per_s: mqtt1.perSecond,
        mqtt_1_p99_ms: mqtt1.p99,
        mqtt_n_per_s: mqttN.perSecond,
        mqtt_n_p99_ms: mqttN.p99,
        dc09_1_per_s: dc091.perSecond,
        dc09_1_p99_ms: dc091.p99,
        dc09_n_per_s: dc09N.perSecond,
        dc09_n_p99_ms: dc09N.p99,
        mqtt_n_vs_raw_n_ratio: round(mqttN.perSecond / rawN.perSecond, 2),
        mqtt_echo_n_per_s: echoN.perSecond,
        mqtt_store_n_per_s: storeN.perSecond,
        mqtt_echo_n_vs_raw_n_ratio: round(echoN.perSecond / rawN.perSecond, 2),
        mqtt_store_n_vs_raw_n_ratio: round(storeN.perSecond / rawN.perSecond, 2),
        mqtt_n_vs_store_n_ratio: round(mqttN.perSecond / storeN.perSecond, 2),
        dc09_n_vs_raw_n_ratio: round(dc09N.perSecond / rawN.perSecond, 2),
      };
    } finally {
      for (const close of closers) await close().catch(() => undefined);
      await dc09Gateway.close();
      await mqttGateway.close();
      await nc.close();
      await cleanupNamespace(ns);
      mosquitto.stop();
    }
  },
};

export default benchmark;

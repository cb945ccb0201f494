import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { type DeviceMapEntry, type EventType, names } from '@telecare/contracts';
import { devicePayload, EventRejectedError, MqttPool } from '@telecare/simulators';
import type { SentEvent } from './reconcile.ts';

/** One home of the run: a pendant, a movement sensor and a home unit. */
interface Home {
  readonly residentId: string;
  readonly pendant: string;
  readonly pir: string;
  readonly hub: string;
}

/** A press as the run timed it. */
export interface SentPress {
  readonly serial: string;
  readonly deviceEventId: string;
  /** The device's time as sent: with the id and type it names the event (`eventIdFor`). */
  readonly at: string;
  /** Wall-clock ms of the first send (compared with stream timestamps); a panel's: of the press. */
  readonly sentAt: number;
  /** A DC-09 panel's press: the sequence number of its message (`SentEvent.dc09Seq`). */
  readonly dc09Seq?: number;
}

export interface LoadOptions {
  /** Events per second, presses included. */
  readonly rate: number;
  readonly homes: number;
  /** Pendant presses per second, a share of `rate`. */
  readonly pressesPerS: number;
  readonly random: () => number;
}

/**
 * Writes the homes' devices into the device map, as the registry would (the registry is not on
 * the alarm path, and the run does not fault it).
 */
async function registerHomes(nc: NatsConnection, namespace: string, count: number): Promise<Home[]> {
  const kv = await new Kvm(nc).create(names(namespace).kv.deviceMap, { history: 5 });
  const now = new Date().toISOString();
  const tag = Date.now().toString(36).toUpperCase();
  const homes = Array.from({ length: count }, (_, i) => ({
    residentId: `res_flt${tag.toLowerCase()}${i}`,
    pendant: `FLT${tag}-${i}-PND`,
    pir: `FLT${tag}-${i}-PIR`,
    hub: `FLT${tag}-${i}-HUB`,
  }));
  const devices: Array<[keyof Home, DeviceMapEntry['kind'], string | null]> = [
    ['pendant', 'pendant', null],
    ['pir', 'pir', 'lounge'],
    ['hub', 'home-unit', 'hall'],
  ];
  for (const home of homes) {
    for (const [field, kind, location] of devices) {
      const serial = home[field];
      const entry: DeviceMapEntry = {
        serial,
        deviceId: `dev_${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
        residentId: home.residentId,
        kind,
        protocol: 'mqtt',
        location,
        supervisionIntervalS: 86_400,
        state: 'installed',
        testMode: false,
        postcodeDistrict: 'GL1',
        updatedAt: now,
      };
      await kv.put(serial, JSON.stringify(entry));
    }
  }
  return homes;
}

/**
 * The homes of a fault run publishing a steady load over MQTT: movement and heartbeats, and
 * pendant presses. Every device resends until acked (the simulators' pool), so what the run
 * records is what real devices would have been told: each event sent, and whether it was acked.
 */
export class SteadyLoad {
  readonly #sent = new Map<
    string,
    { serial: string; deviceEventId: string; at: string; type: EventType; acked: boolean }
  >();
  readonly presses: SentPress[] = [];
  #homes: Home[] = [];
  #pool: MqttPool | undefined;
  #timer: NodeJS.Timeout | undefined;
  #counter = 0;
  /** Events the platform refused (a bad event is refused, not lost); none are expected. */
  rejected = 0;

  constructor(private readonly options: LoadOptions) {}

  async start(nc: NatsConnection, namespace: string, mqttUrl: string): Promise<void> {
    this.#homes = await registerHomes(nc, namespace, this.options.homes);
    this.#pool = new MqttPool({ mqttUrl, namespace, connections: 2, resendMs: 2_000, resendMaxMs: 10_000 });
    await this.#pool.connect();
    await this.#pool.register(this.#homes.flatMap((h) => [h.pendant, h.pir, h.hub]));
    // The gateway's device map is a KV watch: let it see the new entries before traffic starts.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const tickMs = 100;
    let carry = 0;
    let pressCarry = 0;
    this.#timer = setInterval(() => {
      carry += (this.options.rate * tickMs) / 1000;
      pressCarry += (this.options.pressesPerS * tickMs) / 1000;
      while (pressCarry >= 1) {
        pressCarry -= 1;
        carry -= 1;
        this.#send('pendant');
      }
      while (carry >= 1) {
        carry -= 1;
        this.#send(this.options.random() < 0.2 ? 'hub' : 'pir');
      }
    }, tickMs);
  }

  #send(device: 'pendant' | 'pir' | 'hub'): void {
    const pool = this.#pool;
    const home = this.#homes[Math.floor(this.options.random() * this.#homes.length)];
    if (!pool || !home) return;
    const serial = home[device];
    const type: EventType =
      device === 'pendant' ? 'pendant.pressed' : device === 'pir' ? 'motion' : 'heartbeat';
    const deviceEventId = `flt-${(this.#counter++).toString(36).padStart(6, '0')}`;
    const sentAt = new Date();
    const at = sentAt.toISOString();
    const record = { serial, deviceEventId, at, type, acked: false };
    this.#sent.set(`${serial}\u0000${deviceEventId}`, record);
    if (type === 'pendant.pressed')
      this.presses.push({ serial, deviceEventId, at, sentAt: sentAt.getTime() });
    const data = type === 'heartbeat' ? { mains: true, batteryPercent: 100 } : {};
    pool
      .send(serial, deviceEventId, devicePayload(deviceEventId, type, data, sentAt))
      .then(() => {
        record.acked = true;
      })
      .catch((err: unknown) => {
        if (err instanceof EventRejectedError) this.rejected++;
      });
  }

  get inFlight(): number {
    return this.#pool?.inFlight ?? 0;
  }

  get sentCount(): number {
    return this.#sent.size;
  }

  /** Stops sending new events; those in flight keep being resent until acked or `close`. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Waits up to `timeoutMs` for every event in flight to be acked, then gives up on the rest. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    await this.#pool?.close();
  }

  sent(): SentEvent[] {
    return [...this.#sent.values()];
  }
}

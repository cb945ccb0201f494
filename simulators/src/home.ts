import type { DeviceKind, EventType } from '@telecare/contracts';
import { SimulatedDevice } from './device.ts';
import { pick, seededRandom } from './random.ts';
import type { HomePlan } from './registration.ts';
import { ensureHome } from './registration.ts';
import type { NewResident, RegistryClient } from './registry-client.ts';

export interface HomeOptions {
  index: number;
  registry: RegistryClient;
  mqttUrl: string;
  namespace?: string;
  /** Mean seconds between pendant presses (0 = never). */
  pressEveryS: number;
  heartbeatEveryS: number;
  seed: number;
  log: (line: string) => void;
}

const FIRST = ['Margaret', 'Arthur', 'Joan', 'Dennis', 'Irene', 'Harold', 'Edna', 'Stanley'];
const LAST = ['Hill', 'Price', 'Webb', 'Carter', 'Lloyd', 'Shaw', 'Ford', 'Dixon'];
const STREETS = ['Westgate Street', 'Barton Road', 'London Road', 'Bristol Road', 'Kingsholm Road'];
const POSTCODES = ['GL1 2AB', 'GL1 3NP', 'GL2 4QZ', 'GL4 6DL', 'GL3 1JT'];

const DEVICES: ReadonlyArray<{ suffix: string; kind: DeviceKind; location?: string }> = [
  { suffix: 'PND', kind: 'pendant' },
  { suffix: 'PIRL', kind: 'pir', location: 'lounge' },
  { suffix: 'PIRK', kind: 'pir', location: 'kitchen' },
  { suffix: 'DOOR', kind: 'door-contact', location: 'front door' },
];

/**
 * One simulated home in real time: a resident with a pendant, two movement sensors and a front
 * door contact, registered through the registry API and reporting over MQTT.
 */
export class SimulatedHome {
  readonly #devices = new Map<DeviceKind | string, SimulatedDevice>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #random: () => number;
  residentId = '';

  constructor(private readonly options: HomeOptions) {
    this.#random = seededRandom(options.seed);
  }

  /**
   * Home `index` of a run as the registry should hold it. Serials derive from the run id and the
   * home's place, so a later run with the same run id resumes it (see registration.ts).
   */
  static plan(
    runId: string,
    index: number,
    heartbeatEveryS: number,
    resident: () => NewResident = () => {
      throw new Error('a resumed home has its resident already');
    },
  ): HomePlan {
    return {
      resident,
      devices: (generation) =>
        DEVICES.map((device) => ({
          serial: `SIM${runId}-${index}${generation === 1 ? '' : `G${generation}`}-${device.suffix}`,
          kind: device.kind,
          ...(device.location ? { location: device.location } : {}),
          supervisionIntervalS: heartbeatEveryS * 3,
        })),
    };
  }

  async start(runId: string): Promise<void> {
    const { registry, index } = this.options;
    const resident: NewResident = {
      name: `${pick(this.#random, FIRST)} ${pick(this.#random, LAST)}`,
      address: `${1 + Math.floor(this.#random() * 120)} ${pick(this.#random, STREETS)}, Gloucester`,
      postcode: pick(this.#random, POSTCODES),
      phone: `01452 ${String(100000 + Math.floor(this.#random() * 899999))}`,
      livesAlone: this.#random() < 0.7,
    };
    const plan = SimulatedHome.plan(runId, index, this.options.heartbeatEveryS, () => resident);
    // A home keeps no secrets across runs: a resumed one gets new ones (the old ones stop working).
    const home = await ensureHome(registry, plan, this.options.log, { reissue: true });
    this.residentId = home.residentId;
    for (const device of plan.devices(home.generation)) {
      if (!home.serials.includes(device.serial)) continue;
      const login = home.credentials.get(device.serial);
      const simulated = new SimulatedDevice({
        serial: device.serial,
        mqttUrl: this.options.mqttUrl,
        namespace: this.options.namespace,
        // Each device logs in as itself: its serial and the secret the registry issued, if any.
        username: login?.username ?? device.serial,
        ...(login ? { password: login.secret } : {}),
      });
      await simulated.connect();
      this.#devices.set(device.serial.slice(device.serial.lastIndexOf('-') + 1), simulated);
    }
    this.options.log(
      `home ${index}: resident ${home.residentId} with ${home.serials.length} devices${
        home.outcome === 'resumed' ? ' (from an earlier run)' : ''
      }${home.credentials.size > 0 ? ', logged in with the secrets the registry issued' : ''}`,
    );
    this.#every(this.options.heartbeatEveryS, () => {
      for (const device of this.#devices.values())
        this.#send(device, 'heartbeat', { batteryPercent: 80, mains: true });
    });
    this.#every(30, () => this.#send(this.#device(this.#random() < 0.5 ? 'PIRL' : 'PIRK'), 'motion'));
    this.#every(240, () => {
      const door = this.#device('DOOR');
      this.#send(door, 'door.opened');
      setTimeout(() => this.#send(door, 'door.closed'), 5_000).unref();
    });
    if (this.options.pressEveryS > 0) this.#every(this.options.pressEveryS, () => this.press());
  }

  /** Presses the pendant; resolves with the press-to-ack latency. */
  async press(): Promise<number> {
    const sent = await this.#device('PND').send('pendant.pressed');
    this.options.log(
      `home ${this.options.index}: pendant pressed, stored in ${sent.latencyMs.toFixed(1)} ms`,
    );
    return sent.latencyMs;
  }

  #device(suffix: string): SimulatedDevice {
    const device = this.#devices.get(suffix);
    if (!device) throw new Error(`home ${this.options.index} has no ${suffix}`);
    return device;
  }

  #send(device: SimulatedDevice, type: EventType, data: Record<string, unknown> = {}): void {
    device
      .send(type, data)
      .catch((err: Error) => this.options.log(`home ${this.options.index}: ${err.message}`));
  }

  /** Runs `fn` about every `meanS` seconds, jittered ±50 % so homes do not march in step. */
  #every(meanS: number, fn: () => void): void {
    const schedule = () => {
      const delay = meanS * 1000 * (0.5 + this.#random());
      const timer = setTimeout(() => {
        fn();
        schedule();
      }, delay);
      timer.unref();
      this.#timers.push(timer);
    };
    schedule();
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all([...this.#devices.values()].map((device) => device.close()));
  }
}

import { devicePayload, loadEventId } from './load.ts';
import type { MqttPool } from './pool.ts';
import type { RegistryClient } from './registry-client.ts';
import { type DeviceKey, HOME_DEVICES, type HomeSpec, serialOf } from './resident/household.ts';
import { PROFILE_NAMES } from './resident/profiles.ts';
import { DAY, homeTimeline } from './resident/routine.ts';

export interface LiveOptions {
  readonly registry: RegistryClient;
  readonly pool: MqttPool;
  readonly homes: number;
  readonly seed: number;
  /** 1 = real time; 60 = a simulated hour a minute. */
  readonly speed: number;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
}

const POSTCODES = ['GL1 2AB', 'GL1 3NP', 'GL2 4QZ', 'GL4 6DL', 'GL3 1JT'];
const NAMES = ['Margaret Hill', 'Arthur Price', 'Joan Webb', 'Dennis Carter', 'Irene Lloyd'];

/**
 * Homes that live the resident model's day against a running stack: each home gets a profile in
 * turn, is registered through the registry API, and its devices send what the model says from
 * the current time of day on, stamped with the time they are sent. Runs until aborted.
 */
export async function runLiveHomes(options: LiveOptions): Promise<void> {
  const { registry, pool, log } = options;
  const runId = Date.now().toString(36).slice(-5).toUpperCase();
  const now = Date.now();
  const origin = now - (now % DAY);
  const serials = new Map<string, string>();
  const specs: HomeSpec[] = [];
  for (let i = 0; i < options.homes; i++) {
    const home: HomeSpec = {
      key: `L${i + 1}`,
      profile: PROFILE_NAMES[i % PROFILE_NAMES.length] as HomeSpec['profile'],
      postcode: POSTCODES[i % POSTCODES.length] as string,
      seed: options.seed * 1000 + i,
    };
    const resident = await registry.createResident({
      name: NAMES[i % NAMES.length] as string,
      address: `${i + 1} Westgate Street, Gloucester`,
      postcode: home.postcode,
      phone: '01452 000000',
      livesAlone: home.profile !== 'carer-four-times',
    });
    for (const device of HOME_DEVICES) {
      const serial = serialOf(runId, home, device.key);
      serials.set(`${home.key}/${device.key}`, serial);
      await registry.createDevice({
        serial,
        residentId: resident.id,
        kind: device.kind,
        ...(device.location ? { location: device.location } : {}),
        supervisionIntervalS: device.supervisionS,
      });
    }
    specs.push(home);
    log(`home ${home.key}: resident ${resident.id}, ${home.profile}, ${HOME_DEVICES.length} devices`);
  }
  await pool.register([...serials.values()]);
  const days = Math.ceil(2 + (options.speed * 86_400_000) / DAY / 1000);
  const events = specs
    .flatMap((home) => homeTimeline(home, { origin, days, weatherSeed: options.seed }).events)
    .filter((e) => e.at >= now)
    .sort((a, b) => a.at - b.at);
  log(`${events.length} events ahead at ${options.speed}× real time`);
  const wallStart = performance.now();
  for (const event of events) {
    const dueIn = (event.at - now) / options.speed - (performance.now() - wallStart);
    if (dueIn > 0) await new Promise((resolve) => setTimeout(resolve, dueIn));
    if (options.signal.aborted) return;
    const serial = serials.get(`${event.home}/${event.device satisfies DeviceKey}`) as string;
    const id = loadEventId();
    pool
      .send(serial, id, devicePayload(id, event.type, { ...event.data }))
      .then(() => {
        if (event.type !== 'heartbeat' && event.type !== 'motion' && event.type !== 'temperature')
          log(`home ${event.home}: ${event.type} from ${event.device}`);
      })
      .catch((err: Error) => log(`home ${event.home}: ${err.message}`));
  }
}

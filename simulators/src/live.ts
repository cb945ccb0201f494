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

/** The registered homes of a live run: each home's spec and its devices' serials. */
export interface LiveHomes {
  readonly specs: readonly HomeSpec[];
  /** `home/device` → serial. */
  readonly serials: ReadonlyMap<string, string>;
}

/** What a home's registration did: made anew, found from an earlier run, or retired. */
export type HomeOutcome = 'created' | 'resumed' | 'retired';

const liveRunId = (seed: number) => `D${seed}`;

/**
 * Home `i` of generation `g`: a retired home's serials stay decommissioned for ever, so when a
 * later run needs that home again it is made anew under the next generation's serials.
 */
function homeSpec(i: number, seed: number, generation = 1): HomeSpec {
  return {
    key: generation === 1 ? `L${i + 1}` : `L${i + 1}G${generation}`,
    profile: PROFILE_NAMES[i % PROFILE_NAMES.length] as HomeSpec['profile'],
    postcode: POSTCODES[i % POSTCODES.length] as string,
    seed: seed * 1000 + i,
  };
}

/**
 * Registers the live homes, idempotently: serials derive from the seed and the home's place, so a
 * second run finds the first run's homes by their devices and resumes them (same residents, same
 * devices) instead of registering them again. Homes beyond `homes` left by a larger earlier run
 * are decommissioned, so no silent home raises supervision losses for ever.
 */
export async function registerLiveHomes(
  options: Pick<LiveOptions, 'registry' | 'homes' | 'seed' | 'log'>,
): Promise<LiveHomes & { outcomes: HomeOutcome[] }> {
  const { registry, log } = options;
  const runId = liveRunId(options.seed);
  const serials = new Map<string, string>();
  const specs: HomeSpec[] = [];
  const outcomes: HomeOutcome[] = [];
  for (let i = 0; i < options.homes; i++) {
    let home = homeSpec(i, options.seed);
    let existing = await registry.getDevice(serialOf(runId, home, 'pendant'));
    for (let generation = 2; existing?.state === 'decommissioned'; generation++) {
      home = homeSpec(i, options.seed, generation);
      existing = await registry.getDevice(serialOf(runId, home, 'pendant'));
    }
    const live = existing;
    const residentId =
      live?.residentId ??
      (
        await registry.createResident({
          name: NAMES[i % NAMES.length] as string,
          address: `${i + 1} Westgate Street, Gloucester`,
          postcode: home.postcode,
          phone: '01452 000000',
          livesAlone: home.profile !== 'carer-four-times',
        })
      ).id;
    for (const device of HOME_DEVICES) {
      const serial = serialOf(runId, home, device.key);
      const found = live ? await registry.getDevice(serial) : null;
      if (found?.state === 'decommissioned') {
        log(`home ${home.key}: ${serial} was decommissioned; it stays silent`);
        continue;
      }
      if (!found) {
        await registry.createDevice({
          serial,
          residentId,
          kind: device.kind,
          ...(device.location ? { location: device.location } : {}),
          supervisionIntervalS: device.supervisionS,
        });
      }
      serials.set(`${home.key}/${device.key}`, serial);
    }
    specs.push(home);
    outcomes.push(live ? 'resumed' : 'created');
    log(
      `home ${home.key}: resident ${residentId}, ${home.profile}, ${HOME_DEVICES.length} devices${
        live ? ' (from an earlier run)' : ''
      }`,
    );
  }
  // A larger earlier run's homes: retired, device by device, up to the first home never made.
  for (let i = options.homes; ; i++) {
    let home = homeSpec(i, options.seed);
    let pendant = await registry.getDevice(serialOf(runId, home, 'pendant'));
    if (!pendant) break;
    for (let generation = 2; pendant?.state === 'decommissioned'; generation++) {
      home = homeSpec(i, options.seed, generation);
      pendant = await registry.getDevice(serialOf(runId, home, 'pendant'));
    }
    if (!pendant) continue;
    for (const device of HOME_DEVICES) {
      const found = await registry.getDevice(serialOf(runId, home, device.key));
      if (found && found.state !== 'decommissioned') await registry.decommission(found.serial);
    }
    outcomes.push('retired');
    log(`home ${home.key}: left by an earlier run, decommissioned`);
  }
  return { specs, serials, outcomes };
}

/**
 * Homes that live the resident model's day against a running stack: each home gets a profile in
 * turn, is registered through the registry API (or resumed from an earlier run), and its devices
 * send what the model says from the current time of day on, stamped with the time they are sent.
 * Runs until aborted.
 */
export async function runLiveHomes(options: LiveOptions): Promise<void> {
  const { pool, log } = options;
  const now = Date.now();
  const origin = now - (now % DAY);
  const { specs, serials } = await registerLiveHomes(options);
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

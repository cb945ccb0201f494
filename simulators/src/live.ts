import { devicePayload, loadEventId } from './load.ts';
import type { MqttPool } from './pool.ts';
import { ensureHome, type HomePlan, retireHomesFrom } from './registration.ts';
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

function homeSpec(i: number, seed: number, generation = 1): HomeSpec {
  return {
    key: generation === 1 ? `L${i + 1}` : `L${i + 1}G${generation}`,
    profile: PROFILE_NAMES[i % PROFILE_NAMES.length] as HomeSpec['profile'],
    postcode: POSTCODES[i % POSTCODES.length] as string,
    seed: seed * 1000 + i,
  };
}

function homePlan(i: number, seed: number): HomePlan {
  const profile = homeSpec(i, seed).profile;
  return {
    resident: () => ({
      name: NAMES[i % NAMES.length] as string,
      address: `${i + 1} Westgate Street, Gloucester`,
      postcode: POSTCODES[i % POSTCODES.length] as string,
      phone: '01452 000000',
      livesAlone: profile !== 'carer-four-times',
    }),
    devices: (generation) =>
      HOME_DEVICES.map((device) => ({
        serial: serialOf(liveRunId(seed), homeSpec(i, seed, generation), device.key),
        kind: device.kind,
        ...(device.location ? { location: device.location } : {}),
        supervisionIntervalS: device.supervisionS,
      })),
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
  const serials = new Map<string, string>();
  const specs: HomeSpec[] = [];
  const outcomes: HomeOutcome[] = [];
  for (let i = 0; i < options.homes; i++) {
    const ensured = await ensureHome(registry, homePlan(i, options.seed), log);
    const home = homeSpec(i, options.seed, ensured.generation);
    for (const device of HOME_DEVICES) {
      const serial = serialOf(liveRunId(options.seed), home, device.key);
      if (ensured.serials.includes(serial)) serials.set(`${home.key}/${device.key}`, serial);
    }
    specs.push(home);
    outcomes.push(ensured.outcome);
    log(
      `home ${home.key}: resident ${ensured.residentId}, ${home.profile}, ${ensured.serials.length} devices${
        ensured.outcome === 'resumed' ? ' (from an earlier run)' : ''
      }`,
    );
  }
  const retired = await retireHomesFrom(registry, (i) => homePlan(i, options.seed), options.homes);
  if (retired > 0) log(`${retired} home${retired === 1 ? '' : 's'} left by an earlier run decommissioned`);
  for (let i = 0; i < retired; i++) outcomes.push('retired');
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

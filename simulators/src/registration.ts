import type {
  DeviceCredentials,
  NewDevice,
  NewResident,
  RegisteredDevice,
  RegistryClient,
} from './registry-client.ts';

/** A simulated home as the registry should hold it, under the serials of one generation. */
export interface HomePlan {
  readonly resident: () => NewResident;
  /** The home's devices; the first one identifies the home. Serials must differ per generation. */
  readonly devices: (generation: number) => ReadonlyArray<Omit<NewDevice, 'residentId'>>;
}

export interface EnsuredHome {
  readonly outcome: 'created' | 'resumed';
  readonly residentId: string;
  readonly generation: number;
  /** The devices that can report (a decommissioned one stays silent). */
  readonly serials: readonly string[];
  /**
   * Each reporting device's broker login, when the registry issues them: from its registration,
   * or (with `reissue`) a new secret for a device registered by an earlier run.
   */
  readonly credentials: ReadonlyMap<string, DeviceCredentials>;
}

export interface EnsureOptions {
  /**
   * Re-issue the secret of a device found from an earlier run: the registry shows a secret only
   * once, so a device that did not keep it cannot log in to a broker that checks credentials.
   */
  readonly reissue?: boolean;
}

/**
 * The live generation of a home: the first whose identifying device is not decommissioned (a
 * retired home's serials stay decommissioned for ever, so a home needed again is made anew under
 * the next generation's serials), with that device when it is registered.
 */
async function liveGeneration(
  registry: RegistryClient,
  plan: Pick<HomePlan, 'devices'>,
): Promise<{ generation: number; first: RegisteredDevice | null }> {
  for (let generation = 1; ; generation++) {
    const serial = plan.devices(generation)[0]?.serial;
    if (serial === undefined) throw new RangeError('a home plan needs at least one device');
    const first = await registry.getDevice(serial);
    if (first?.state !== 'decommissioned') return { generation, first };
  }
}

/**
 * Registers a simulated home once: a later run finds it again by its devices and resumes it (same
 * resident, same devices), registering only devices it lacks.
 */
export async function ensureHome(
  registry: RegistryClient,
  plan: HomePlan,
  log: (line: string) => void,
  options: EnsureOptions = {},
): Promise<EnsuredHome> {
  const { generation, first } = await liveGeneration(registry, plan);
  const residentId = first?.residentId ?? (await registry.createResident(plan.resident())).id;
  const serials: string[] = [];
  const credentials = new Map<string, DeviceCredentials>();
  for (const device of plan.devices(generation)) {
    const found = first ? await registry.getDevice(device.serial) : null;
    if (found?.state === 'decommissioned') {
      log(`${device.serial} was decommissioned; it stays silent`);
      continue;
    }
    const issued = found
      ? options.reissue
        ? await registry.issueCredentials(device.serial)
        : null
      : ((await registry.createDevice({ ...device, residentId })).credentials ?? null);
    if (issued) credentials.set(device.serial, issued);
    serials.push(device.serial);
  }
  return { outcome: first ? 'resumed' : 'created', residentId, generation, serials, credentials };
}

/**
 * Decommissions the homes a larger earlier run left, from `planOf(from)` up to the first home
 * never registered, so no silent home raises supervision losses for ever. Returns how many.
 */
export async function retireHomesFrom(
  registry: RegistryClient,
  planOf: (index: number) => Pick<HomePlan, 'devices'>,
  from: number,
): Promise<number> {
  let retired = 0;
  for (let index = from; ; index++) {
    const plan = planOf(index);
    const firstSerial = plan.devices(1)[0]?.serial ?? '';
    if (!(await registry.getDevice(firstSerial))) return retired;
    const { generation, first } = await liveGeneration(registry, plan);
    if (!first) continue;
    for (const device of plan.devices(generation)) {
      const found = await registry.getDevice(device.serial);
      if (found && found.state !== 'decommissioned') await registry.decommission(found.serial);
    }
    retired += 1;
  }
}

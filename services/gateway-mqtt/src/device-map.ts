import { DeviceMapEntry, type Names } from '@telecare/contracts';
import { type KV, type Logger, type NatsConnection, openDeviceMap } from '@telecare/platform';

type KvEntry = NonNullable<Awaited<ReturnType<KV['get']>>>;
type Watch = Awaited<ReturnType<KV['watch']>>;

const WATCH_RESTART_MS = 1_000;

/**
 * The registry's device map (NATS KV, key = serial), mirrored in memory by a watch so a
 * lookup on the alarm path rarely waits on the network. A miss falls back to `kv.get`, so a
 * device registered a moment ago (before the watch delivered it) is still found.
 */
export class DeviceMap {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #entries = new Map<string, DeviceMapEntry>();
  #watch: Watch | undefined;
  #closed = false;
  #watching: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  private constructor(kv: KV, logger: Logger) {
    this.#kv = kv;
    this.#log = logger;
  }

  static async open(nc: NatsConnection, n: Names, logger: Logger): Promise<DeviceMap> {
    const map = new DeviceMap(await openDeviceMap(nc, n), logger.child({ component: 'device-map' }));
    map.#watching = map.#keepWatching();
    return map;
  }

  /** Entries held in memory (for metrics and tests). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The entry for a serial, or undefined if the registry has none (or deleted it). Throws if
   * the bucket cannot be read: that is transient, never a reason to refuse a device.
   */
  async lookup(serial: string): Promise<DeviceMapEntry | undefined> {
    const cached = this.#entries.get(serial);
    if (cached) return cached;
    const entry = await this.#kv.get(serial);
    if (!entry) return undefined;
    this.#apply(entry);
    return this.#entries.get(serial);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watch?.stop();
    this.#wake?.();
    await this.#watching;
  }

  #apply(entry: KvEntry): void {
    if (entry.operation !== 'PUT') {
      this.#entries.delete(entry.key);
      return;
    }
    let parsed: ReturnType<typeof DeviceMapEntry.safeParse>;
    try {
      parsed = DeviceMapEntry.safeParse(entry.json());
    } catch {
      parsed = DeviceMapEntry.safeParse(undefined);
    }
    if (!parsed.success || parsed.data.serial !== entry.key) {
      // An entry we cannot read is treated as absent: the device is refused as unknown and
      // dead-lettered (visible), rather than its events published with a guessed resident.
      this.#entries.delete(entry.key);
      this.#log.warn(
        { serial: entry.key, revision: entry.revision },
        'device map entry is not a valid DeviceMapEntry for its key; ignoring it',
      );
      return;
    }
    this.#entries.set(entry.key, parsed.data);
  }

  /** Restarts the watch if it ends (a long NATS outage can end it) until closed. */
  async #keepWatching(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#watch = await this.#kv.watch();
        if (this.#closed) this.#watch.stop();
        for await (const entry of this.#watch) this.#apply(entry);
      } catch (err) {
        if (!this.#closed) this.#log.warn({ err }, 'device map watch failed; lookups fall back to kv.get');
      }
      if (this.#closed) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, WATCH_RESTART_MS);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

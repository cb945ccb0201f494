import type { Names } from '@telecare/contracts';
import {
  type BucketOptions,
  createBucket,
  type KV,
  type Logger,
  lastValues,
  type NatsConnection,
} from '@telecare/platform';
import type { RegistryStore } from './store.ts';

/**
 * Keeps the `resident-away` KV bucket (key = resident id, value = JSON `ResidentAwayEntry`) in
 * step with PostgreSQL, which is the record: after every commit the resident's entry is written
 * again from the rows (a resident with no period left has their key deleted), and at start-up the
 * whole bucket is brought in step. Triage follows the bucket and gives each resident's periods to
 * the rules with every input. A put that fails is retried a few times, then left to the next
 * change or start-up (logged).
 */
export class AwayPublisher {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #store: RegistryStore;
  readonly #log: Logger;
  /** Copies, store and logger the bucket is made with (`createBucket`). */
  readonly #bucketOptions: BucketOptions;
  readonly #clock: () => Date;
  #kv: KV | undefined;

  constructor(options: {
    nc: NatsConnection;
    names: Names;
    store: RegistryStore;
    logger: Logger;
    clock: () => Date;
    replicas?: number;
    /** TELECARE_JETSTREAM_MAX_BYTES, the store the bucket's bound is a share of. */
    storeBytes?: number | undefined;
  }) {
    this.#nc = options.nc;
    this.#names = options.names;
    this.#store = options.store;
    this.#log = options.logger.child({ component: 'resident-away' });
    this.#bucketOptions = {
      replicas: options.replicas ?? 1,
      storeBytes: options.storeBytes,
      logger: options.logger,
    };
    this.#clock = options.clock;
  }

  async open(): Promise<KV> {
    this.#kv = await createBucket(
      this.#nc,
      this.#names.kv.residentAway,
      { kind: 'residentAway', history: 5 },
      this.#bucketOptions,
    );
    return this.#kv;
  }

  /** Writes the resident's entry from the rows (deletes the key when no period is left). */
  async publish(residentId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const kv = this.#kv ?? (await this.open());
        const entry = await this.#store.awayEntry(residentId, this.#clock());
        if (entry.periods.length === 0) await kv.delete(residentId);
        else await kv.put(residentId, JSON.stringify(entry));
        return;
      } catch (err) {
        if (attempt >= 3) {
          this.#log.error(
            { err, residentId },
            'away periods not published; the next change or start-up will',
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /** Start-up: every resident with a period gets their entry; keys of the others go. */
  async syncAll(): Promise<void> {
    const kv = this.#kv ?? (await this.open());
    const wanted = new Set(await this.#store.residentsAway(this.#clock()));
    const held = await lastValues(this.#nc, this.#names.kv.residentAway);
    for (const residentId of wanted) await this.publish(residentId);
    for (const key of held.keys()) if (!wanted.has(key)) await kv.delete(key);
    this.#log.info({ residents: wanted.size }, 'away periods in step');
  }
}

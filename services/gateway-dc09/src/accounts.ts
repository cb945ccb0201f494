import { type KV, Kvm } from '@nats-io/kv';
import { Dc09AccountEntry, type Names } from '@telecare/contracts';
import type { Logger, NatsConnection } from '@telecare/platform';

type KvEntry = NonNullable<Awaited<ReturnType<KV['get']>>>;
type Watch = Awaited<ReturnType<KV['watch']>>;

const WATCH_RESTART_MS = 1_000;

/**
 * Opens the registry's DC-09 account bucket, created if missing with the configuration the
 * registry uses, so whichever starts first makes the same bucket.
 */
export async function openDc09Accounts(nc: NatsConnection, n: Names): Promise<KV> {
  return new Kvm(nc).create(n.kv.dc09Accounts, { history: 5 });
}

/**
 * The registry's DC-09 accounts (key = account), mirrored in memory by a watch so a frame rarely
 * waits on the network; a miss falls back to `kv.get`, so an account added a moment ago is found.
 */
export class Dc09Accounts {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #entries = new Map<string, Dc09AccountEntry>();
  #watch: Watch | undefined;
  #closed = false;
  #watching: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  private constructor(kv: KV, logger: Logger) {
    this.#kv = kv;
    this.#log = logger;
  }

  static async open(nc: NatsConnection, n: Names, logger: Logger): Promise<Dc09Accounts> {
    const accounts = new Dc09Accounts(await openDc09Accounts(nc, n), logger.child({ component: 'accounts' }));
    accounts.#watching = accounts.#keepWatching();
    return accounts;
  }

  /** The account's entry, or undefined. Throws if the bucket cannot be read (transient). */
  async lookup(account: string): Promise<Dc09AccountEntry | undefined> {
    const cached = this.#entries.get(account);
    if (cached) return cached;
    const entry = await this.#kv.get(account);
    if (!entry) return undefined;
    this.#apply(entry);
    return this.#entries.get(account);
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
    let parsed: ReturnType<typeof Dc09AccountEntry.safeParse>;
    try {
      parsed = Dc09AccountEntry.safeParse(entry.json());
    } catch {
      parsed = Dc09AccountEntry.safeParse(undefined);
    }
    if (!parsed.success || parsed.data.account !== entry.key) {
      // Unreadable means unknown: the sender gets NAK and the frame is dead-lettered (visible),
      // rather than its events published under a guessed resident.
      this.#entries.delete(entry.key);
      this.#log.warn(
        { account: entry.key, revision: entry.revision },
        'not a valid Dc09AccountEntry for its key; ignoring it',
      );
      return;
    }
    this.#entries.set(entry.key, parsed.data);
  }

  async #keepWatching(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#watch = await this.#kv.watch();
        if (this.#closed) this.#watch.stop();
        for await (const entry of this.#watch) this.#apply(entry);
      } catch (err) {
        if (!this.#closed) this.#log.warn({ err }, 'account watch failed; lookups fall back to kv.get');
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

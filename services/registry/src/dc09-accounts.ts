import { type KV, Kvm } from '@nats-io/kv';
import { Dc09AccountEntry, type Names } from '@telecare/contracts';
import {
  type Clock,
  type Counter,
  type Logger,
  lastValues,
  type NatsConnection,
  openDc09Accounts,
  StreamReplicasError,
  systemClock,
} from '@telecare/platform';
import type { DeviceRow, ResidentRow } from './records.ts';
import type { RegistryStore } from './store.ts';

/**
 * The DC-09 account entry for a device, or null when the device does not report over DC-09 under
 * an account for a resident. The key is decrypted here: the bucket is the hand-over to the DC-09
 * gateway and must be readable only by it and the registry.
 */
export function buildDc09AccountEntry(
  device: DeviceRow,
  resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null,
  openKey: (stored: string) => string,
  now: Date = new Date(),
): Dc09AccountEntry | null {
  if (device.protocol !== 'dc09' || device.dc09_account === null) return null;
  if (!resident || device.resident_id !== resident.id || device.state === 'decommissioned') return null;
  const updatedAt = Math.max(device.updated_at.getTime(), resident.updated_at.getTime());
  return Dc09AccountEntry.parse({
    account: device.dc09_account,
    serial: device.serial,
    kind: device.kind,
    residentId: resident.id,
    key: device.dc09_key_enc === null ? null : openKey(device.dc09_key_enc),
    keyEncoding: device.dc09_key_encoding,
    // Only while its grace runs: past it the gateway refuses the old key anyway, and the secret
    // need not be handed on.
    ...(device.dc09_key_enc !== null &&
    device.dc09_prev_key_enc !== null &&
    device.dc09_prev_key_until !== null &&
    device.dc09_prev_key_until.getTime() > now.getTime()
      ? {
          previousKey: {
            key: openKey(device.dc09_prev_key_enc),
            keyEncoding: device.dc09_prev_key_encoding ?? device.dc09_key_encoding,
            until: device.dc09_prev_key_until.toISOString(),
          },
        }
      : {}),
    codeOverrides: device.dc09_code_overrides ?? {},
    supervisionIntervalS: device.supervision_interval_s,
    state: device.state,
    testMode: device.test_mode,
    postcodeDistrict: resident.postcode_district,
    updatedAt: new Date(updatedAt).toISOString(),
  });
}

/**
 * Keeps the DC-09 accounts bucket (key = account) in step with PostgreSQL, like the device map:
 * a put after every committed change, a full resync at start-up. Failures are logged and counted;
 * the next change or start-up repairs them.
 */
export class Dc09AccountPublisher {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #store: RegistryStore;
  readonly #log: Logger;
  readonly #puts: Counter<'outcome'>;
  readonly #replicas: number;
  readonly #clock: Clock;
  #kv: KV | undefined;

  constructor(options: {
    nc: NatsConnection;
    names: Names;
    store: RegistryStore;
    logger: Logger;
    puts: Counter<'outcome'>;
    /** TELECARE_STREAM_REPLICAS, for the bucket when this creates it. */
    replicas?: number;
    /** Whether a previous key's grace still runs is judged by it. */
    clock?: Clock;
  }) {
    this.#replicas = options.replicas ?? 1;
    this.#clock = options.clock ?? systemClock;
    this.#nc = options.nc;
    this.#names = options.names;
    this.#store = options.store;
    this.#log = options.logger.child({ component: 'dc09-accounts' });
    this.#puts = options.puts;
  }

  async open(): Promise<KV> {
    // Whichever of registry and DC-09 gateway comes first creates it; bind if it exists already.
    this.#kv = await openDc09Accounts(this.#nc, this.#names, { replicas: this.#replicas }).catch((err) => {
      if (err instanceof StreamReplicasError) throw err;
      return new Kvm(this.#nc).open(this.#names.kv.dc09Accounts, { allow_direct: true });
    });
    return this.#kv;
  }

  #entryFor(
    device: DeviceRow,
    resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null,
  ) {
    return buildDc09AccountEntry(
      device,
      resident,
      (stored) => this.#store.open(stored, device.id, 'dc09Key') ?? '',
      new Date(this.#clock.now()),
    );
  }

  /** Publishes one device's account; `previousAccount` is removed when the device no longer holds it. */
  async publish(serial: string, previousAccount?: string | null): Promise<void> {
    try {
      const kv = this.#kv ?? (await this.open());
      const rows = await this.#store.mapRowsFor(serial);
      const entry = rows ? this.#entryFor(rows.device, rows.resident) : null;
      if (previousAccount && previousAccount !== entry?.account) {
        await kv.delete(previousAccount);
        this.#puts.inc({ outcome: 'deleted' });
      }
      if (entry) {
        const current = await kv.get(entry.account);
        if (current?.operation === 'PUT' && current.string() === JSON.stringify(entry)) return;
        await kv.put(entry.account, JSON.stringify(entry));
        this.#puts.inc({ outcome: 'written' });
      }
    } catch (err) {
      this.#kv = undefined;
      this.#puts.inc({ outcome: 'failed' });
      this.#log.warn({ err, serial }, 'dc09 account put failed; the next change or start-up repairs it');
    }
  }

  /** Makes the bucket match PostgreSQL: every account written, every other key deleted. */
  async syncAll(): Promise<{ written: number; deleted: number }> {
    const kv = await this.open();
    const leftovers = new Set((await lastValues(this.#nc, this.#names.kv.dc09Accounts)).keys());
    let written = 0;
    for await (const { device, resident } of this.#store.allMapRows()) {
      const entry = this.#entryFor(device, resident);
      if (!entry) continue;
      leftovers.delete(entry.account);
      const current = await kv.get(entry.account);
      if (current?.operation === 'PUT' && current.string() === JSON.stringify(entry)) continue;
      await kv.put(entry.account, JSON.stringify(entry));
      written++;
    }
    for (const key of leftovers) await kv.delete(key);
    this.#log.info({ written, deleted: leftovers.size }, 'dc09 accounts in step with postgres');
    return { written, deleted: leftovers.size };
  }
}

import { type Clock, type Counter, Gauge, type Logger, type Registry } from '@telecare/platform';
import type { CredentialAuthority, DeviceCredential } from './credentials.ts';
import type { BrokerRepairOutcome, RegistryStore } from './store.ts';

/**
 * Gives the broker back the secret PostgreSQL holds for each device marked as awaiting it (a
 * re-issue neither confirmed nor put back: `RegistryStore.putBackBrokerLogin`), at start-up and then
 * every `intervalMs`: the device logs in again with the secret it has, without anyone issuing it a
 * new one. A device whose secret cannot be recovered stays marked (re-issue needed); one the broker
 * refuses, or a broker that does not answer, is tried again at the next pass.
 */
export function startBrokerRepair(deps: {
  store: RegistryStore;
  authority: CredentialAuthority;
  clock: Clock;
  logger: Logger;
  repairs: Counter<'outcome'>;
  intervalMs: number;
}): { stop(): Promise<void>; pass(): Promise<number> } {
  const log = deps.logger.child({ component: 'credentials' });
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  /** Makes the broker hold what the row says, each command confirmed by the broker's answer. */
  const repair = async (device: DeviceCredential): Promise<BrokerRepairOutcome | undefined> => {
    if (!device.live) {
      await deps.authority.revoke(device.serial);
      return 'client-removed';
    }
    if (device.secret === null) return undefined;
    await deps.authority.install(device.serial, device.secret);
    return 'secret-restored';
  };
  const pass = async (): Promise<number> => {
    const waiting = await deps.store.brokerUnconfirmed();
    let repaired = 0;
    const left: string[] = [];
    for (const serial of waiting) {
      if (stopped) break;
      try {
        const done = await deps.store.repairBroker(serial, repair, new Date(deps.clock.now()));
        if (!done) {
          left.push(serial);
          continue;
        }
        repaired++;
        deps.repairs.inc({ outcome: done.outcome });
        log.warn(
          { serial, outcome: done.outcome, unconfirmedSince: done.since.toISOString() },
          'broker login repaired: the broker holds the secret postgres holds again',
        );
      } catch (err) {
        left.push(serial);
        log.warn({ err, serial }, 'broker login not repaired; the next pass tries again');
      }
    }
    if (left.length > 0) log.warn({ serials: left }, 'devices awaiting broker repair');
    return repaired;
  };
  let queued = 0;
  const run = () => {
    queued++;
    const next = running.then(pass).finally(() => queued--);
    running = next.catch((err: unknown) => log.warn({ err }, 'broker repair pass failed'));
    return next;
  };
  const timer = setInterval(() => {
    // A pass slower than the interval (a broker that answers slowly) is not queued behind again.
    if (!stopped && queued === 0) void run().catch(() => undefined);
  }, deps.intervalMs);
  timer.unref();
  return {
    pass: run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** `registry_broker_unconfirmed_devices`: devices awaiting a broker repair, read from PostgreSQL at each scrape. */
export function unconfirmedGauge(store: RegistryStore, registry: Registry): Gauge {
  return new Gauge({
    name: 'registry_broker_unconfirmed_devices',
    help: 'MQTT devices whose broker secret is unconfirmed (a re-issue neither confirmed nor put back), awaiting repair',
    registers: [registry],
    async collect() {
      // A scrape while PostgreSQL is away shows no figure rather than a stale one.
      const waiting = await store.brokerUnconfirmed().catch(() => undefined);
      if (waiting) this.set(waiting.length);
      else this.reset();
    },
  });
}

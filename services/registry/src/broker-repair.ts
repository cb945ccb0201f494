import { type Clock, type Counter, Gauge, type Logger, type Registry } from '@telecare/platform';
import type { CredentialAuthority, DeviceCredential } from './credentials.ts';
import type { BrokerRepairOutcome, RegistryStore } from './store.ts';

/**
 * Gives the broker back the secret PostgreSQL holds for each device marked as awaiting it (a
 * re-issue neither confirmed nor put back: `RegistryStore.putBackBrokerLogin`, or one whose registry
 * died before its commit, its token left: `beginBrokerIssue`), at start-up and then every
 * `intervalMs`: the device logs in again with the secret it has, without anyone issuing it a new
 * one. A device an issue began on less than `graceMs` ago is left to that issue (on whichever
 * instance), which may still commit; one that only waited longer finds its token taken and tells
 * the broker nothing. A device whose secret cannot be recovered stays marked (re-issue needed); one
 * the broker refuses, or a broker that does not answer, is tried again at the next pass.
 *
 * A pass also removes the device clients and roles the registry made that no live device row holds
 * (a registration or import that did not commit, whose client could not be removed then, or one
 * that died between making the role and the client, or between deleting them; a decommissioned
 * device, or one never issued a secret, whose removal from the broker did not finish or was never
 * sent): nobody should log in with them. One is removed once it has been seen so for `graceMs` (a
 * registration in flight commits within it), counted on PostgreSQL's clock from when any registry
 * first saw it so, and never while an import runs; a device with a row is read again under its row
 * lock first, so an issue of a secret that has just made it live is never undone. That sweep lists every client and role of the broker, so it runs at start-up and
 * then at most every `sweepEveryMs` (an orphan is rare, and the list of a large fleet is work for
 * the broker's one thread, which devices' alarms share).
 */
export function startBrokerRepair(deps: {
  store: RegistryStore;
  authority: CredentialAuthority;
  clock: Clock;
  logger: Logger;
  repairs: Counter<'outcome'>;
  intervalMs: number;
  graceMs: number;
  sweepEveryMs: number;
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
  const orphans = orphanSweep(deps, log);
  let sweptAt = Number.NEGATIVE_INFINITY;
  const pass = async (): Promise<number> => {
    const waiting = await deps.store.brokerUnconfirmed(deps.graceMs);
    let repaired = 0;
    const left: string[] = [];
    for (const serial of waiting) {
      if (stopped) break;
      try {
        const done = await deps.store.repairBroker(serial, repair, new Date(deps.clock.now()), deps.graceMs);
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
    if (!stopped && deps.clock.now() >= sweptAt + deps.sweepEveryMs) {
      sweptAt = deps.clock.now();
      await orphans().catch((err: unknown) => log.warn({ err }, 'orphaned broker clients not swept'));
    }
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

/**
 * Removes the broker's device clients and roles that no live row holds, each once it has been seen
 * so for `graceMs` — by any registry, since when is kept in PostgreSQL and read on its clock, so a
 * registry that restarts more often than the grace still removes it, and one whose clock runs ahead
 * does not remove it early — counted and recorded as `orphan-removed` (no row) or `client-removed`
 * (a row the broker must not admit).
 */
function orphanSweep(
  deps: Pick<
    Parameters<typeof startBrokerRepair>[0],
    'store' | 'authority' | 'clock' | 'repairs' | 'graceMs'
  >,
  log: Logger,
): () => Promise<void> {
  return async () => {
    // An import holds its lock until its devices' rows commit, their clients installed before.
    await deps.store.unlessBusy('import', async () => {
      // The broker first, then the rows: a client whose row commits in between is not taken for one.
      const logins = await deps.authority.deviceLogins();
      const live = await deps.store.liveMqttSerials();
      const now = new Date(deps.clock.now());
      const orphaned = logins.filter((serial) => !live.has(serial));
      for (const { serial, since } of await deps.store.brokerOrphans(orphaned, now, deps.graceMs)) {
        const outcome = await deps.store.removeBrokerOrphan(serial, since, now, () =>
          deps.authority.revoke(serial),
        );
        if (!outcome) continue;
        deps.repairs.inc({ outcome });
        log.warn(
          { serial, outcome, seenSince: since.toISOString() },
          outcome === 'orphan-removed'
            ? 'broker client or role of a device with no row removed: nobody holds its secret'
            : 'broker client or role of a device it must not admit (decommissioned, or never issued a secret) removed',
        );
      }
    });
  };
}

/**
 * `registry_broker_unconfirmed_devices`: devices awaiting a broker repair, read from PostgreSQL at
 * each scrape; a device an issue is sending a secret to now (marked until it commits) counts only
 * once `graceMs` has passed since it began.
 */
export function unconfirmedGauge(store: RegistryStore, registry: Registry, graceMs: number): Gauge {
  return new Gauge({
    name: 'registry_broker_unconfirmed_devices',
    help: 'MQTT devices whose broker secret is unconfirmed (a re-issue neither confirmed nor put back), awaiting repair',
    registers: [registry],
    async collect() {
      // A scrape while PostgreSQL is away shows no figure rather than a stale one.
      const waiting = await store.brokerUnconfirmed(graceMs).catch(() => undefined);
      if (waiting) this.set(waiting.length);
      else this.reset();
    },
  });
}

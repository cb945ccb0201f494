import type { Alert } from '@telecare/contracts';

/**
 * An alarm this instance holds but cannot commit: what the alert itself says, ids only (no name, no
 * key-safe code, nothing medical), so an operator can call the resident from the phone system.
 */
export type HeldAlert = Pick<
  Alert,
  'priority' | 'type' | 'residentId' | 'deviceSerial' | 'deviceKind' | 'raisedAt' | 'testMode'
> & { readonly alertId: string };

/** The newest alarms shown at once; more than that are counted, not listed. */
export const HELD_SHOWN = 200;

/**
 * The alarms (P1, P2) this instance has in hand uncommitted because PostgreSQL is down or refuses
 * writes: no case holds them, so no console's queue can show them. An alarm is in hand from its
 * delivery (waiting for its lane too: the lanes' width bounds the commits tried at once, and an
 * alarm of the eleventh home waits for one) until it is committed or handed back. While any commit
 * failed so and has not been committed since, every alarm in hand is shown; none otherwise. Kept in
 * memory, per instance: each helpline instance tells its consoles of the alarms it holds itself.
 */
export class HeldAlerts {
  readonly #inHand = new Map<string, HeldAlert>();
  /** Alarms whose last commit failed for PostgreSQL (or NATS) not answering. */
  readonly #failing = new Set<string>();
  readonly #listeners = new Set<() => void>();

  /** Whether this alert is one the consoles should see while it waits: an alarm, not a record. */
  static shown(alert: Alert): boolean {
    return alert.priority <= 2 && !alert.closes;
  }

  /** An alarm delivered: in hand until `settled`. */
  taken(alert: Alert): void {
    if (!HeldAlerts.shown(alert) || this.#inHand.has(alert.id)) return;
    this.#inHand.set(alert.id, {
      alertId: alert.id,
      priority: alert.priority,
      type: alert.type,
      residentId: alert.residentId,
      ...(alert.deviceSerial ? { deviceSerial: alert.deviceSerial } : {}),
      ...(alert.deviceKind ? { deviceKind: alert.deviceKind } : {}),
      raisedAt: alert.raisedAt,
      testMode: alert.testMode,
    });
    if (this.#failing.size > 0) this.#changed();
  }

  /** A commit of it failed because a dependency does not answer: it is tried again in hand. */
  failed(alertId: string): void {
    if (!this.#inHand.has(alertId) || this.#failing.has(alertId)) return;
    this.#failing.add(alertId);
    this.#changed();
  }

  /** Committed, or handed back: no longer in hand here. */
  settled(alertId: string): void {
    const shown = this.#failing.size > 0;
    this.#failing.delete(alertId);
    if (this.#inHand.delete(alertId) && shown) this.#changed();
  }

  /** The newest `HELD_SHOWN` shown (by raise time) and how many are shown in all. */
  list(): { alerts: HeldAlert[]; total: number } {
    if (this.#failing.size === 0) return { alerts: [], total: 0 };
    const alerts = [...this.#inHand.values()].sort((a, b) => b.raisedAt.localeCompare(a.raisedAt));
    return { alerts: alerts.slice(0, HELD_SHOWN), total: alerts.length };
  }

  /** Called after every change that may change the list; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

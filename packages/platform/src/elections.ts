import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { sleep } from './work.ts';

/** A stream, or one of its consumers, whose leader JetStream elects (R3 in production). */
export interface Raft {
  readonly stream: string;
  readonly consumer?: string;
}

/** The subject of JetStream's advisory that `raft` has elected a leader. */
export const leaderElectedSubject = ({ stream, consumer }: Raft): string =>
  consumer === undefined
    ? `$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${stream}`
    : `$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.${stream}.${consumer}`;

/**
 * Follows JetStream's advisories that some streams (or consumers) elected a leader, so that what
 * waits for them to serve again (a store's backoff, a lookup unanswered) is tried again at once,
 * rather than when its own timer ends: while a leader is elected every try fails at once (503), so
 * a backoff has grown to its longest by the time the election ends (seconds, after a node is lost).
 * `onElected` runs on each advisory, after the waits it ended were woken.
 */
export class LeaderElections {
  readonly #subscriptions: Subscription[];
  readonly #waiters = new Set<() => void>();

  constructor(nc: NatsConnection, rafts: readonly Raft[], onElected?: (raft: Raft) => void) {
    this.#subscriptions = rafts.map((raft) =>
      nc.subscribe(leaderElectedSubject(raft), {
        callback: () => {
          this.#wakeAll();
          onElected?.(raft);
        },
      }),
    );
  }

  /** The next election of any of them (never rejects), and `cancel` to stop waiting for it. */
  next(): { readonly elected: Promise<void>; cancel(): void } {
    let wake: () => void = () => {};
    const elected = new Promise<void>((resolve) => {
      wake = resolve;
    });
    this.#waiters.add(wake);
    return { elected, cancel: () => this.#waiters.delete(wake) };
  }

  /**
   * Waits `ms`, or less: until one of them elects a leader or `signal` aborts. Resolves true when
   * an election ended it (a backoff may start again from its first step); never rejects.
   */
  async sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return false;
    const woken = new AbortController();
    let elected = false;
    const wake = () => woken.abort();
    const onElected = () => {
      elected = true;
      wake();
    };
    this.#waiters.add(onElected);
    signal?.addEventListener('abort', wake, { once: true });
    try {
      await sleep(ms, woken.signal);
      return elected;
    } finally {
      this.#waiters.delete(onElected);
      signal?.removeEventListener('abort', wake);
    }
  }

  /** Stops following the advisories; what waits goes on until its own time. */
  close(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
  }

  #wakeAll(): void {
    const waiting = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiting) wake();
  }
}

import type { CaseEvent, Names } from '@telecare/contracts';
import { type JetStreamClient, type Logger, warnFailure } from '@telecare/platform';
import type { HelplineMetrics } from './metrics.ts';
import type { CaseStore } from './store/index.ts';

const BATCH = 200;

/**
 * Moves committed case events from the outbox to CASES (msgID = case event id, so a repeat is
 * deduplicated). Flushes run one at a time, and within one each case's events go one after another,
 * so this instance publishes each case's events in order.
 */
export class CasePublisher {
  #chain: Promise<unknown> = Promise.resolve();
  /** A flush that is queued but has not read the outbox yet: later callers can share it. */
  #queued: Promise<number> | undefined;

  constructor(
    private readonly store: CaseStore,
    private readonly js: JetStreamClient,
    private readonly names: Names,
    private readonly metrics: HelplineMetrics,
    private readonly logger: Logger,
  ) {}

  /** Publishes everything pending; rejects if CASES did not confirm, leaving the rest in the outbox. */
  flush(): Promise<number> {
    // A flush that has not started yet will read everything committed before this call, so
    // concurrent callers (one per alert in hand) share it instead of queueing one each.
    if (this.#queued) return this.#queued;
    const run = this.#chain.then(() => {
      this.#queued = undefined;
      return this.#flushNow();
    });
    this.#queued = run;
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** A flush whose failure is only logged: the outbox keeps the events for the next one. */
  flushInBackground(): void {
    this.flush().catch((err: unknown) =>
      warnFailure(this.logger, err, {}, 'case events not yet published to CASES; they stay in the outbox'),
    );
  }

  async #flushNow(): Promise<number> {
    let total = 0;
    for (;;) {
      const pending = await this.store.unpublished(BATCH);
      if (pending.length === 0) return total;
      // Cases in parallel, each case's events one after another: CASES gets each case's events
      // in order, and a failure stops only its own case (its events stay in the outbox and go
      // again with the next flush; msgID lets CASES drop a repeat).
      const byCase = new Map<string, CaseEvent[]>();
      for (const event of pending) byCase.set(event.caseId, [...(byCase.get(event.caseId) ?? []), event]);
      const done: string[] = [];
      let failure: { err: unknown } | undefined;
      await Promise.all(
        [...byCase.values()].map(async (events) => {
          for (const event of events) {
            try {
              await this.js.publish(this.names.subjects.caseEvent(event.caseId), JSON.stringify(event), {
                msgID: event.id,
              });
            } catch (err) {
              failure ??= { err };
              return;
            }
            done.push(event.id);
          }
        }),
      );
      await this.store.markPublished(done);
      this.metrics.published.inc(done.length);
      if (failure) throw failure.err;
      total += done.length;
      if (pending.length < BATCH) return total;
    }
  }
}

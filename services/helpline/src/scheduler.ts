import type { CaseEvent } from '@telecare/contracts';
import type { Clock, Logger } from '@telecare/platform';
import { traceCaseStep } from './case-trace.ts';
import type { OperatorGoneBounds, Rung } from './core/model.ts';
import type { HelplineMetrics } from './metrics.ts';
import type { CasePublisher } from './publisher.ts';
import type { CaseStore } from './store/index.ts';

export type { Rung };

export interface SchedulerOptions {
  readonly store: CaseStore;
  readonly publisher: CasePublisher;
  readonly metrics: HelplineMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly tickMs: number;
  readonly offerSeconds: number;
  readonly ladder: readonly Rung[];
  readonly operatorGone: OperatorGoneBounds;
  readonly overflowUrl: string | undefined;
}

const WEBHOOK_TIMEOUT_MS = 3_000;
const POKE_DEBOUNCE_MS = 50;

/**
 * The helpline's timers. None is held in memory: each tick asks PostgreSQL what is due (offers
 * past their expiry, call-backs past their time, P1 cases past a rung of the ladder), so a
 * restart, or a second instance, resumes every timer from the stored state. Each change is a
 * conditional update, so two instances ticking together record it once.
 */
export class Scheduler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #pokeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    this.#timer = setInterval(() => this.#run(), this.o.tickMs);
    this.#timer.unref();
    this.#run();
  }

  /**
   * Run a tick soon (after an alert, a presence change or a released case). Pokes within
   * POKE_DEBOUNCE_MS share one tick, so a burst of alerts does not become a burst of timer scans.
   */
  poke(): void {
    if (this.#stopped || this.#pokeTimer) return;
    this.#pokeTimer = setTimeout(() => {
      this.#pokeTimer = undefined;
      this.#run();
    }, POKE_DEBOUNCE_MS);
    this.#pokeTimer.unref();
  }

  #run(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#tick()
      .catch((err: unknown) => this.o.logger.warn({ err }, 'timer tick failed; the next one retries'))
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.#run();
        }
      });
  }

  /** Runs one tick to completion (tests use it to step a manual clock). */
  async tickNow(): Promise<void> {
    // A pending poke is folded into this tick; a tick in flight finishes first. Registering this
    // one as the running tick keeps pokes from overlapping it (an overlapping dispatch would skip
    // on the advisory lock and return before the other tick's offers are committed).
    clearTimeout(this.#pokeTimer);
    this.#pokeTimer = undefined;
    while (this.#running) await this.#running;
    const tick = this.#tick();
    this.#running = tick.then(
      () => undefined,
      () => undefined,
    );
    try {
      await tick;
    } finally {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.#run();
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#pokeTimer);
    await this.#running;
  }

  async #tick(): Promise<void> {
    const now = new Date(this.o.clock.now());
    const { store } = this.o;
    const changed: CaseEvent[] = [];
    changed.push(...(await store.expireOffers(now)));
    changed.push(...(await store.returnHolds(now)));
    // Before the dispatch: a case its operator left goes back to the queue and out in one tick.
    const holders = await store.watchHolders(now, this.o.operatorGone);
    changed.push(...holders);
    const escalated = await store.escalate(now, this.o.ladder);
    changed.push(...escalated);
    const missed = await store.missTargets(now);
    changed.push(...missed);
    const dispatchStarted = Date.now();
    const offered = await store.dispatch(now, this.o.offerSeconds);
    changed.push(...offered);
    await this.#traceOffers(offered, dispatchStarted);
    for (const e of changed) this.o.metrics.timerEvents.inc({ kind: e.kind });
    if (changed.length > 0) this.o.publisher.flushInBackground();
    for (const e of escalated) {
      this.o.logger.warn(
        { caseId: e.caseId, step: e.data.step, to: e.data.to, requeuedAt: e.data.requeuedAt },
        'P1 not accepted: escalated',
      );
      if (e.data.to === 'overflow') await this.#overflow(e, now);
    }
    for (const e of holders)
      if (e.kind === 'operator-gone' || e.kind === 'requeued')
        this.o.logger.warn(
          { caseId: e.caseId, operatorId: e.data.operatorId, since: e.data.since, priority: e.data.priority },
          e.kind === 'operator-gone'
            ? 'operator holding the case has no console: nobody may be on it'
            : 'operator still gone: case back in the queue',
        );
      else this.o.logger.info({ caseId: e.caseId, operatorId: e.data.operatorId }, 'operator back');
    for (const e of missed)
      this.o.logger.warn(
        { caseId: e.caseId, targetSeconds: e.data.targetSeconds, priority: e.data.priority },
        'alarm call not answered within the target',
      );
  }

  async #traceOffers(offered: readonly CaseEvent[], started: number): Promise<void> {
    const ended = Date.now();
    for (const e of offered)
      if (e.kind === 'offered') await traceCaseStep(this.o.store, e.caseId, 'offer', started, ended);
  }

  /** POSTs the case to the configured overflow (a partner centre) and records whether it took it. */
  async #overflow(event: CaseEvent, now: Date): Promise<void> {
    const url = this.o.overflowUrl;
    let result: Record<string, unknown>;
    if (!url) result = { overflowDelivery: 'not configured' };
    else {
      try {
        const stored = await this.o.store.get(event.caseId);
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ case: stored?.case, escalation: event.data }),
          signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        });
        result = { overflowDelivery: response.ok ? 'delivered' : 'refused', status: response.status };
      } catch (err) {
        result = { overflowDelivery: 'failed', error: err instanceof Error ? err.message : String(err) };
      }
    }
    await this.o.store.record(
      event.caseId,
      'note',
      { text: `overflow: ${String(result.overflowDelivery)}`, ...result },
      { id: 'helpline', override: true },
      now,
    );
    this.o.publisher.flushInBackground();
  }
}

import type { CaseEvent } from '@telecare/contracts';
import { type Clock, type Logger, warnFailure } from '@telecare/platform';
import { traceCaseStep } from './case-trace.ts';
import type { OperatorGoneBounds, Rung } from './core/model.ts';
import type { HelplineMetrics } from './metrics.ts';
import type { PartnerHandovers } from './overflow.ts';
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
  /** Hands the ladder's overflow rungs to the partner centre, outside the tick. */
  readonly handovers: PartnerHandovers;
}

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
      .catch((err: unknown) => warnFailure(this.o.logger, err, {}, 'timer tick failed; the next one retries'))
      // Handovers to the partner run beside the ticks, never in them: a partner that does not
      // answer held every timer (offers included) for its timeout, one case after another.
      .then(() => void this.o.handovers.run())
      .finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.#run();
        }
      });
  }

  /** Runs one tick to completion, and the handovers it made due (tests use it to step a manual clock). */
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
      await this.o.handovers.run();
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
    await this.o.handovers.stop();
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
    }
    for (const e of holders)
      if (e.kind === 'operator-gone' || e.kind === 'requeued')
        this.o.logger.warn(
          {
            caseId: e.caseId,
            operatorId: e.data.operatorId,
            since: e.data.since,
            priority: e.data.priority,
            reason: e.data.reason,
          },
          e.kind === 'operator-gone'
            ? 'operator holding the case has no console: nobody may be on it'
            : e.data.reason === 'operator gone'
              ? 'operator still gone: case back in the queue'
              : 'case accepted by someone away or signed out: back in the queue',
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
}

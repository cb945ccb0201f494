import { type Clock, type createMetrics, Gauge, withTimeout } from '@telecare/platform';
import type { CaseStore, QueueOverview } from './store/index.ts';

/** One read of the queue serves every gauge of a scrape. */
const FRESH_MS = 1_000;
/**
 * A scrape never waits longer than this for the database (a table locked by a migration or a long
 * transaction): the gauges keep their last values, and /metrics still answers. A read that fails
 * (the database down) drops them instead: frozen at "nothing waits" they would be a stale
 * all-clear on a wallboard while alarms pile up in ALERTS, and an alert rule can see them absent.
 */
const READ_WITHIN_MS = 1_000;

/**
 * The live queue per priority, read from PostgreSQL at each scrape (so every instance reports the
 * same queue): cases waiting for an operator (queued or offered), and the longest unanswered wait,
 * which an alert rule compares with the 60 s answer target.
 */
export function watchQueue(
  registry: ReturnType<typeof createMetrics>,
  store: Pick<CaseStore, 'queueOverview'>,
  clock: Clock,
): void {
  let last: { at: number; overview: Promise<QueueOverview> } | undefined;
  const read = (): Promise<QueueOverview> => {
    const now = performance.now();
    if (!last || now - last.at > FRESH_MS)
      last = { at: now, overview: store.queueOverview(new Date(clock.now())) };
    return last.overview;
  };
  const gauge = (name: string, help: string, value: (f: QueueOverview['byPriority'][string]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['priority'] as const,
      registers: [registry],
      async collect() {
        const overview = await withTimeout(
          read().catch(() => 'failed' as const),
          READ_WITHIN_MS,
        );
        if (overview === 'failed') this.reset();
        if (!overview || overview === 'failed') return;
        for (const [priority, figures] of Object.entries(overview.byPriority))
          this.set({ priority }, value(figures));
      },
    });
  gauge(
    'helpline_queue_waiting_cases',
    'Cases waiting for an operator (queued or offered), by priority',
    (f) => f.waiting,
  );
  gauge(
    'helpline_queue_longest_wait_seconds',
    'The longest wait of a case not yet answered, by priority (0 when none waits)',
    (f) => f.longestWaitSeconds ?? 0,
  );
  gauge(
    'helpline_cases_operator_gone',
    'Cases accepted or on hold whose operator has had no console there past HELPLINE_OPERATOR_GONE_S, by priority',
    (f) => f.operatorGone,
  );
}

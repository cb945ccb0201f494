import { createHmac } from 'node:crypto';
import { type Clock, type Logger, warnFailure } from '@telecare/platform';
import type { HelplineMetrics } from './metrics.ts';
import type { CasePublisher } from './publisher.ts';
import type { CaseStore, Handover, HandoverOutcome } from './store/index.ts';

export interface PartnerHandoverOptions {
  readonly store: CaseStore;
  readonly publisher: CasePublisher;
  readonly metrics: HelplineMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** OVERFLOW_WEBHOOK_URL; unset, each handover is recorded as not configured. */
  readonly url: string | undefined;
  /** HELPLINE_PARTNER_SECRET: each attempt is signed with it (required with the URL by the config). */
  readonly secret: string | undefined;
}

/** The header a partner checks each handover with. */
export const SIGNATURE_HEADER = 'x-telecare-signature';

/**
 * `t=<unix seconds>,v1=<hex>`: v1 is the HMAC-SHA256, keyed with the shared secret, of
 * `<t>.<Idempotency-Key>.<body>` (the raw body bytes as sent, UTF-8). Signed at each attempt, so a
 * retry carries its own time; a partner refuses a `t` more than 300 s from its clock and a
 * signature that does not match (compared in constant time), and takes one handover per key.
 */
export function signHandover(secret: string, unixSeconds: number, key: string, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${key}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

/** How long the partner has to answer one attempt. */
const TIMEOUT_MS = 3_000;
/** An attempt's claim: past it, one that never ended (a crash mid-call) is due again. */
const LEASE_S = 10;
/** Handovers taken per round (their calls run side by side). */
const BATCH = 20;
const FIRST_RETRY_S = 1;
const LAST_RETRY_S = 30;

/** A status worth trying again: the partner or something in between was not ready. */
const transient = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * Hands unanswered P1s to the partner centre (the ladder's overflow rung). The rung's handover is
 * written with the rung (`overflow_handovers`), and delivered here, outside the timer tick: a
 * partner that is slow or does not answer holds up no offer, requeue or rung. An attempt that fails
 * (no answer in 3 s, a 5xx, 408 or 429, the network) is tried again after 1 s, doubling to 30 s,
 * after a restart too, until the partner takes it (2xx) or refuses it (another 4xx), or the case no
 * longer waits (answered, resolved, or back in the queue and climbing again): then it is withdrawn.
 * Every attempt carries the rung's event id as Idempotency-Key, so the partner can tell a retry from
 * a second case, and is signed (`signHandover`) so the partner can check it came from here. Each
 * outcome, and the first failure, is a note on the case.
 */
export class PartnerHandovers {
  #running: Promise<void> | undefined;
  /** The round that runs after the one running: every caller while one runs shares it. */
  #next: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly o: PartnerHandoverOptions) {}

  /**
   * Delivers what is due. A call while a round runs is answered by the round after it, which sees
   * whatever was written before the call (a rung the tick just recorded). Never rejects.
   */
  run(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#next) return this.#next;
    if (this.#running) {
      const next = this.#running.then(() => {
        this.#next = undefined;
        return this.run();
      });
      this.#next = next;
      return next;
    }
    const round = this.#round()
      .catch((err: unknown) =>
        warnFailure(this.o.logger, err, {}, 'partner handovers failed; the next round retries'),
      )
      .finally(() => {
        this.#running = undefined;
      });
    this.#running = round;
    return round;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
    await this.#next;
  }

  async #round(): Promise<void> {
    for (;;) {
      const now = new Date(this.o.clock.now());
      const due = await this.o.store.claimHandovers(now, LEASE_S, BATCH);
      if (due.length === 0) return;
      await Promise.all(due.map((h) => this.#deliver(h, now)));
      this.o.publisher.flushInBackground();
      if (due.length < BATCH || this.#stopped) return;
    }
  }

  async #deliver(h: Handover, now: Date): Promise<void> {
    const stored = await this.o.store.get(h.caseId);
    const c = stored?.case;
    const climbedAgain = c?.requeuedAt && Date.parse(c.requeuedAt) > h.escalatedAt.getTime();
    if (!c || !(c.state === 'queued' || c.state === 'offered') || climbedAgain) {
      await this.#settle(h, 'withdrawn', now, {
        why: !c ? 'no such case' : climbedAgain ? 'the case was answered since' : `the case is ${c.state}`,
      });
      return;
    }
    const url = this.o.url;
    if (!url) {
      await this.#settle(h, 'not-configured', now, {}, 'not configured');
      return;
    }
    let status: number | undefined;
    let error: string | undefined;
    try {
      const body = JSON.stringify({ case: c, escalation: h.escalation });
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'idempotency-key': h.eventId,
      };
      if (this.o.secret)
        headers[SIGNATURE_HEADER] = signHandover(
          this.o.secret,
          Math.floor(this.o.clock.now() / 1000),
          h.eventId,
          body,
        );
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      status = response.status;
      await response.body?.cancel().catch(() => undefined);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (status !== undefined && status >= 200 && status < 300) {
      await this.#settle(h, 'delivered', now, { status });
      return;
    }
    if (status !== undefined && !transient(status)) {
      await this.#settle(h, 'refused', now, { status });
      return;
    }
    const waitS = Math.min(FIRST_RETRY_S * 2 ** (h.attempt - 1), LAST_RETRY_S);
    await this.o.store.retryHandover(h.eventId, new Date(now.getTime() + waitS * 1000));
    this.o.metrics.handovers.inc({ outcome: 'failed' });
    this.o.logger.warn(
      { caseId: h.caseId, attempt: h.attempt, status, error, retryInSeconds: waitS },
      'partner centre did not take the case; trying again',
    );
    // The first failure is on the case (the supervisor sees the partner has not got it); the rest
    // are in the log and the metric, not a note every few seconds.
    if (h.attempt === 1)
      await this.#note(h, now, {
        overflowDelivery: 'failed',
        ...(status !== undefined ? { status } : { error }),
        attempt: h.attempt,
        retrying: true,
      });
  }

  async #settle(
    h: Handover,
    outcome: HandoverOutcome,
    now: Date,
    data: Record<string, unknown>,
    said: string = outcome,
  ): Promise<void> {
    await this.o.store.settleHandover(h.eventId, outcome, now);
    this.o.metrics.handovers.inc({ outcome });
    await this.#note(h, now, { overflowDelivery: said, ...data, attempt: h.attempt });
  }

  async #note(h: Handover, now: Date, data: Record<string, unknown>): Promise<void> {
    try {
      await this.o.store.record(
        h.caseId,
        'note',
        { text: `overflow: ${String(data.overflowDelivery)}`, ...data, handover: h.eventId },
        { id: 'helpline', override: true },
        now,
      );
    } catch (err) {
      // The handover's own row says what happened; a case that takes no note (closed) is no reason to call again.
      this.o.logger.warn(
        { err, caseId: h.caseId, ...data },
        'could not note the partner handover on the case',
      );
    }
  }
}

import { type Pool, withTransaction } from '@telecare/platform';
import type { ConsoleStore } from '../presence.ts';
import * as calls from './calls.ts';
import * as cases from './cases.ts';
import { freeWhenNothingInHand, type StoreContext, tablesOf } from './context.ts';
import * as figures from './figures.ts';
import * as handovers from './handovers.ts';
import * as outbox from './outbox.ts';
import * as queue from './queue.ts';

export { type Actor, SYSTEM_ACTOR } from '../core/model.ts';
export type { CallOutcome, CallRecord, NewCall, PlacedCall } from './calls.ts';
export type { CaseDevice, IngestResult, ListQuery, TransitionInput } from './cases.ts';
export {
  ALARM_PRIORITIES,
  ANSWER_TARGETS,
  type AnswerFigures,
  type AnswerStats,
  type Breach,
  type GoneCase,
  type QueueFigures,
  type QueueOverview,
  type TargetFigure,
} from './figures.ts';
export type { Handover, HandoverOutcome } from './handovers.ts';
export type { StoredCase } from './rows.ts';

/** A store function's arguments after the context it shares. */
type Rest<F> = F extends (ctx: StoreContext, ...rest: infer R) => unknown ? R : never;

/**
 * The helpline's PostgreSQL schema, one module per aggregate: cases (the shell around the case
 * core), the queue's timers, calls, figures and the outbox. One object for the rest of the service.
 */
export class CaseStore {
  readonly #ctx: StoreContext;

  constructor(pool: Pool, schema: string, joinWindowSeconds: number, consoles: ConsoleStore) {
    this.#ctx = { pool, schema, t: tablesOf(schema), consoles, joinWindowSeconds };
  }

  async ping(): Promise<boolean> {
    await this.#ctx.pool.query('select 1');
    return true;
  }

  /**
   * Someone who let a case go: `available` again when `busy` with no accepted case left in hand,
   * still `busy` while they have one (an operator may work two: one offered, one from the list).
   */
  freeWhenNothingInHand(userId: string, now: Date): Promise<void> {
    return withTransaction(this.#ctx.pool, (db) => freeWhenNothingInHand(this.#ctx, db, userId, now));
  }

  // cases
  ingest = (...a: Rest<typeof cases.ingest>) => cases.ingest(this.#ctx, ...a);
  list = (...a: Rest<typeof cases.list>) => cases.list(this.#ctx, ...a);
  listPage = (...a: Rest<typeof cases.listPage>) => cases.listPage(this.#ctx, ...a);
  get = (...a: Rest<typeof cases.get>) => cases.get(this.#ctx, ...a);
  events = (...a: Rest<typeof cases.events>) => cases.events(this.#ctx, ...a);
  alertPage = (...a: Rest<typeof cases.alertPage>) => cases.alertPage(this.#ctx, ...a);
  devicesOf = (caseId: string) => cases.devicesOf(this.#ctx, caseId);
  joinPage = (...a: Rest<typeof cases.joinPage>) => cases.joinPage(this.#ctx, ...a);
  notePage = (...a: Rest<typeof cases.notePage>) => cases.notePage(this.#ctx, ...a);
  transition = (...a: Rest<typeof cases.transition>) => cases.transition(this.#ctx, ...a);
  reassign = (...a: Rest<typeof cases.reassign>) => cases.reassign(this.#ctx, ...a);
  record = (...a: Rest<typeof cases.record>) => cases.record(this.#ctx, ...a);
  recordFacts = (...a: Rest<typeof cases.recordFacts>) => cases.recordFacts(this.#ctx, ...a);

  // calls
  placeCall = (...a: Rest<typeof calls.placeCall>) => calls.placeCall(this.#ctx, ...a);
  endCall = (...a: Rest<typeof calls.endCall>) => calls.endCall(this.#ctx, ...a);
  calls = (...a: Rest<typeof calls.calls>) => calls.calls(this.#ctx, ...a);

  // the queue's timers
  dispatch = (...a: Rest<typeof queue.dispatch>) => queue.dispatch(this.#ctx, ...a);
  expireOffers = (...a: Rest<typeof queue.expireOffers>) => queue.expireOffers(this.#ctx, ...a);
  returnHolds = (...a: Rest<typeof queue.returnHolds>) => queue.returnHolds(this.#ctx, ...a);
  escalate = (...a: Rest<typeof queue.escalate>) => queue.escalate(this.#ctx, ...a);
  missTargets = (...a: Rest<typeof queue.missTargets>) => queue.missTargets(this.#ctx, ...a);
  watchHolders = (...a: Rest<typeof queue.watchHolders>) => queue.watchHolders(this.#ctx, ...a);
  holderSignedOut = (...a: Rest<typeof queue.holderSignedOut>) => queue.holderSignedOut(this.#ctx, ...a);
  goAway = (...a: Rest<typeof queue.goAway>) => queue.goAway(this.#ctx, ...a);

  // handovers to the partner centre
  claimHandovers = (...a: Rest<typeof handovers.claimHandovers>) => handovers.claimHandovers(this.#ctx, ...a);
  settleHandover = (...a: Rest<typeof handovers.settleHandover>) => handovers.settleHandover(this.#ctx, ...a);
  retryHandover = (...a: Rest<typeof handovers.retryHandover>) => handovers.retryHandover(this.#ctx, ...a);

  // figures
  answerStats = (...a: Rest<typeof figures.answerStats>) => figures.answerStats(this.#ctx, ...a);
  queueOverview = (...a: Rest<typeof figures.queueOverview>) => figures.queueOverview(this.#ctx, ...a);
  breaches = (...a: Rest<typeof figures.breaches>) => figures.breaches(this.#ctx, ...a);
  holders = () => figures.holders(this.#ctx);
  operatorGone = () => figures.operatorGone(this.#ctx);
  openCount = () => figures.openCount(this.#ctx);

  // the outbox
  unpublished = (...a: Rest<typeof outbox.unpublished>) => outbox.unpublished(this.#ctx, ...a);
  markPublished = (...a: Rest<typeof outbox.markPublished>) => outbox.markPublished(this.#ctx, ...a);
}

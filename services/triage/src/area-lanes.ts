import type { Names } from '@telecare/contracts';
import { type JetStreamManager, type Logger, Pause } from '@telecare/platform';
import { areaRules, type RuleSet } from '@telecare/rules';
import type { LaneWork } from './leases.ts';
import { areaLanes, ensureLaneConsumers, type Lane, removeAreaConsumers } from './partitions.ts';

/** The event types the area rules of a rule set read: one area lane each. */
export const areaTypesOf = (ruleSet: RuleSet): string[] => [
  ...new Set(areaRules(ruleSet).flatMap((rule) => rule.on)),
];

/**
 * Keeps the area lanes on the rule set in force, and puts each set in force in the processor
 * only once the lanes it needs exist. The order matters:
 *
 * - a new type's consumer is created (delivering from now) before the rules that hold its
 *   per-home alerts are in force, so every report held under them is one the area lane reads;
 * - a gone type's lane drains after the rules without it are in force (nothing is held for it
 *   any more), and then its consumer is deleted.
 *
 * Changes apply one at a time, in the order they came in force, so two quick changes cannot
 * interleave their consumer creations and deletions.
 */
export class AreaLanes {
  readonly #jsm: JetStreamManager;
  readonly #names: Names;
  readonly #ackWaitS: number;
  readonly #retryDelayMs: number;
  readonly #work: LaneWork;
  readonly #inForce: (ruleSet: RuleSet) => void;
  readonly #log: Logger;
  #lanes: readonly Lane[];
  #applied: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #pause = new Pause();

  constructor(deps: {
    jsm: JetStreamManager;
    names: Names;
    ackWaitS: number;
    retryDelayMs: number;
    work: LaneWork;
    /** The area lanes created at start-up. */
    lanes: readonly Lane[];
    /** Puts a rule set in force for the next event or tick. */
    inForce: (ruleSet: RuleSet) => void;
    logger: Logger;
  }) {
    this.#jsm = deps.jsm;
    this.#names = deps.names;
    this.#ackWaitS = deps.ackWaitS;
    this.#retryDelayMs = deps.retryDelayMs;
    this.#work = deps.work;
    this.#lanes = deps.lanes;
    this.#inForce = deps.inForce;
    this.#log = deps.logger.child({ component: 'area-lanes' });
  }

  /** Applies a rule set put in force; resolves once it is in force here with its lanes. */
  follow(ruleSet: RuleSet): Promise<void> {
    this.#applied = this.#applied
      .then(() => this.#apply(ruleSet))
      .catch((err: unknown) => this.#log.error({ err }, 'could not apply the area lanes of a rule set'));
    return this.#applied;
  }

  /** Stops applying changes (a consumer creation that keeps failing gives up). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pause.wake();
    await this.#applied;
  }

  async #apply(ruleSet: RuleSet): Promise<void> {
    if (this.#closed) return;
    const lanes = areaLanes(this.#names, areaTypesOf(ruleSet));
    const known = new Set(this.#lanes.map((lane) => lane.name));
    const added = lanes.filter((lane) => !known.has(lane.name));
    if (!(await this.#ensure(added))) return;
    this.#inForce(ruleSet);
    this.#lanes = lanes;
    const gone = await this.#work.setAreaLanes(lanes);
    if (added.length === 0 && gone.length === 0) return;
    this.#log.info(
      {
        ruleSetVersion: ruleSet.version,
        added: added.map((lane) => lane.type),
        removed: gone.map((lane) => lane.type),
      },
      'area lanes follow the rules in force',
    );
    if (gone.length === 0) return;
    try {
      await removeAreaConsumers(this.#jsm, this.#names, lanes);
    } catch (err) {
      // Harmless meanwhile: nothing reads it; the next start deletes it.
      this.#log.warn({ err }, 'could not delete the consumer of a removed area lane');
    }
  }

  /** Creates the consumers, trying again until they exist; false when closed first. */
  async #ensure(lanes: readonly Lane[]): Promise<boolean> {
    while (!this.#closed) {
      try {
        await ensureLaneConsumers(this.#jsm, this.#names, lanes, this.#ackWaitS);
        return true;
      } catch (err) {
        this.#log.warn({ err }, 'could not create the consumer of a new area lane; trying again');
        await this.#pause.wait(this.#retryDelayMs);
      }
    }
    return false;
  }
}

import type { HelplineCase } from '@telecare/contracts';
import { CaseEvent, type Names } from '@telecare/contracts';
import { decodeJson, type JetStreamClient, type JetStreamManager, type Logger } from '@telecare/platform';
import type { CaseStore } from './store/index.ts';

export interface FeedEntry {
  /** The CASES stream sequence of the change: the SSE event id. */
  readonly seq: number;
  readonly case: HelplineCase;
  /** The case event that made this change (absent in a snapshot). */
  readonly lastEvent?: Pick<CaseEvent, 'id' | 'kind' | 'actor' | 'at' | 'data'>;
}

type Listener = (entry: FeedEntry) => void;

/**
 * The live view of case changes for the console. It follows CASES (so it sees changes made by
 * any helpline instance), loads each changed case, and keeps the recent ones so a client that
 * reconnects with Last-Event-ID gets what it missed. Ids are CASES sequences, which every
 * instance shares.
 */
export class CaseFeed {
  readonly #entries: FeedEntry[] = [];
  readonly #listeners = new Set<Listener>();
  /** Every change after this sequence is in #entries (or was skipped as a test case). */
  #floor: number;
  #high: number;
  #stop: (() => Promise<void>) | undefined;
  #closed = false;

  private constructor(
    private readonly store: CaseStore,
    private readonly logger: Logger,
    private readonly capacity: number,
    start: number,
  ) {
    this.#floor = start;
    this.#high = start;
  }

  static async start(options: {
    js: JetStreamClient;
    jsm: JetStreamManager;
    names: Names;
    store: CaseStore;
    logger: Logger;
    capacity?: number;
  }): Promise<CaseFeed> {
    const info = await options.jsm.streams.info(options.names.streams.cases);
    const last = info.state.last_seq;
    const feed = new CaseFeed(options.store, options.logger, options.capacity ?? 2000, last);
    const consumer = await options.js.consumers.get(options.names.streams.cases, {
      deliver_policy: 'by_start_sequence',
      opt_start_seq: last + 1,
    });
    const messages = await consumer.consume();
    const loop = (async () => {
      for await (const msg of messages) await feed.#onChange(msg.seq, msg.data);
    })().catch((err: unknown) => options.logger.error({ err }, 'case feed stopped unexpectedly'));
    feed.#stop = async () => {
      await messages.close();
      await loop;
    };
    return feed;
  }

  /** The id of the newest change this feed has passed on. */
  get position(): number {
    return this.#high;
  }

  /** Changes after `lastId`, or undefined if the feed no longer (or never) held them all. */
  replayAfter(lastId: number): FeedEntry[] | undefined {
    if (!Number.isSafeInteger(lastId) || lastId < this.#floor || lastId > this.#high) return undefined;
    return this.#entries.filter((e) => e.seq > lastId);
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop?.();
    this.#listeners.clear();
  }

  async #onChange(seq: number, data: Uint8Array): Promise<void> {
    const parsed = decodeJson(CaseEvent, data);
    let stored: Awaited<ReturnType<CaseStore['get']>>;
    if (parsed.ok) {
      // Until the case is read: given up on, the change never reached the consoles, whose queue
      // then showed the case as it was before (a PostgreSQL restart as it was published). The
      // changes behind it wait; while the database is down there is nothing newer to read anyway.
      for (let attempt = 1; !this.#closed; attempt++) {
        try {
          stored = await this.store.get(parsed.value.caseId);
          break;
        } catch (err) {
          if (attempt === 3)
            this.logger.error({ err, seq }, 'cannot load a changed case for the live feed; trying again');
          await new Promise((resolve) => setTimeout(resolve, Math.min(200 * attempt, 2_000)));
        }
      }
    } else {
      this.logger.warn({ seq }, 'CASES message is not a CaseEvent; skipped by the live feed');
    }
    this.#high = seq;
    // Test-mode and record-only cases (state `closed` from the start) never reach the operators' queue.
    if (!stored || stored.testMode || stored.case.state === 'closed') return;
    const event = parsed.ok ? parsed.value : undefined;
    const entry: FeedEntry = {
      seq,
      // Every console gets this, and the replay buffer keeps it: the alerts as a window.
      case: stored.case,
      ...(event
        ? {
            lastEvent: { id: event.id, kind: event.kind, actor: event.actor, at: event.at, data: event.data },
          }
        : {}),
    };
    this.#entries.push(entry);
    if (this.#entries.length > this.capacity) {
      const dropped = this.#entries.shift();
      if (dropped) this.#floor = dropped.seq;
    }
    for (const listener of this.#listeners) listener(entry);
  }
}

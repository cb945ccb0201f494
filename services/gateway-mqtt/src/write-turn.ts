/** What `WriteTurn` corks: a socket or any stream with `cork` and `uncork`. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Holds the gateway's MQTT writes of one turn of the event loop (the broker's PUBACKs, the devices'
 * acks) until its check phase, then lets them go in one socket write. mqtt.js hands over the
 * messages of one read a tick apart and writes each PUBACK at the next tick, so without this every
 * message cost a write of its own to the broker.
 */
export class WriteTurn {
  #corked: Corkable | undefined;

  /** Corks `stream` (the client's socket of the moment) until this turn's check phase. */
  hold(stream: Corkable | undefined): void {
    if (this.#corked !== undefined || stream === undefined) return;
    stream.cork();
    this.#corked = stream;
    setImmediate(() => this.#release());
  }

  #release(): void {
    const stream = this.#corked;
    this.#corked = undefined;
    stream?.uncork();
  }
}

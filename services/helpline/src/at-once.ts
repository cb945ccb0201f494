/**
 * Requests of one kind each person has running on this instance, at most `max` at once: for work
 * that holds something shared while it runs (a scan of the EVENTS stream, a PostgreSQL connection
 * while the phone system answers), so a session asking all at once cannot take it all.
 */
export class AtOnce {
  readonly #running = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Runs `work` for `person`; `refuse` gives the error thrown instead when `max` of theirs are running. */
  async run<T>(person: string, refuse: (running: number) => Error, work: () => Promise<T>): Promise<T> {
    const running = this.#running.get(person) ?? 0;
    if (running >= this.max) throw refuse(running);
    this.#running.set(person, running + 1);
    try {
      return await work();
    } finally {
      const left = (this.#running.get(person) ?? 1) - 1;
      if (left > 0) this.#running.set(person, left);
      else this.#running.delete(person);
    }
  }
}

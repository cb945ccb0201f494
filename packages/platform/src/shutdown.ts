import type { Logger } from './logger.ts';

export type Closer = () => Promise<void> | void;

/**
 * A stack of things to close, run in reverse order of registration: consumers stop taking work
 * first, then in-flight work finishes and acks, then connections close.
 */
export class Lifecycle {
  readonly #closers: Array<{ name: string; close: Closer }> = [];
  #closing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Registers a closer; returns the value passed for chaining at wiring time. */
  add(name: string, close: Closer): void {
    this.#closers.push({ name, close });
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const { name, close } of [...this.#closers].reverse()) {
        try {
          await close();
          this.logger.debug({ closer: name }, 'closed');
        } catch (err) {
          this.logger.warn({ err, closer: name }, 'close failed');
        }
      }
    })();
    return this.#closing;
  }
}

/**
 * SIGTERM and SIGINT drain the lifecycle, then exit. A second signal, or a drain slower than
 * `timeoutMs`, exits at once.
 */
export function exitOnSignals(lifecycle: Lifecycle, logger: Logger, timeoutMs = 15_000): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (lifecycle.closing) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'draining');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'drain timed out: exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    lifecycle.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

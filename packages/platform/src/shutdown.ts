import { ConfigError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';
import { startTracing, type Tracing } from './tracing.ts';
import { within } from './work.ts';

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

/** What a service's `start` returns: a handle whose `close` drains it. */
export interface RunningService {
  close(): Promise<void>;
}

/**
 * A start still waiting after this long waits on something that will not answer (a request lost
 * with a dropped connection): the process exits 1 so that its supervisor starts it again, instead
 * of staying up, never ready, with nothing to restart it.
 */
export const START_TIMEOUT_MS = 60_000;

/**
 * A service process from its `main.ts`: reads the configuration (a `ConfigError`, at load or at
 * start, prints its list of problems and exits 1), makes the process's one logger, starts the
 * service (any other failure to start is logged as fatal and exits 1), and drains it on SIGTERM
 * or SIGINT. The exit code tells a supervisor to restart it.
 */
export async function runService<C extends { readonly LOG_LEVEL: string }>(
  name: string,
  boot: {
    load: () => C;
    start: (config: C, options: { logger: Logger }) => Promise<RunningService>;
    /** How long `start` may take (default `START_TIMEOUT_MS`). */
    startTimeoutMs?: number;
  },
): Promise<void> {
  const refuse = (err: unknown): never => {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  };
  let config: C;
  try {
    config = boot.load();
  } catch (err) {
    return refuse(err);
  }
  const logger = createLogger(name, config.LOG_LEVEL);
  let handle: RunningService;
  let tracing: Tracing;
  try {
    tracing = await startTracing({ serviceName: name });
    handle = await within(boot.start(config, { logger }), boot.startTimeoutMs ?? START_TIMEOUT_MS);
  } catch (err) {
    if (err instanceof ConfigError) return refuse(err);
    logger.fatal({ err }, `${name} could not start`);
    process.exit(1);
  }
  const lifecycle = new Lifecycle(logger);
  // Closed last: the spans of the work drained are exported too.
  lifecycle.add('tracing', () => tracing.shutdown());
  lifecycle.add(name, () => handle.close());
  exitOnSignals(lifecycle, logger);
}

import {
  ApiCallError,
  type Client,
  createClient,
  REGISTRY_ROUTES,
  type RegistryRoutes,
  type RouteTable,
} from '@telecare/contracts';

/**
 * Exit codes, so scripts can tell what happened without reading the output:
 * 0 done; 1 the check failed (a test call did not pass); 2 the request was refused as invalid,
 * a conflict or not found; 3 not allowed (token missing, wrong or without the role);
 * 4 the registry (or triage) could not be reached or failed.
 */
export const EXIT = { ok: 0, failed: 1, refused: 2, unauthorised: 3, unavailable: 4 } as const;

export class CliError extends Error {
  readonly exitCode: number;
  readonly body: unknown;
  /** No answer in time: what was asked may still have been done. */
  readonly timedOut: boolean;
  constructor(message: string, exitCode: number, body?: unknown, timedOut = false) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.body = body;
    this.timedOut = timedOut;
  }
}

/** A refusal's exit code: 3 not allowed, 4 unavailable or failed, 2 any other refusal. */
const exitCodeOf = (status: number): number =>
  status === 401 || status === 403 ? EXIT.unauthorised : status >= 500 ? EXIT.unavailable : EXIT.refused;

/** A failed call as the CLI reports it: the service's message and every field at fault. */
export function cliErrorOf(err: unknown): unknown {
  if (!(err instanceof ApiCallError)) return err;
  if (typeof err.status !== 'number')
    return new CliError(err.message, EXIT.unavailable, undefined, err.status === 'timeout');
  const issues = err.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  return new CliError([err.message, issues].filter(Boolean).join('\n'), exitCodeOf(err.status), err.body);
}

/** How long a call is waited for (an import waits as long as its rows need: `importWaitMs`). */
const CALL_TIMEOUT_MS = 120_000;

/** The typed client of a service's route contracts, its failures turned into CliErrors. */
export function cliClient<T extends RouteTable>(
  routes: T,
  url: string,
  token: string | undefined,
  service: string,
  timeoutMs = CALL_TIMEOUT_MS,
): Client<T> {
  const api = createClient(routes, { baseUrl: url, token, timeoutMs, service });
  type Call = ((input?: unknown) => Promise<unknown>) & {
    pages?: (input?: unknown) => AsyncGenerator<unknown, void, undefined>;
  };
  const wrapped: Record<string, Call> = {};
  for (const [name, call] of Object.entries(api) as [string, Call][]) {
    const method: Call = async (input) => {
      try {
        return await call(input);
      } catch (err) {
        throw cliErrorOf(err);
      }
    };
    const { pages } = call;
    if (pages)
      method.pages = async function* (input) {
        try {
          yield* pages(input);
        } catch (err) {
          throw cliErrorOf(err);
        }
      };
    wrapped[name] = method;
  }
  return wrapped as Client<T>;
}

/** The registry's typed client. */
export const registryApi = (
  url: string,
  token: string | undefined,
  timeoutMs?: number,
): Client<RegistryRoutes> => cliClient(REGISTRY_ROUTES, url, token, 'the registry', timeoutMs);

import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { OUTCOMES } from '@telecare/contracts';
import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('../console/src/main.ts', import.meta.url));

export interface ConsoleBundle {
  readonly js: string;
  /** A strong ETag of the script, so a browser revalidates instead of downloading it again. */
  readonly etag: string;
}

export class ConsoleBundleError extends Error {
  override readonly name = 'ConsoleBundleError';
  constructor(
    readonly errors: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`the console could not be bundled: ${errors.join('; ')}`, options);
  }
}

/**
 * The operator console's script, bundled from its TypeScript sources in memory (no build step and
 * nothing written to disk: a fresh checkout serves the console it holds). The helpline's outcome
 * list goes in at bundle time, so the console offers exactly what the API accepts.
 */
export async function bundleConsole(): Promise<ConsoleBundle> {
  try {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: 'esm',
      target: ['chrome120', 'firefox121', 'safari17'],
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'silent',
      define: { OUTCOMES: JSON.stringify(OUTCOMES) },
    });
    const js = result.outputFiles[0]?.text ?? '';
    return { js, etag: `"${createHash('sha256').update(js).digest('base64url').slice(0, 32)}"` };
  } catch (err) {
    const errors =
      err && typeof err === 'object' && 'errors' in err && Array.isArray(err.errors)
        ? err.errors.map((e: { text?: unknown }) => String(e.text))
        : [String(err)];
    throw new ConsoleBundleError(errors, { cause: err });
  }
}

/**
 * The console's ticker (`console/src/ticker.ts`), served as `/console-ticker.js`: a dedicated
 * worker that posts a tick every second. A worker's timers are not slowed as a background tab's
 * are (to once a minute after five minutes hidden), so the console's once-a-second work goes on
 * there. A script of the helpline's own origin, so the page's policy (`script-src 'self'`) needs
 * nothing more for it.
 */
const tickerJs = 'setInterval(() => postMessage("tick"), 1000);\n';
export const CONSOLE_TICKER: ConsoleBundle = {
  js: tickerJs,
  etag: `"${createHash('sha256').update(tickerJs).digest('base64url').slice(0, 32)}"`,
};

let cached: Promise<ConsoleBundle> | undefined;
/** The bundle, made once per process (a failed attempt is tried again on the next request). */
export function consoleBundle(): Promise<ConsoleBundle> {
  cached ??= bundleConsole().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

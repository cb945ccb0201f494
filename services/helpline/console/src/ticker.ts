/**
 * The console's one-second tick, for the work that must not wait: the answer clocks and the banner,
 * the reminder tone of a P1 waiting unanswered (`queue.ts`, `sound.ts`), the live stream's silence
 * watch and its reopening after the browser gave it up (`stream.ts`), a first load's retries
 * (`main.ts`), a supervisor's lists read again every few seconds (`every`, `main.ts`) and the
 * sign-in's countdown (`session.ts`).
 *
 * A page's own timers are slowed in a background tab, and after five minutes hidden and 30 s silent
 * Chromium runs them once a minute at most: an operator who kept the console behind the phone
 * system's window heard a waiting P1's reminder once a minute instead of every 10 s, and a dead
 * stream was noticed up to a minute late. A dedicated worker's timers are not throttled so: the
 * tick comes from a worker (`/console-ticker.js`, a script of the helpline's own origin, which the
 * page's policy already allows), posting every second. The page's own timer ticks too whenever the
 * worker has not for a tick and a half: where no worker starts (or one stops), the console ticks
 * as it did before.
 */
export const TICK_MS = 1_000;
const WORKER_URL = '/console-ticker.js';

const subscribers: (() => void)[] = [];
/** One-shot runs (`after`), each with when it is due (the page's monotonic clock). */
let pending: { due: number; run: () => void }[] = [];
/** When the last tick ran (the page's monotonic clock). */
let lastTickAt = Number.NEGATIVE_INFINITY;
let started = false;

function tick(): void {
  lastTickAt = performance.now();
  const due = pending.filter((p) => p.due <= lastTickAt);
  if (due.length > 0) pending = pending.filter((p) => p.due > lastTickAt);
  for (const run of [...subscribers, ...due.map((p) => p.run)]) {
    // One failing never stops the others' ticks.
    try {
      run();
    } catch (err) {
      reportError(err);
    }
  }
}

function start(): void {
  if (started) return;
  started = true;
  try {
    const worker = new Worker(WORKER_URL);
    worker.addEventListener('message', tick);
    // Not loaded, or refused: the page's timer below ticks alone.
    worker.addEventListener('error', () => worker.terminate());
  } catch {
    // No worker in this browser (or none allowed): the page's timer ticks alone.
  }
  setInterval(() => {
    if (performance.now() - lastTickAt > TICK_MS * 1.5) tick();
  }, TICK_MS);
}

/** Runs `run` every second, from the first call on, in a background tab too. */
export function everySecond(run: () => void): void {
  subscribers.push(run);
  start();
}

/**
 * Runs `run` once, at the first tick `ms` or more from now: a delay that a background tab does not
 * stretch to a minute (a stream the browser gave up, asked for again 2 s later, waited for the
 * page's next wake-up). To the second: the ticker's resolution.
 */
export function after(ms: number, run: () => void): void {
  pending.push({ due: performance.now() + ms, run });
  start();
}

/**
 * Runs `run` every `ms` (whole seconds: the ticker's resolution), the first time `ms` from now, in
 * a background tab too: a supervisor's list of who is there, read every 3 s, was read once a minute
 * in a tab hidden for five minutes.
 */
export function every(ms: number, run: () => void): void {
  let due = performance.now() + ms;
  everySecond(() => {
    const now = performance.now();
    // Half a tick early is on time: ticks a second apart, give or take, keep a 3 s read at 3 s.
    if (now < due - TICK_MS / 2) return;
    due = now + ms;
    run();
  });
}

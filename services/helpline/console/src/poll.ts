/**
 * The reads the console repeats on a timer for a supervisor or admin, and how often. The helpline
 * bounds both per person in a minute (STAFF_LIST_PER_MINUTE, 120; OVERVIEW_PER_MINUTE, 60): at
 * these rates one console asks 20 and 12 a minute, so a supervisor's desk, a wallboard and a third
 * tab stay well inside them.
 */
export const PEOPLE_EVERY_MS = 3_000;
export const OVERVIEW_EVERY_MS = 5_000;

/**
 * A read repeated on a timer, which the helpline bounds per person: refused (429), it is not asked
 * again until its `Retry-After` has passed (a minute when it says none), so tabs past the bound go
 * quiet rather than keep asking; any other failure is shown at the next turn.
 */
export function politePoll(read: () => Promise<void>, now: () => number = Date.now): () => Promise<void> {
  let notBefore = Number.NEGATIVE_INFINITY;
  return async () => {
    if (now() < notBefore) return;
    try {
      await read();
    } catch (err) {
      const refused = err as { status?: unknown; retryAfterS?: unknown };
      if (refused.status === 429)
        notBefore = now() + (typeof refused.retryAfterS === 'number' ? refused.retryAfterS : 60) * 1000;
    }
  };
}

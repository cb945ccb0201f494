/**
 * The helpline's time as this console knows it: the PC's clock, corrected by the time the live
 * stream's hello and pings carry. An operator's PC three minutes slow showed a press that had
 * waited 90 s as "0:00", never "over 60 seconds"; a call-back in 10 minutes went to the server as
 * 7. Every wait, age and time the console sends is counted on this clock.
 */
let offsetMs = 0;
/** When (PC time) the offset in use was heard: it is kept for a while, then a newer one may lower it. */
let offsetHeardAt = Number.NEGATIVE_INFINITY;

/**
 * How long the best offset heard is kept. A ping reaches the browser some time after the helpline
 * stamped it, never before, so the largest offset of the last while is the truest; taken from each
 * ping as it came, every late one (a helpline busy in a storm, a slow network) set the answer
 * clocks back by its lateness, and they read the same second twice or went back one.
 */
const KEEP_MS = 60_000;
/**
 * An offset this much below the one in use is the PC's clock put right, not a late ping: followed
 * at once.
 */
const STEP_MS = 5_000;

export const serverNow = (): number => Date.now() + offsetMs;

/** The helpline's time as a stream event said it (ISO), give or take the event's way here. */
export function heardServerTime(iso: unknown): void {
  const at = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
  if (!Number.isFinite(at)) return;
  const local = Date.now();
  const offset = at - local;
  const stale = local - offsetHeardAt > KEEP_MS || local < offsetHeardAt;
  if (offset >= offsetMs || stale || offsetMs - offset > STEP_MS) {
    offsetMs = offset;
    offsetHeardAt = local;
  }
}

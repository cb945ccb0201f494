/**
 * The helpline's time as this console knows it: the PC's clock, corrected by the time the live
 * stream's hello and pings carry. An operator's PC three minutes slow showed a press that had
 * waited 90 s as "0:00", never "over 60 seconds"; a call-back in 10 minutes went to the server as
 * 7. Every wait, age and time the console sends is counted on this clock.
 */
let offsetMs = 0;

export const serverNow = (): number => Date.now() + offsetMs;

/** The helpline's time as a stream event said it (ISO), give or take the event's way here. */
export function heardServerTime(iso: unknown): void {
  const at = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
  if (Number.isFinite(at)) offsetMs = at - Date.now();
}

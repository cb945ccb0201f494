/**
 * What a case shows of its alerts where it travels again and again: on the live stream (every
 * change, to every console, kept in the feed's replay buffer), in the case view (read again on
 * every change of the case on screen) and in the list (`GET /api/cases`, polled by consoles,
 * supervisors' screens and wallboards). One resident's storm (a home unit reporting mains loss
 * every few seconds all night) can join a thousand alerts to a case; sending each of them with
 * every note, offer and accept floods every console. The window keeps the alerts an operator must
 * see without asking: the one that opened the case (the queue card's reason), the most urgent
 * (a press in the middle of a storm), and the latest, in the order they came. `alertCount` says
 * how many there are, and `GET /api/cases/{id}/alerts` pages through them all. The store reads the
 * window by each alert's place in its case, so it costs the same whatever the case holds.
 */
export const ALERT_WINDOW = {
  /** The latest alerts kept. */
  latest: 12,
  /** The most urgent of the others kept (by priority, then the latest first). */
  urgent: 6,
} as const;

/** The most alerts a window holds: the first, the most urgent and the latest. */
export const ALERT_WINDOW_SIZE = 1 + ALERT_WINDOW.latest + ALERT_WINDOW.urgent;

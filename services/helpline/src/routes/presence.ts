import type { HELPLINE_PRESENCE_ROUTES } from '@telecare/contracts';
import { NotFoundError, type RouteHandlers } from '@telecare/platform';
import { can } from '../auth.ts';
import { type BoundedRead, goAway, type RouteContext, releaseCasesOf, withinLimit } from './context.ts';
import { sessionView } from './people.ts';

/**
 * Presence: a person's own choice, the heartbeat that proves their console is there, and the
 * supervisor's controls over someone else (set away, sign out everywhere). Every change asks the
 * timers to run now, so an offer to someone who has gone moves on at once.
 */
export function presenceHandlers(ctx: RouteContext): RouteHandlers<typeof HELPLINE_PRESENCE_ROUTES> {
  const { deps, now, who } = ctx;
  /** An operator or supervisor, the only people with a presence. */
  const person = async (id: string) => {
    const user = await deps.people.getUser(id);
    if (!user || !can(user.role, 'presence'))
      throw new NotFoundError('no operator or supervisor with that id', { context: { userId: id } });
    return user;
  };
  /**
   * A change to someone else (their presence set, or signed out everywhere) counted for the
   * supervisor, on every instance together: each sends a person's cases back to the queue, and a
   * stolen supervisor session signing a shift out in a loop kept the queue unanswered.
   */
  const controls = (): BoundedRead => ({
    action: "change other people's presence",
    what: "other people's presence was changed",
    limit: deps.supervisorControlsLimit,
    refused: deps.metrics.supervisorControlsRefused,
    event: 'supervisor-controls-rate-limited',
  });

  return {
    // Away (a break) with a case accepted: it goes back to the queue now, not with them for the
    // break, in the transaction that sets the presence (`goAway`).
    setPresence: async (req) => {
      const p = who(req);
      const at = now();
      const returned =
        req.body.status === 'away'
          ? await goAway(deps, p.id, p.id, at)
          : await deps.people.setPresence(p.id, req.body.status, at).then(() => []);
      deps.scheduler.poke();
      return { userId: p.id, status: req.body.status, returned };
    },

    // A console answers each ping of its stream with this. The first heartbeat (and the first after
    // a lapse) makes its person present again, so the timers run at once to offer them the queue.
    heartbeat: async (req) => {
      const p = who(req);
      const beat = await deps.consoles.beat(req.body.console, p.id, now());
      if (beat === 'unknown') throw new NotFoundError('no such console of yours; reconnect the stream');
      if (beat === 'back') deps.scheduler.poke();
      const user = await deps.people.getUser(p.id);
      // The session's end rides on every answer: the console warns before it and signs in again.
      return {
        console: req.body.console,
        presence: user?.presence ?? null,
        chosenPresence: user?.chosenPresence ?? null,
        session: p.session ? sessionView(p.session) : null,
      };
    },

    setUserPresence: async (req) => {
      const user = await person(req.params.id);
      const by = who(req).id;
      const at = now();
      await withinLimit(deps, who(req), controls(), at);
      const returned =
        req.body.status === 'away'
          ? await goAway(deps, user.id, by, at)
          : await deps.people.setPresence(user.id, req.body.status, at).then(() => []);
      deps.logger.info(
        { userId: user.id, status: req.body.status, by, returned },
        'presence set by a supervisor',
      );
      deps.scheduler.poke();
      return { userId: user.id, status: req.body.status, returned };
    },

    // Ends every session of the person and every console they hold, on every instance (the others
    // end theirs at their next ping round), and sets them away. Program tokens are not sessions and
    // keep working.
    signOutUser: async (req) => {
      const user = await person(req.params.id);
      const at = now();
      await withinLimit(deps, who(req), controls(), at);
      const sessionsEnded = await deps.people.endSessionsOf(user.id);
      const ended = await deps.consoles.closeUser(user.id);
      deps.streams.endConsoles(ended);
      // The cases first, then the presence (as at a sign-out of one's own).
      await releaseCasesOf(deps, user.id, at);
      await deps.people.setPresence(user.id, 'away', at);
      deps.logger.info(
        { userId: user.id, sessions: sessionsEnded, consoles: ended.length, by: who(req).id },
        'signed out by a supervisor',
      );
      deps.scheduler.poke();
      return { userId: user.id, sessionsEnded, consolesEnded: ended.length };
    },
  };
}

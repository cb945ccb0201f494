import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { newId } from '@telecare/contracts';
import {
  type Clock,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  httpErrorHandler,
  InvalidRequestError,
  type Logger,
  parseRequest,
  type SlidingWindowLimiter,
} from '@telecare/platform';
import { z } from 'zod';
import {
  type ApiError,
  CallIdParams,
  CaseIdParams,
  ChangePasswordBody,
  EmergencyCallBody,
  EndCallBody,
  ExtensionBody,
  type HelplineCase,
  HoldBody,
  ListCasesQuery,
  LoginBody,
  NewTokenBody,
  NewUserBody,
  NoteBody,
  ReassignBody,
  ResolveBody,
  ResponderCallBody,
  RevealBody,
  SecurityEventsQuery,
  SetPasswordBody,
  StartCallBody,
  StatsQuery,
  SupervisorOverviewQuery,
  TimelineQuery,
  TokenIdParams,
  UserIdParams,
} from './api.ts';
import { type Authenticator, can, type Permission, SESSION_COOKIE } from './auth.ts';
import { traceCaseStep } from './case-trace.ts';
import { consoleBundle } from './console-bundle.ts';
import { registerConsoleLinks } from './console-links.ts';
import {
  CaseNotFoundError,
  ForbiddenError,
  PartyNotFoundError,
  RateLimitedError,
  RevealRefusedError,
  TransitionRefusedError,
} from './errors.ts';
import { registerFactRoutes } from './facts.ts';
import type { HelplineMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { passwordProblem } from './password-rule.ts';
import { ADMIN_PRINCIPAL, type PeopleStore, type Principal, tokenHash } from './people.ts';
import type { ConsoleStore } from './presence.ts';
import { registerPresenceRoutes } from './presence-routes.ts';
import { protocolFor } from './protocols.ts';
import type { CasePublisher } from './publisher.ts';
import type { RegistryClient } from './registry-client.ts';
import { revealRefusal } from './reveal-policy.ts';
import type { Scheduler } from './scheduler.ts';
import type { SecurityEvents } from './security.ts';
import type { Actor, CaseStore, TransitionInput } from './store/index.ts';
import type { LiveStreams } from './stream.ts';
import { callUri, type TelephonyAdapter, TelephonyError } from './telephony.ts';
import type { TimelineReader } from './timeline.ts';
import { overTls, registerWebSecurity } from './web-security.ts';

export interface RouteDeps {
  readonly store: CaseStore;
  readonly people: PeopleStore;
  readonly auth: Authenticator;
  readonly publisher: CasePublisher;
  readonly scheduler: Scheduler;
  readonly registry: RegistryClient;
  readonly timeline: TimelineReader;
  readonly metrics: HelplineMetrics;
  readonly consoles: ConsoleStore;
  readonly streams: LiveStreams;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly offerSeconds: number;
  readonly sessionSeconds: number;
  /** What an operator's presence becomes at sign-in. */
  readonly presenceOnLogin: 'available' | 'away' | 'keep';
  readonly security: SecurityEvents;
  /** The console's origin as browsers see it; unset, the request's Host. */
  readonly publicOrigin?: string | undefined;
  /** The commissioners' reports dashboard, for people whose work is not in this console. */
  readonly reportsUrl?: string | undefined;
  readonly cookieSecure?: 'auto' | 'always';
  /** Failed sign-ins per username and per address in a sliding window. */
  readonly loginLimits: { readonly user: SlidingWindowLimiter; readonly address: SlidingWindowLimiter };
  /** Reveals per principal in a sliding window. */
  readonly revealLimit: SlidingWindowLimiter;
  /** Places calls from a case (the browser's tel:/sip: handler, or a PBX). */
  readonly telephony: TelephonyAdapter;
  /** What the 999 call action dials. */
  readonly emergencyNumber: string;
}

const CONSOLE_HTML = fileURLToPath(new URL('../public/console.html', import.meta.url));

const parse = parseRequest;

const RequestKey = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{8,100}$/, 'Idempotency-Key: 8–100 letters, digits or _.:-')
  .optional();

/** The client's key for this action: a retry or double click with the same key writes one event. */
const requestKeyOf = (req: FastifyRequest): string | undefined => {
  const header = req.headers['idempotency-key'];
  return header === undefined ? undefined : parse(RequestKey, header);
};

const actorOf = (principal: Principal): Actor => ({
  id: principal.id,
  override: principal.role === 'supervisor' || principal.role === 'admin',
});

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const consoleHtml = readFileSync(CONSOLE_HTML, 'utf8');
  // Bundled now, so the first operator to open the console does not wait for it.
  consoleBundle().catch((err: unknown) => deps.logger.error({ err }, 'console bundle failed'));
  const now = () => new Date(deps.clock.now());
  registerWebSecurity(app, {
    consoleHtml,
    publicOrigin: deps.publicOrigin,
    onCrossSite: (req, why) =>
      deps.logger.warn({ method: req.method, url: req.routeOptions.url, why }, 'cross-site request refused'),
  });
  const cookie = (req: FastifyRequest, value: string, maxAge: number): string =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${
      deps.cookieSecure === 'always' || overTls(req) ? '; Secure' : ''
    }`;
  const principals = new WeakMap<FastifyRequest, Principal>();
  const who = (req: FastifyRequest): Principal => {
    const p = principals.get(req);
    if (!p) throw new Error('route without a guard');
    return p;
  };

  /** Authenticates (bearer token, session cookie, or ?access_token= on the stream) and checks the role. */
  const guard =
    (permission: Permission, options: { queryToken?: boolean } = {}) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const principal = await deps.auth.authenticate(req, now(), options);
      if (!principal)
        return reply.code(401).send({
          error: 'unauthorized',
          message: 'sign in, or send Authorization: Bearer <token>',
        } satisfies ApiError);
      if (!can(principal.role, permission)) {
        const err = new ForbiddenError(principal.role, [...permissionRoles(permission)], permission);
        return reply.code(403).send({ error: 'forbidden', message: err.message } satisfies ApiError);
      }
      principals.set(req, principal);
    };
  const permissionRoles = (permission: Permission) => deps.auth.rolesFor(permission);

  app.get('/', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(consoleHtml),
  );
  app.get('/console.js', async (req, reply) => {
    const bundle = await consoleBundle();
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('etag', bundle.etag);
    return req.headers['if-none-match'] === bundle.etag ? reply.code(304).send() : reply.send(bundle.js);
  });
  app.get('/api/openapi.json', async () => openApiDocument());

  app.setErrorHandler(httpErrorHandler({ logger: deps.logger }));

  // --- people -------------------------------------------------------------------------------

  app.post('/api/login', async (req, reply) => {
    const body = parse(LoginBody, req.body);
    const address = req.ip;
    const userKey = body.username.trim().toLowerCase();
    // Checked before the password: a locked name or address learns nothing, right password or not.
    const wait = Math.max(
      deps.loginLimits.user.blockedFor(userKey) ?? 0,
      deps.loginLimits.address.blockedFor(address) ?? 0,
    );
    if (wait > 0) {
      deps.metrics.logins.inc({ outcome: 'locked' });
      deps.logger.warn(
        { username: userKey, clientIp: address, retryAfterS: wait },
        'sign-in refused: too many failures',
      );
      return reply
        .code(429)
        .header('retry-after', String(wait))
        .send({
          error: 'rate-limited',
          message: `too many failed sign-ins; try again in ${wait} s`,
        } satisfies ApiError);
    }
    const user = await deps.people.checkPassword(body.username, body.password);
    if (!user) {
      deps.loginLimits.user.record(userKey);
      deps.loginLimits.address.record(address);
      deps.metrics.logins.inc({ outcome: 'refused' });
      // `clientIp`, not `address`: the logger redacts `address` as a postal address.
      deps.logger.warn({ username: userKey, clientIp: address }, 'sign-in failed');
      return reply
        .code(401)
        .send({ error: 'unauthorized', message: 'wrong username or password' } satisfies ApiError);
    }
    deps.loginLimits.user.reset(userKey);
    const token = await deps.people.createSession(user.id, deps.sessionSeconds, now());
    deps.metrics.logins.inc({ outcome: 'ok' });
    deps.logger.info({ userId: user.id, role: user.role }, 'signed in');
    // An operator who signs in is there to take calls; one still busy with a case stays busy.
    if (user.role === 'operator' && deps.presenceOnLogin !== 'keep') {
      const current = (await deps.people.getUser(user.id))?.chosenPresence;
      if (current !== 'busy') {
        await deps.people.setPresence(user.id, deps.presenceOnLogin, now());
        deps.scheduler.poke();
      }
    }
    return reply
      .header('set-cookie', cookie(req, token, deps.sessionSeconds))
      .send({ user: (await deps.people.getUser(user.id)) ?? user });
  });

  // Signing out ends this session's consoles at once (their streams too), and someone with no
  // other console left is away: an offer to them moves on now, not when it times out.
  app.post('/api/logout', async (req, reply) => {
    const token = deps.auth.sessionToken(req);
    if (token) {
      const at = now();
      const user = await deps.people.sessionUser(token, at);
      const ended = await deps.consoles.closeSession(tokenHash(token));
      await deps.people.endSession(token);
      deps.streams.endConsoles(ended);
      if (user && can(user.role, 'presence') && (await deps.consoles.connected(user.id, at)) === 0)
        await deps.people.setPresence(user.id, 'away', at);
      if (user) deps.logger.info({ userId: user.id, consoles: ended.length }, 'signed out');
      deps.scheduler.poke();
    }
    return reply.header('set-cookie', cookie(req, '', 0)).send({});
  });

  registerConsoleLinks(app, deps, guard);

  app.get('/api/me', { preHandler: guard('signed-in') }, async (req) => {
    const p = who(req);
    const user = await deps.people.getUser(p.id);
    return (
      user ?? { ...p, presence: null, chosenPresence: null, consoles: 0, lastSeenAt: null, extension: null }
    );
  });

  app.get('/api/users', { preHandler: guard('view') }, async () => ({
    users: await deps.people.listUsers(),
  }));

  app.post('/api/users', { preHandler: guard('manage-users') }, async (req, reply) => {
    const body = parse(NewUserBody, req.body);
    const user = await deps.people.createUser(body, now());
    deps.logger.info({ userId: user.id, role: user.role, by: who(req).id }, 'user created');
    return reply.code(201).send(user);
  });

  app.post('/api/tokens', { preHandler: guard('manage-users') }, async (req, reply) => {
    const body = parse(NewTokenBody, req.body);
    if (!(await deps.people.getUser(body.userId)))
      throw new InvalidRequestError([{ path: 'userId', message: `no user ${body.userId}` }]);
    const issued = await deps.people.createToken(body.userId, body.label, body.expiresInDays, now());
    deps.logger.info({ userId: body.userId, tokenId: issued.id, by: who(req).id }, 'token issued');
    return reply.code(201).send({ ...issued, userId: body.userId, label: body.label });
  });

  app.delete('/api/tokens/:id', { preHandler: guard('manage-users') }, async (req) => {
    const { id } = parse(TokenIdParams, req.params);
    if (!(await deps.people.revokeToken(id, now())))
      throw new InvalidRequestError([{ path: 'id', message: `no live token ${id}` }]);
    deps.logger.info({ tokenId: id, by: who(req).id }, 'token revoked');
    return { id, revoked: true };
  });

  const userAction = (path: string, action: (userId: string, req: FastifyRequest) => Promise<unknown>) =>
    app.post(`/api/users/:id/${path}`, { preHandler: guard('manage-users') }, async (req) => {
      const { id } = parse(UserIdParams, req.params);
      const target = await deps.people.getUser(id);
      if (!target) throw new InvalidRequestError([{ path: 'id', message: `no user ${id}` }]);
      const result = await action(id, req);
      deps.logger.info({ userId: id, by: who(req).id, action: path }, 'user changed');
      deps.scheduler.poke();
      return { userId: id, ...(typeof result === 'object' && result !== null ? result : {}) };
    });
  // Sessions ended by an admin end that person's consoles too, at once: they are no longer there,
  // so an offer to them moves on now rather than when their console's heartbeat times out.
  const endConsolesOf = async (userId: string) => {
    const ended = await deps.consoles.closeUser(userId);
    deps.streams.endConsoles(ended);
    return ended.length;
  };
  userAction('disable', async (id, req) => {
    if (id === who(req).id)
      throw new InvalidRequestError([{ path: 'id', message: 'an admin cannot disable themselves' }]);
    await deps.people.setDisabled(id, true, now());
    return { disabled: true, consolesEnded: await endConsolesOf(id) };
  });
  userAction('enable', async (id) => {
    await deps.people.setDisabled(id, false, now());
    return { disabled: false };
  });
  userAction('end-sessions', async (id) => {
    const sessionsEnded = await deps.people.endSessionsOf(id);
    const consolesEnded = await endConsolesOf(id);
    const target = await deps.people.getUser(id);
    if (target && can(target.role, 'presence')) await deps.people.setPresence(id, 'away', now());
    return { sessionsEnded, consolesEnded };
  });
  userAction('password', async (id, req) => {
    const body = parse(SetPasswordBody, req.body);
    const target = await deps.people.getUser(id);
    const problem = passwordProblem(body.password, [target?.username ?? '', target?.name ?? '']);
    if (problem) throw new InvalidRequestError([{ path: 'password', message: `${problem}` }]);
    await deps.people.setPassword(id, body.password);
    return { passwordChanged: true, consolesEnded: await endConsolesOf(id) };
  });

  app.put('/api/me/password', { preHandler: guard('signed-in') }, async (req) => {
    const body = parse(ChangePasswordBody, req.body);
    const p = who(req);
    if (!(await deps.people.passwordMatches(p.id, body.current)))
      throw new InvalidRequestError([{ path: 'current', message: 'not your current password' }]);
    const problem = passwordProblem(body.password, [p.username, p.name]);
    if (problem) throw new InvalidRequestError([{ path: 'password', message: `${problem}` }]);
    // The session changing it stays signed in; every other session of this person ends.
    await deps.people.setPassword(p.id, body.password, deps.auth.sessionToken(req));
    deps.logger.info({ userId: p.id }, 'password changed');
    return { userId: p.id, passwordChanged: true };
  });

  // A person's phone extension (click-to-call rings it first): their own, or anyone's for an admin.
  app.put('/api/users/:id/extension', { preHandler: guard('signed-in') }, async (req) => {
    const { id } = parse(UserIdParams, req.params);
    const body = parse(ExtensionBody, req.body);
    const p = who(req);
    if (p.id !== id && p.role !== 'admin') {
      throw new ForbiddenError(p.role, ['admin'], "setting someone else's extension");
    }
    if (!(await deps.people.setExtension(id, body.extension)))
      throw new InvalidRequestError([{ path: 'id', message: `no user ${id}` }]);
    deps.logger.info({ userId: id, by: p.id }, 'extension set');
    return { userId: id, extension: body.extension };
  });

  registerPresenceRoutes(app, deps, { guard, who, parse, now });

  // --- cases --------------------------------------------------------------------------------

  app.get('/api/cases', { preHandler: guard('view') }, async (req) => {
    const query = parse(ListCasesQuery, req.query);
    return deps.store.list(query.state, query.limit);
  });

  // Names are personal: only for the queue a person works, only residents with an open case, from
  // the registry's short cache; they go to the browser and nowhere else (no event, no log line).
  app.get('/api/queue/names', { preHandler: guard('view') }, async () => {
    const open = await deps.store.list('open', 500);
    const residents = [...new Set(open.map((c) => c.residentId))];
    const { names, districts } = await deps.registry.queueResidents(residents);
    return { names, districts, complete: residents.every((id) => id in names) };
  });

  app.get('/api/cases/:id', { preHandler: guard('view') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    return { ...stored.case, events: await deps.store.events(id), protocol: protocolFor(stored.case.type) };
  });

  app.get('/api/cases/:id/context', { preHandler: guard('view') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    return deps.registry.context(stored.case.residentId);
  });

  app.get('/api/cases/:id/timeline', { preHandler: guard('view') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const { hours } = parse(TimelineQuery, req.query);
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    return deps.timeline.read(stored.case.residentId, now(), hours);
  });

  /** The answer clock of a case accepted for the first time (a re-accept after a hold is not an answer). */
  const observeAnswer = (c: HelplineCase, at: Date) => {
    if (c.acceptedAt === null || Date.parse(c.acceptedAt) !== at.getTime()) return;
    deps.metrics.answerSeconds.observe(
      { priority: String(c.priority) },
      Math.max(0, (at.getTime() - Date.parse(c.raisedAt)) / 1000),
    );
  };

  const refusedReason = (err: unknown) =>
    err instanceof InvalidRequestError
      ? 'invalid'
      : err instanceof TransitionRefusedError
        ? 'state'
        : err instanceof CaseNotFoundError
          ? 'not-found'
          : 'error';

  const transition = (
    action: 'accept' | 'hold' | 'resolve',
    input: (req: FastifyRequest, at: Date) => TransitionInput,
  ) =>
    app.post(`/api/cases/:id/${action}`, { preHandler: guard('work') }, async (req) => {
      const at = now();
      try {
        const { id } = parse(CaseIdParams, req.params);
        const key = requestKeyOf(req);
        const principal = who(req);
        const started = Date.now();
        const result = await deps.store.transition(id, input(req, at), actorOf(principal), at, key);
        if (result.event && action === 'accept') {
          observeAnswer(result.case, at);
          await traceCaseStep(deps.store, id, 'accept', started, Date.now());
        }
        if (result.event) {
          deps.metrics.transitions.inc({ action });
          deps.publisher.flushInBackground();
          // An operator on a call is busy; one who has let the case go is free for the next.
          if (principal.role === 'operator')
            await deps.people.setPresence(principal.id, action === 'accept' ? 'busy' : 'available', at);
          deps.scheduler.poke();
        }
        return result.case;
      } catch (err) {
        deps.metrics.transitionsRefused.inc({ action, reason: refusedReason(err) });
        throw err;
      }
    });

  transition('accept', () => ({ action: 'accept' }));
  transition('hold', (req, at) => {
    const body = parse(HoldBody, req.body);
    const until = new Date(body.until);
    if (until.getTime() <= at.getTime())
      throw new InvalidRequestError([{ path: 'until', message: 'the call-back time must be in the future' }]);
    return { action: 'hold', until, reason: body.reason, returnPriority: body.returnPriority };
  });
  transition('resolve', (req) => {
    const body = parse(ResolveBody, req.body);
    return { action: 'resolve', outcome: body.outcome, reason: body.reason, facts: body.facts };
  });

  app.post('/api/cases/:id/decline', { preHandler: guard('work') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const p = who(req);
    const events = await deps.store.expireOffers(now(), { id, by: p.id });
    if (events.length === 0) {
      const stored = await deps.store.get(id);
      if (!stored) throw new CaseNotFoundError(id);
      throw new TransitionRefusedError(id, 'decline', stored.case.state, 'the case is not offered to you');
    }
    deps.publisher.flushInBackground();
    deps.scheduler.poke();
    return (await deps.store.get(id))?.case;
  });

  app.post('/api/cases/:id/reassign', { preHandler: guard('reassign') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const body = parse(ReassignBody, req.body);
    const target = await deps.people.getUser(body.to);
    if (!target || !['operator', 'supervisor'].includes(target.role))
      throw new InvalidRequestError([{ path: 'to', message: `${body.to} is not an operator or supervisor` }]);
    const result = await deps.store.reassign(
      id,
      body.to,
      body.reason,
      actorOf(who(req)),
      now(),
      deps.offerSeconds,
      requestKeyOf(req),
    );
    deps.publisher.flushInBackground();
    return result.case;
  });

  const record = (
    path: string,
    kind: 'note' | 'responder-called' | 'emergency-called',
    body: (req: FastifyRequest) => Record<string, unknown>,
  ) =>
    app.post(`/api/cases/:id/${path}`, { preHandler: guard('work') }, async (req, reply) => {
      const { id } = parse(CaseIdParams, req.params);
      const { callId, ...data } = body(req);
      const at = now();
      // A result that names the call it came from ends that call too: one transaction, one duration.
      const result =
        typeof callId === 'string' && kind !== 'note'
          ? await deps.store.endCall(
              id,
              callId,
              {
                outcome:
                  kind === 'responder-called' && data.result === 'no-answer' ? 'no-answer' : 'answered',
              },
              actorOf(who(req)),
              at,
              requestKeyOf(req),
              { kind, data },
            )
          : await deps.store.record(id, kind, data, actorOf(who(req)), at, requestKeyOf(req));
      if (!result.duplicate) deps.publisher.flushInBackground();
      return reply.code(result.duplicate ? 200 : 201).send(result.event);
    });
  record('notes', 'note', (req) => parse(NoteBody, req.body));
  record('responder-calls', 'responder-called', (req) => parse(ResponderCallBody, req.body));
  record('emergency-calls', 'emergency-called', (req) => parse(EmergencyCallBody, req.body));
  registerFactRoutes(app, deps, { guard, who, parse, now, requestKeyOf, actorOf });

  // --- voice -------------------------------------------------------------------------------

  /** The case's call actions: numbers from the registry as tel:/sip: URIs, and 999. */
  const callTargets = async (residentId: string) => {
    const parties = await deps.registry.parties(residentId);
    const targets: {
      party: 'home-unit' | 'resident' | 'responder' | 'emergency';
      label: string;
      uri: string | null;
      responderId?: string;
      deviceSerial?: string;
      why?: string;
    }[] = [];
    if (parties.available) {
      const lines = [...parties.speechLines].sort(
        (a, b) => Number(b.kind === 'home-unit') - Number(a.kind === 'home-unit'),
      );
      if (lines.length === 0)
        targets.push({
          party: 'home-unit',
          label: 'Home unit',
          uri: null,
          why: 'no device of this resident has a speech line (voiceUri) in the registry',
        });
      for (const line of lines) {
        const uri = callUri(line.voiceUri);
        targets.push({
          party: 'home-unit',
          label: `${line.kind === 'home-unit' ? 'Home unit' : line.kind}${line.location ? ` (${line.location})` : ''}`,
          uri: uri ?? null,
          deviceSerial: line.serial,
          ...(uri ? {} : { why: 'the speech line in the registry is not a number or sip: URI' }),
        });
      }
      const residentUri = callUri(parties.residentPhone);
      targets.push({
        party: 'resident',
        label: 'Resident',
        uri: residentUri ?? null,
        ...(residentUri ? {} : { why: 'no phone number for the resident in the registry' }),
      });
      for (const responder of parties.responders) {
        const uri = callUri(responder.phone);
        targets.push({
          party: 'responder',
          label: `${responder.name}${responder.relationship ? ` (${responder.relationship})` : ''}`,
          uri: uri ?? null,
          responderId: responder.id,
          ...(uri ? {} : { why: 'no phone number for this responder in the registry' }),
        });
      }
    }
    targets.push({
      party: 'emergency',
      label: `Emergency services (${deps.emergencyNumber})`,
      uri: `tel:${deps.emergencyNumber}`,
    });
    return { parties, targets };
  };

  app.get('/api/cases/:id/call-targets', { preHandler: guard('view') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    const { parties, targets } = await callTargets(stored.case.residentId);
    return {
      telephony: deps.telephony.mode,
      targets,
      ...(parties.message ? { message: parties.message } : {}),
    };
  });

  // Starting a call: the party's number comes from the registry, never from the browser; the
  // adapter places it (or leaves it to the browser), and the case records who called whom, how.
  app.post('/api/cases/:id/calls', { preHandler: guard('work') }, async (req, reply) => {
    const { id } = parse(CaseIdParams, req.params);
    const body = parse(StartCallBody, req.body);
    const principal = who(req);
    const key = requestKeyOf(req);
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    const { targets } = await callTargets(stored.case.residentId);
    const target = targets.find(
      (t) =>
        t.party === body.party &&
        (body.party !== 'responder' || t.responderId === body.responderId) &&
        (body.party !== 'home-unit' || !body.deviceSerial || t.deviceSerial === body.deviceSerial),
    );
    if (key) {
      // The same click again (a lost answer, a double click): the call already placed, not another.
      const done = await deps.store.eventByKey(id, key);
      if (done?.kind === 'call-started') {
        const call = (await deps.store.calls(id)).find((c) => c.id === done.data.callId);
        return reply.code(200).send({
          callId: done.data.callId,
          party: done.data.party,
          uri: target?.uri ?? '',
          via: done.data.via,
          pbxReference: call?.pbxReference ?? null,
          startedAt: call?.startedAt,
          eventId: done.id,
        });
      }
    }
    // Checked before the phone rings; checked again under the case's lock when recorded.
    const mine = principal.role !== 'operator' || stored.case.assignedTo === principal.id;
    if (stored.case.state !== 'accepted' || !mine)
      throw new TransitionRefusedError(
        id,
        'call',
        stored.case.state,
        stored.case.state !== 'accepted'
          ? 'accept the case before calling anyone for it'
          : 'another operator is working this case',
        stored.case.assignedTo,
      );
    if (!target)
      throw new PartyNotFoundError(id, `the registry names no such ${body.party} for this resident`);
    if (!target.uri) throw new PartyNotFoundError(id, target.why ?? `no number for the ${body.party}`);
    const callId = newId('call', deps.clock.now());
    const extension = (await deps.people.getUser(principal.id))?.extension ?? null;
    let placed: { via: 'browser' | 'pbx'; reference: string | null; failed?: string };
    try {
      const result = await deps.telephony.place({
        callId,
        caseId: id,
        uri: target.uri,
        operatorId: principal.id,
        extension,
      });
      placed = { via: result.via, reference: result.via === 'pbx' ? result.reference : null };
    } catch (err) {
      if (!(err instanceof TelephonyError)) throw err;
      // The call must still happen: the operator dials the same URI from the console.
      placed = { via: 'browser', reference: null, failed: err.message };
    }
    const at = now();
    const { event } = await deps.store.startCall(
      id,
      {
        id: callId,
        party: body.party,
        responderId: target.responderId,
        deviceSerial: target.deviceSerial,
        scheme: target.uri.startsWith('tel:') ? 'tel' : 'sip',
        via: placed.via,
        pbxReference: placed.reference,
        pbxFailed: placed.failed,
      },
      actorOf(principal),
      at,
      key,
    );
    deps.publisher.flushInBackground();
    deps.logger.info(
      { caseId: id, callId, party: body.party, via: placed.via, userId: principal.id },
      'call started',
    );
    return reply.code(201).send({
      callId,
      party: body.party,
      uri: target.uri,
      via: placed.via,
      pbxReference: placed.reference,
      startedAt: at.toISOString(),
      ...(placed.failed ? { message: `${placed.failed}: dial ${target.uri} from here` } : {}),
      eventId: event.id,
    });
  });

  app.post('/api/cases/:id/calls/:callId/end', { preHandler: guard('work') }, async (req, reply) => {
    const { id, callId } = parse(CallIdParams, req.params);
    const body = parse(EndCallBody, req.body);
    const result = await deps.store.endCall(id, callId, body, actorOf(who(req)), now(), requestKeyOf(req));
    if (!result.duplicate) deps.publisher.flushInBackground();
    return reply.code(result.duplicate ? 200 : 201).send(result.event);
  });

  app.get('/api/cases/:id/calls', { preHandler: guard('view') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    if (!(await deps.store.get(id))) throw new CaseNotFoundError(id);
    return { calls: await deps.store.calls(id) };
  });

  // The key-safe code and medical notes are shown only through this call, only on an open case
  // the caller holds (a supervisor or admin: any open case), a limited number of times per person:
  // the registry reveals and audits the read (naming the case and person), the case records it.
  app.post('/api/cases/:id/reveal', { preHandler: guard('work') }, async (req) => {
    const { id } = parse(CaseIdParams, req.params);
    const body = parse(RevealBody, req.body);
    const principal = who(req);
    const at = now();
    // Every attempt counts, refused ones too: probing cases one by one is what the limit is for.
    const decision = deps.revealLimit.attempt(principal.id);
    if (!decision.allowed) {
      deps.metrics.revealsRefused.inc({ reason: 'rate-limited' });
      if (decision.firstRefusal)
        await deps.security.raise(
          'reveal-rate-limited',
          { userId: principal.id, caseId: id },
          { role: principal.role, limit: deps.revealLimit.max, windowS: deps.revealLimit.windowMs / 1000 },
          at,
        );
      throw new RateLimitedError('reveal sensitive fields', decision.retryAfterS);
    }
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    const refusal = revealRefusal(stored.case, principal);
    if (refusal) {
      deps.metrics.revealsRefused.inc({ reason: 'case' });
      await deps.security.raise(
        'reveal-refused',
        { userId: principal.id, caseId: id },
        { role: principal.role, state: stored.case.state, field: body.field, reason: refusal },
        at,
      );
      throw new RevealRefusedError(id, refusal);
    }
    const role = principal.role === 'supervisor' || principal.role === 'admin' ? principal.role : 'operator';
    const found = await deps.registry.reveal(stored.case.residentId, body.field, {
      caseId: id,
      actorId: principal.id,
      actorRole: role,
      ...(body.reason ? { reason: body.reason } : {}),
    });
    const { event } = await deps.store.record(
      id,
      'revealed',
      {
        field: body.field,
        found: found.value !== null,
        registryAudited: found.audited,
        ...(body.reason ? { reason: body.reason } : {}),
      },
      actorOf(principal),
      now(),
    );
    deps.publisher.flushInBackground();
    deps.logger.info({ caseId: id, field: body.field, userId: principal.id }, 'sensitive field revealed');
    return {
      field: body.field,
      value: found.value,
      ...(found.message ? { message: found.message } : {}),
      eventId: event.id,
    };
  });

  app.get('/api/security-events', { preHandler: guard('security') }, async (req) => {
    const { limit } = parse(SecurityEventsQuery, req.query);
    return { events: await deps.security.list(limit) };
  });

  app.get('/api/stats/answer', { preHandler: guard('stats') }, async (req) => {
    const { hours } = parse(StatsQuery, req.query);
    const to = now();
    return deps.store.answerStats(new Date(to.getTime() - hours * 3600_000), new Date(to.getTime() + 1), to);
  });

  // What a supervisor watches: who is there and what they hold, the queue by priority, the
  // answer figures (alarm calls only), the calls past a target, misuse and unmapped panel codes.
  app.get('/api/supervisor/overview', { preHandler: guard('supervise') }, async (req) => {
    const { hours } = parse(SupervisorOverviewQuery, req.query);
    const at = now();
    const from = new Date(at.getTime() - hours * 3600_000);
    const [users, holders, queue, answer, breaches, securityEvents, unmappedCodes] = await Promise.all([
      deps.people.listUsers(),
      deps.store.holders(),
      deps.store.queueOverview(at),
      deps.store.answerStats(from, new Date(at.getTime() + 1), at),
      deps.store.breaches(at),
      deps.security.list(20),
      deps.timeline.unmapped(at, hours),
    ]);
    return {
      at: at.toISOString(),
      operators: users
        .filter((u) => u.role === 'operator' || u.role === 'supervisor')
        .map((u) => ({
          ...u,
          offered: holders.get(u.id)?.offered ?? [],
          working: holders.get(u.id)?.working ?? [],
        })),
      queue,
      answer,
      breaches,
      securityEvents,
      unmappedCodes,
    };
  });

  // The live stream. A person's stream is one of their consoles: it says hello with the console
  // id, pings, and the console's heartbeats keep its person present (see stream.ts).
  app.get('/api/stream', { preHandler: guard('view', { queryToken: true }) }, async (req, reply) => {
    const header = req.headers['last-event-id'];
    const lastId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
    const principal = who(req);
    const release = deps.streams.reserve(principal.id);
    let consoleId: string | undefined;
    try {
      if (principal.id !== ADMIN_PRINCIPAL.id) {
        // A stream opened with a bearer token is a program's, not a session's.
        const query = req.query as Record<string, unknown> | undefined;
        const bearer = Boolean(req.headers.authorization) || typeof query?.access_token === 'string';
        const session = bearer ? undefined : deps.auth.sessionToken(req);
        consoleId = await deps.consoles.open(principal.id, session ? tokenHash(session) : null, now());
      }
    } catch (err) {
      release();
      throw err;
    }
    reply.hijack();
    await deps.streams.serve(reply.raw, { principalId: principal.id, consoleId, release }, lastId);
  });
}

import { type EventIndexView, TRIAGE_API, TRIAGE_ROUTES } from '@telecare/contracts';
import {
  bearerToken,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  httpErrorHandler,
  type Logger,
  mountRoutes,
  type RouteHandlers,
  type RouteRequest,
  sameSecret,
  serveOpenApi,
  TransientError,
} from '@telecare/platform';
import { parseRuleSet, RuleSetError } from '@telecare/rules';
import { RulesConflictError, type RulesInForce, type RulesStore } from './rules-store.ts';

/** Who a put is recorded as: the only bearer the rules routes admit is the admin token. */
const ADMIN_IDENTITY = 'admin';

/** The bearer tokens triage admits, each with its role. */
export interface TriageTokens {
  readonly admin: string | undefined;
  /** HELPLINE_TRIAGE_TOKEN: the helpline's, for a resident's event index only. */
  readonly helpline: string | undefined;
}

/** The role of the request's bearer token, or undefined when it is none of triage's. */
function roleOf(tokens: TriageTokens, req: FastifyRequest): 'admin' | 'helpline-service' | undefined {
  const token = bearerToken(req.headers.authorization);
  if (!token) return undefined;
  if (tokens.admin && sameSecret(token, tokens.admin)) return 'admin';
  if (tokens.helpline && sameSecret(token, tokens.helpline)) return 'helpline-service';
  return undefined;
}

/** `If-Match: "7"` (or `7`): the revision a put is based on; 0 means "nothing stored yet". */
function basedOn(header: string | string[] | undefined): number | undefined | 'invalid' {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header[0] : header)?.trim().replace(/^"(.*)"$/, '$1') ?? '';
  return /^\d{1,15}$/.test(value) ? Number(value) : 'invalid';
}

/** What `GET /api/rules` answers. */
export type RulesInForceBody = ReturnType<typeof inForceBody>;

const inForceBody = (inForce: RulesInForce) => ({
  source: inForce.source,
  revision: inForce.revision,
  version: inForce.ruleSet.version,
  ...(inForce.putAt ? { putAt: inForce.putAt } : {}),
  ...(inForce.putBy ? { putBy: inForce.putBy } : {}),
  ...(inForce.refused ? { refused: inForce.refused } : {}),
  ruleSet: inForce.ruleSet,
});

/**
 * The rule set in force, its history, and a way to change it without a restart. A put is
 * validated first (refused with the path and reason of each error; the running rules stay in
 * force), then stored with a compare-and-set on the revision it was based on, and every triage
 * instance following the bucket puts it in force, with the area lanes its area rules read.
 * Beside them, a resident's event index (`eventIndex`), which the helpline reads with its token.
 */
export async function registerRulesApi(
  app: FastifyInstance,
  rules: RulesStore,
  tokens: TriageTokens,
  eventIndex: (residentId: string) => Promise<EventIndexView>,
  logger: Logger,
): Promise<void> {
  const log = logger.child({ component: 'rules-api' });
  await serveOpenApi(app, TRIAGE_API);
  await app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      if (!roleOf(tokens, req))
        return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <token>' });
    });
    api.setErrorHandler(httpErrorHandler({ logger: log }));
    mountRoutes(api, TRIAGE_ROUTES, handlers(rules, eventIndex, log), (req) => roleOf(tokens, req));
  });
}

function handlers(
  rules: RulesStore,
  eventIndex: (residentId: string) => Promise<EventIndexView>,
  log: Logger,
): RouteHandlers<typeof TRIAGE_ROUTES> {
  return {
    eventIndex: async (req, reply) => {
      try {
        return await eventIndex(req.params.id);
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        log.warn({ err }, 'event index not read');
        return reply.code(503).send({ error: 'unavailable', message: 'the event index could not be read' });
      }
    },
    getRules: async (_req, reply) => {
      const inForce = rules.inForce;
      return reply.header('etag', `"${inForce.revision}"`).send(inForceBody(inForce));
    },
    rulesHistory: async () => ({ versions: await rules.history() }),
    putRules: async (req, reply) => putRules(rules, log, req, reply),
  };
}

async function putRules(
  rules: RulesStore,
  log: Logger,
  req: RouteRequest<typeof TRIAGE_ROUTES.putRules>,
  reply: FastifyReply,
) {
  const base = basedOn(req.headers['if-match']);
  if (base === 'invalid') {
    return reply.code(400).send({
      error: 'invalid-if-match',
      message: 'If-Match must be the revision the rule set is based on, as GET /api/rules gives it',
    });
  }
  const refusal = (code: number, error: string, message: string, extra: Record<string, unknown>) => {
    const inForce = rules.inForce;
    return reply
      .code(code)
      .send({ error, message, inForce: inForce.ruleSet.version, revision: inForce.revision, ...extra });
  };
  try {
    const ruleSet = parseRuleSet(req.body);
    const stored = await rules.put(ruleSet, {
      ...(base === undefined ? {} : { basedOn: base }),
      by: ADMIN_IDENTITY,
    });
    return {
      version: stored.ruleSet.version,
      rules: stored.ruleSet.rules.length,
      revision: stored.revision,
    };
  } catch (err) {
    if (err instanceof RuleSetError) {
      log.warn({ issues: err.issues.length }, 'rule set refused; the running rules stay in force');
      return refusal(400, 'invalid-rule-set', 'the rule set was refused; the running rules stay in force', {
        issues: err.issues,
      });
    }
    if (err instanceof RulesConflictError) {
      log.warn({ reason: err.reason, ...err.context }, 'rule set refused; the running rules stay in force');
      return reply.code(409).send({
        error: err.reason,
        message: err.message,
        inForce: err.inForce.ruleSet.version,
        revision: err.inForce.revision,
      });
    }
    if (err instanceof TransientError) {
      log.warn({ err }, 'rule set not stored; the running rules stay in force');
      return refusal(503, 'unavailable', 'the rule set could not be stored; try again', {});
    }
    throw err;
  }
}

import { type Logger, pino } from 'pino';
import { postgresRefusal, reportedElsewhere } from './errors.ts';

export type { Logger };

/**
 * Personal fields never reach the logs: events and logs carry ids, not names (DESIGN §3.7).
 * Anything that looks like one is censored wherever it appears two levels deep.
 */
const PERSONAL_FIELDS = [
  'firstName',
  'lastName',
  'fullName',
  'address',
  'phone',
  'email',
  'dateOfBirth',
  'keySafe',
  'keySafeCode',
  'medicalSummary',
  'medicalNotes',
  'password',
  'secret',
  'token',
];

export const REDACT_PATHS = [
  ...PERSONAL_FIELDS,
  ...PERSONAL_FIELDS.map((field) => `*.${field}`),
  ...PERSONAL_FIELDS.map((field) => `*.*.${field}`),
  // `name` alone is too common (pino's own, errors'), so only a person's name is redacted.
  'resident.name',
  'responder.name',
  '*.resident.name',
  '*.responder.name',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** One pino logger per process; modules take `logger.child({ component })`. */
export function createLogger(service: string, level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: service,
      level,
      base: { service },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/**
 * node-postgres's answer to a statement on a client whose connection failed before it (a session
 * the server ended between two statements of a transaction): the pool warned of that failure as it
 * came (`createPool`, "postgres connection lost under a checked-out client"), with its cause.
 */
const connectionAlreadyLost = (err: unknown): boolean =>
  err instanceof Error && err.message === 'Client has encountered a connection error and is not queryable';

/**
 * A failure that is tried again later: a warning with its error, or, when PostgreSQL refuses every
 * write alike (read-only, disk full: the pool says why, once), only a debug line with the SQLSTATE,
 * so a refusal is not a stack per message or per tick; a failure its service reports itself
 * (`reportedElsewhere`: triage's Redis away or refusing writes), or a statement on a pooled client
 * whose connection the pool already said was lost, is a debug line too.
 */
export function warnFailure(
  log: Logger,
  err: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  const refusal = postgresRefusal(err);
  if (refusal) log.debug({ ...fields, code: refusal.code }, message);
  else if (reportedElsewhere(err) || connectionAlreadyLost(err)) log.debug({ err, ...fields }, message);
  else log.warn({ err, ...fields }, message);
}

import { type Logger, pino } from 'pino';

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

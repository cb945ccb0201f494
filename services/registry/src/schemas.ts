import { DeviceKind, DeviceProtocol, idPattern, Serial } from '@telecare/contracts';
import { z } from 'zod';
import { InvalidRequestError, type Issue } from './errors.ts';
import { normalisePostcode } from './postcode.ts';

/** "required" for a missing field, rather than zod's "expected string, received undefined". */
const requiredOr =
  (otherwise: string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'required' : otherwise;

const text = (max: number) =>
  z
    .string({ error: requiredOr('must be text') })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);

const optionalText = (max: number) =>
  z
    .string({ error: 'must be text or null' })
    .trim()
    .max(max, `must be at most ${max} characters`)
    .nullish()
    .transform((value) => (value ? value : null));

export const CreateResidentBody = z.strictObject({
  name: text(200),
  address: text(500),
  postcode: z.string({ error: requiredOr('must be text') }).transform((value, ctx) => {
    const normalised = normalisePostcode(value);
    if (!normalised) {
      ctx.addIssue({ code: 'custom', message: 'must be a UK postcode, like GL1 2AB' });
      return z.NEVER;
    }
    return normalised;
  }),
  phone: z
    .string({ error: 'must be text or null' })
    .trim()
    .regex(/^\+?[0-9][0-9 ()-]{5,22}[0-9]$/, 'must be a phone number: digits, spaces, +, (), -')
    .nullish()
    .transform((value) => value ?? null),
  livesAlone: z.boolean({ error: 'must be true or false' }).default(false),
});
export type CreateResidentBody = z.infer<typeof CreateResidentBody>;

export const CreateDeviceBody = z.strictObject({
  serial: z.string({ error: requiredOr('must be text') }).pipe(Serial),
  residentId: z
    .string({ error: 'must be a resident id or null' })
    .regex(idPattern('res'), 'must be a resident id (res_…)')
    .nullish()
    .transform((value) => value ?? null),
  kind: z.enum(DeviceKind.options, {
    error: requiredOr(`must be one of ${DeviceKind.options.join(', ')}`),
  }),
  protocol: z
    .enum(DeviceProtocol.options, { error: `must be one of ${DeviceProtocol.options.join(', ')}` })
    .default('mqtt'),
  location: optionalText(64),
  supervisionIntervalS: z
    .number({ error: 'must be a whole number of seconds or null' })
    .int('must be a whole number of seconds')
    .positive('must be more than 0')
    .max(7 * 24 * 3600, 'must be at most a week (604800)')
    .nullish()
    .transform((value) => value ?? null),
  model: optionalText(100),
});
export type CreateDeviceBody = z.infer<typeof CreateDeviceBody>;

const limit = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1000, 'must be at most 1000')
  .default(100);
const offset = z.coerce.number({ error: 'must be a number' }).int().min(0, 'must be 0 or more').default(0);

export const ListResidentsQuery = z.object({ limit, offset });
export const ListDevicesQuery = z.object({
  limit,
  offset,
  residentId: z.string().regex(idPattern('res'), 'must be a resident id (res_…)').optional(),
});

/**
 * Parses a request part, or throws an InvalidRequestError naming every field at fault. Unknown
 * fields are named one by one so a typo (`livesalone`) is not silently dropped.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  // A missing or non-object body still gets one issue per required field, not one for the body.
  const value = input === undefined || input === null ? {} : input;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues: Issue[] = [];
  for (const issue of result.error.issues) {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        issues.push({ path: at ? `${at}.${key}` : key, message: 'unknown field' });
    } else {
      issues.push({ path: at || '(body)', message: issue.message });
    }
  }
  throw new InvalidRequestError(issues);
}

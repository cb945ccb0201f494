import { z } from 'zod';
import { Dc09CodeOverrides, Dc09KeyEncoding } from '../dc09.ts';
import { DeviceProtocol, Serial } from '../device.ts';
import { idPattern } from '../ids.ts';
import { normalisePostcode } from '../postcode.ts';
import { DeviceKind } from '../taxonomy.ts';
import { canonicalTimeZone } from '../time-zone.ts';

/** "required" for a missing field, rather than zod's "expected string, received undefined". */
const requiredOr =
  (otherwise: string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'required' : otherwise;

// Text is kept in one Unicode form (NFC, `.normalize()`): "ë" typed as one character or as "e"
// and a combining mark is the same name, found by the same search and counted as one character.

const text = (max: number) =>
  z
    .string({ error: requiredOr('must be text') })
    .trim()
    .normalize('NFC')
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);

/**
 * Control characters (line breaks, tabs, bells; C0 and C1), the characters that reorder
 * displayed text (bidi embeddings, overrides and isolates), and the invisible ones (zero-width
 * space, word joiner and invisible operators, BOM, soft hyphen): a name with them can show on an
 * operator's screen as something else, break a line of a CSV a person opens, or look like one
 * registered while no search finds it. The zero-width joiners (U+200C, U+200D) stay: Persian and
 * Indic names are written with them.
 */
const HIDDEN = /[\p{Cc}\u202A-\u202E\u2066-\u2069\u200B\u2060-\u2064\uFEFF\u00AD]/u;

/** A person's name, one line of visible text. */
const personName = (max: number) =>
  text(max).refine(
    (value) => !HIDDEN.test(value),
    'must not contain control, invisible or text-direction characters',
  );

const optionalText = (max: number) =>
  z
    .string({ error: 'must be text or null' })
    .trim()
    .normalize('NFC')
    .max(max, `must be at most ${max} characters`)
    .nullish()
    .transform((value) => (value ? value : null));

const phone = z
  .string({ error: 'must be text or null' })
  .trim()
  .regex(/^\+?[0-9][0-9 ()-]{5,22}[0-9]$/, 'must be a phone number: digits, spaces, +, (), -');

/**
 * How the helpline speaks through a device (a home unit's speech line): a phone number, or a
 * sip:/sips: URI that a desk phone or softphone dials.
 */
const voiceUri = z
  .string({ error: 'must be text or null' })
  .trim()
  .max(200, 'must be at most 200 characters')
  .refine(
    (value) => /^\+?[0-9][0-9 ()-]{2,22}[0-9]$/.test(value) || /^sips?:[^\s<>"]+@?[^\s<>"]*$/.test(value),
    'must be a phone number or a sip: URI (sip:unit-42@pbx.example.org)',
  );

const postcode = z.string({ error: requiredOr('must be text') }).transform((value, ctx) => {
  const normalised = normalisePostcode(value);
  if (!normalised) {
    ctx.addIssue({ code: 'custom', message: 'must be a UK postcode, like GL1 2AB' });
    return z.NEVER;
  }
  return normalised;
});

/**
 * The resident's reference in the commissioning organisation's own records (`ref` in
 * residents.csv): unique, so a file imported again finds the resident instead of adding one.
 */
const externalRef = z
  .string({ error: 'must be text or null' })
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters');

/**
 * The first day a date of a person's care may be: PostgreSQL has no year 0000, and a century
 * typed short (0024 for 2024) would move a resident's figures by two thousand years.
 */
const FIRST_DAY = '1900-01-01';

const isoDate = z
  .string({ error: requiredOr('must be a date, YYYY-MM-DD') })
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD')
  // Date.parse takes 2025-02-30 as 2 March: a real date is one that comes back as itself.
  .refine((value) => {
    const parsed = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
  }, 'must be a real date')
  .refine((value) => value >= FIRST_DAY, 'must be 1900-01-01 or later');

/**
 * The first instant past the last a time may be: one its offset carries into the year 10000 in UTC
 * (9999-12-31 at -14:00) has no ISO-8601 form (`+010000-…`), and a bucket entry holding it is
 * refused whole by its readers.
 */
const PAST_LAST_INSTANT = Date.UTC(10000, 0, 1);

/** A time with its offset (any ISO-8601 offset, kept as the instant it names), from 1900 to 9999. */
const isoTime = z.iso
  .datetime({ offset: true, error: 'must be an ISO-8601 time with its offset' })
  .refine((value) => Date.parse(value) >= Date.parse(`${FIRST_DAY}T00:00:00Z`), 'must be 1900 or later')
  .refine((value) => Date.parse(value) < PAST_LAST_INSTANT, 'must be in 9999 or before, in UTC');

/**
 * When the resident was referred for telecare (the commissioners' comparison group is those
 * referred and not yet installed), and, for a resident whose telecare started before the registry
 * held them, the day it was first installed from the earlier records; otherwise the registry
 * records the first install itself when a device is installed. Neither may be in the future.
 */
const referralDates = {
  referredOn: isoDate.nullish().transform((value) => value ?? null),
  firstInstalledOn: isoDate.nullish().transform((value) => value ?? null),
};
const installNotBeforeReferral = {
  check: (body: { referredOn?: string | null; firstInstalledOn?: string | null }) =>
    !body.referredOn || !body.firstInstalledOn || body.firstInstalledOn >= body.referredOn,
  params: { path: ['firstInstalledOn'], message: 'must be on or after referredOn' },
};

/**
 * A creating POST's `Idempotency-Key` (the IETF draft's header): an opaque key of the caller's,
 * 1–255 visible ASCII characters. A retry with the same key, from the same token, route and body,
 * is answered with the first answer and does nothing again.
 */
export const RegistryIdempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key: 1–255 visible ASCII characters')
    .optional()
    .describe(
      "The client's key for this request: a retry with the same key (same token, route and body) within 24 h is answered with the first answer (Idempotent-Replayed: true) and does nothing again; the same key with another body or route is 422; a repeat while the first is at work is 409 with Retry-After",
    ),
});

export const CreateResidentBody = z
  .strictObject({
    externalRef: externalRef.nullish().transform((value) => value ?? null),
    name: personName(200),
    address: text(500),
    postcode,
    phone: phone.nullish().transform((value) => value ?? null),
    livesAlone: z.boolean({ error: 'must be true or false' }).default(false),
    mobilityNotes: optionalText(2000),
    riskNotes: optionalText(2000),
    /** Sensitive: stored encrypted, shown masked, revealed only through the audited reveal. */
    keySafe: optionalText(500),
    /** Sensitive, as keySafe. */
    medicalSummary: optionalText(4000),
    consent: z.boolean({ error: 'must be true or false' }).default(false),
    ...referralDates,
  })
  .refine(installNotBeforeReferral.check, installNotBeforeReferral.params);
export type CreateResidentBody = z.infer<typeof CreateResidentBody>;

/** Text that may be cleared: null or blank clears it, omitted leaves it. */
const clearableText = (max: number) =>
  z
    .string({ error: 'must be text or null' })
    .trim()
    .normalize('NFC')
    .max(max, `must be at most ${max} characters`)
    .transform((value) => (value ? value : null))
    .nullable()
    .optional();

/**
 * A change to a resident: omitted fields stay as they are; null clears an optional one. The
 * postcode is checked and normalised as on creation, and a new district follows into the device
 * map and DC-09 accounts of the resident's devices.
 */
export const UpdateResidentBody = z
  .strictObject({
    externalRef: externalRef.nullable().optional(),
    name: personName(200).optional(),
    address: text(500).optional(),
    postcode: postcode.optional(),
    phone: phone.nullable().optional(),
    livesAlone: z.boolean({ error: 'must be true or false' }).optional(),
    mobilityNotes: clearableText(2000),
    riskNotes: clearableText(2000),
    keySafe: clearableText(500),
    medicalSummary: clearableText(4000),
    consent: z.boolean({ error: 'must be true or false' }).optional(),
    /** Null clears it. */
    referredOn: isoDate.nullable().optional(),
    /** Only while no install is recorded: the first install never moves once set. */
    firstInstalledOn: isoDate.optional(),
  })
  .refine(installNotBeforeReferral.check, installNotBeforeReferral.params)
  .refine((body) => Object.keys(body).length > 0, { message: 'name at least one field to change' });
export type UpdateResidentBody = z.infer<typeof UpdateResidentBody>;

export const SENSITIVE_FIELDS = ['keySafe', 'medicalSummary'] as const;
export type SensitiveField = (typeof SENSITIVE_FIELDS)[number];

/** The person a service reveals for: who reads the value, as data the audit can be queried by. */
export const RevealActor = z.strictObject({
  id: z
    .string({ error: requiredOr('must be text') })
    .regex(/^[A-Za-z0-9_.:@-]{1,100}$/, 'must be a user id: letters, digits or _.:@-'),
  role: z.enum(['operator', 'supervisor', 'admin'], {
    error: requiredOr('must be operator, supervisor or admin'),
  }),
});
export type RevealActor = z.infer<typeof RevealActor>;

export const RevealBody = z.strictObject({
  fields: z
    .array(z.enum(SENSITIVE_FIELDS, { error: `must be one of ${SENSITIVE_FIELDS.join(', ')}` }), {
      error: requiredOr('must be a list of field names'),
    })
    .min(1, 'name at least one field'),
  reason: text(500),
  /** The helpline case the value is read for; required of the helpline's service token. */
  caseId: z
    .string({ error: 'must be text' })
    .regex(/^case_[A-Za-z0-9_-]{1,100}$/, 'must be a helpline case id (case_…)')
    .optional(),
  /** The person on that case; required of the helpline's service token. */
  actor: RevealActor.optional(),
});
export type RevealBody = z.infer<typeof RevealBody>;

export const CreateResponderBody = z.strictObject({
  name: personName(200),
  relationship: text(100),
  phone: z.string({ error: requiredOr('must be text') }).pipe(phone),
  /** 1-based place in the call order; omitted, the responder is called last. */
  order: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1).optional(),
});

export const CreateCarePackageBody = z
  .strictObject({
    hoursPerWeek: z
      .number({ error: requiredOr('must be a number of hours') })
      .min(0, 'must be 0 or more')
      .max(168, 'must be at most 168'),
    startDate: isoDate,
    endDate: isoDate.nullish().transform((value) => value ?? null),
  })
  .refine((body) => body.endDate === null || body.endDate >= body.startDate, {
    path: ['endDate'],
    message: 'must be on or after startDate',
  });

/** Key length by encoding: AES-128/192/256 (DC-09 §5.2). */
export function dc09KeyProblem(key: string, encoding: 'hex' | 'ascii'): string | undefined {
  if (encoding === 'hex') {
    if (!/^[0-9A-Fa-f]*$/.test(key)) return 'must be hex digits for keyEncoding hex';
    return [32, 48, 64].includes(key.length)
      ? undefined
      : `must be 32, 48 or 64 hex digits (AES-128/192/256) for hex encoding, not ${key.length}`;
  }
  return [16, 24, 32].includes(key.length)
    ? undefined
    : `must be 16, 24 or 32 characters (AES-128/192/256) for ascii encoding, not ${key.length}`;
}

const supervisionIntervalS = z
  .number({ error: 'must be a whole number of seconds or null' })
  .int('must be a whole number of seconds')
  .positive('must be more than 0')
  .max(7 * 24 * 3600, 'must be at most a week (604800)')
  .nullish()
  .transform((value) => value ?? null);

const residentRef = z
  .string({ error: 'must be a resident id or null' })
  .regex(idPattern('res'), 'must be a resident id (res_…)')
  .nullish()
  .transform((value) => value ?? null);

const dc09Account = z
  .string({ error: 'must be text or null' })
  .regex(/^[0-9A-Fa-f]{3,16}$/, 'must be 3–16 hex digits')
  .transform((value) => value.toUpperCase())
  .nullish()
  .transform((value) => value ?? null);

/**
 * Per-account code remapping for DC-09 (vendors that reuse codes): `{"CID 120": "fall.detected"}`.
 * Keys are upper-cased; each entry is checked against the contracts' Dc09CodeOverrides so the
 * gateway can never be handed one it refuses, with a message that names the code at fault.
 */
export const dc09CodeOverridesField = z
  .record(z.string(), z.unknown(), { error: 'must be an object of source code → event type' })
  .transform((value, ctx) => {
    const out: Record<string, unknown> = {};
    for (const [raw, type] of Object.entries(value)) {
      const code = raw.trim().replace(/\s+/g, ' ').toUpperCase();
      const checked = Dc09CodeOverrides.safeParse({ [code]: type });
      if (!checked.success) {
        const badKey = checked.error.issues.some((issue) => issue.code === 'invalid_key');
        ctx.addIssue({
          code: 'custom',
          path: [raw],
          message: badKey
            ? 'must be a source code: "CID " and 3 hex digits (Contact ID event, no qualifier) or "SIA " and 2 letters'
            : 'must be an event type of the taxonomy, like fall.detected',
        });
      }
      out[code] = type;
    }
    if (Object.keys(out).length > 256) ctx.addIssue({ code: 'custom', message: 'at most 256 codes' });
    return out;
  })
  .pipe(Dc09CodeOverrides);

const CLOCK_ZONE_ERROR =
  'must be an IANA time zone such as Europe/London (or Etc/GMT-1 for a clock an hour ahead all year), or null for UTC';

/**
 * The zone a DC-09 panel's clock is set to, when it is not UTC (see the DC-09 gateway's README):
 * one this runtime's time zone data knows, kept by its canonical name (`europe/london` and `GB`
 * are `Europe/London`).
 */
export const dc09ClockZoneField = z.string({ error: CLOCK_ZONE_ERROR }).transform((zone, ctx) => {
  const canonical = canonicalTimeZone(zone);
  if (canonical === undefined) {
    ctx.addIssue({ code: 'custom', message: CLOCK_ZONE_ERROR });
    return z.NEVER;
  }
  return canonical;
});

export const CreateDeviceBody = z
  .strictObject({
    serial: z.string({ error: requiredOr('must be text') }).pipe(Serial),
    residentId: residentRef,
    kind: z.enum(DeviceKind.options, {
      error: requiredOr(`must be one of ${DeviceKind.options.join(', ')}`),
    }),
    protocol: z
      .enum(DeviceProtocol.options, { error: `must be one of ${DeviceProtocol.options.join(', ')}` })
      .default('mqtt'),
    location: optionalText(64),
    supervisionIntervalS,
    model: optionalText(100),
    voiceUri: voiceUri.nullish().transform((value) => value ?? null),
    dc09Account,
    dc09Key: z
      .string({ error: 'must be text or null' })
      .nullish()
      .transform((value) => value ?? null),
    dc09KeyEncoding: z.enum(Dc09KeyEncoding.options, { error: 'must be hex or ascii' }).default('hex'),
    dc09CodeOverrides: dc09CodeOverridesField.default({}),
    dc09ClockZone: dc09ClockZoneField.nullish().transform((value) => value ?? null),
  })
  .superRefine((body, ctx) => {
    if (body.protocol !== 'dc09') {
      for (const field of ['dc09Account', 'dc09Key', 'dc09ClockZone'] as const) {
        if (body[field] !== null)
          ctx.addIssue({ code: 'custom', path: [field], message: 'only for protocol dc09' });
      }
      if (Object.keys(body.dc09CodeOverrides).length > 0) {
        ctx.addIssue({ code: 'custom', path: ['dc09CodeOverrides'], message: 'only for protocol dc09' });
      }
      return;
    }
    if (body.dc09Key !== null && body.dc09Account === null) {
      ctx.addIssue({ code: 'custom', path: ['dc09Account'], message: 'required with dc09Key' });
    }
    if (body.dc09Key !== null) {
      const problem = dc09KeyProblem(body.dc09Key, body.dc09KeyEncoding);
      if (problem) ctx.addIssue({ code: 'custom', path: ['dc09Key'], message: problem });
    }
  });
export type CreateDeviceBody = z.infer<typeof CreateDeviceBody>;

/** A change to a device; pairing is `residentId`. Omitted fields stay as they are. */
/** Why a DC-09 account without a key is refused, or undefined when it is allowed or keyed. */
export function keylessProblem(
  policy: 'refuse' | 'allow',
  account: string | null | undefined,
  keySet: boolean,
): string | undefined {
  if (policy === 'allow' || !account || keySet) return undefined;
  return 'a DC-09 account needs a key: without one, anyone who knows its number can send alarms as it (REGISTRY_DC09_KEYLESS=refuse)';
}

/**
 * Why a DC-09 key is refused when `holder` (`device <serial>`, or another line of an import) holds
 * it already (REGISTRY_DC09_SHARED_KEY=refuse). Names the holder, never the key.
 */
export function sharedKeyProblem(holder: string): string {
  return `the same DC-09 key as ${holder}: one key per panel, as a key read out of one panel would be the key of every account that shares it (REGISTRY_DC09_SHARED_KEY=refuse)`;
}

export const UpdateDeviceBody = z
  .strictObject({
    residentId: z
      .string({ error: 'must be a resident id or null' })
      .regex(idPattern('res'), 'must be a resident id (res_…)')
      .nullable()
      .optional(),
    location: z
      .string({ error: 'must be text or null' })
      .trim()
      .normalize('NFC')
      .max(64)
      .nullable()
      .optional(),
    supervisionIntervalS: z
      .number({ error: 'must be a whole number of seconds or null' })
      .int()
      .positive('must be more than 0')
      .max(7 * 24 * 3600)
      .nullable()
      .optional(),
    model: z.string({ error: 'must be text or null' }).trim().normalize('NFC').max(100).nullable().optional(),
    voiceUri: voiceUri.nullable().optional(),
    state: z
      .enum(['stock', 'installed', 'faulty'], { error: 'must be stock, installed or faulty' })
      .optional(),
    dc09Key: z.string({ error: 'must be text or null' }).nullable().optional(),
    dc09KeyEncoding: z.enum(Dc09KeyEncoding.options, { error: 'must be hex or ascii' }).optional(),
    /**
     * How long the key a new `dc09Key` replaces is still accepted beside it (a panel is re-keyed on
     * site, later), in seconds; `0`: refused at once (a revoked or compromised key). Default
     * `REGISTRY_DC09_KEY_GRACE_S`. Without `dc09Key`, it shortens or (`0`) ends the grace of the
     * previous key, counted from now.
     */
    dc09KeyGraceS: z
      .number({ error: 'must be a whole number of seconds' })
      .int('must be a whole number of seconds')
      .min(0, 'must be 0 or more')
      .max(30 * 24 * 3600, 'must be at most 30 days')
      .optional(),
    /** Replaces the whole set; `{}` clears it. DC-09 devices only. */
    dc09CodeOverrides: dc09CodeOverridesField.optional(),
    /** The zone the panel's clock is on; null: UTC. DC-09 devices only. */
    dc09ClockZone: dc09ClockZoneField.nullable().optional(),
  })
  .superRefine((body, ctx) => {
    if (body.dc09Key) {
      const problem = dc09KeyProblem(body.dc09Key, body.dc09KeyEncoding ?? 'hex');
      if (problem) ctx.addIssue({ code: 'custom', path: ['dc09Key'], message: problem });
    }
  });
export type UpdateDeviceBody = z.infer<typeof UpdateDeviceBody>;

export const StartTestBody = z.strictObject({
  timeoutS: z.number({ error: 'must be a whole number of seconds' }).int().min(1).max(3600).optional(),
});

export const HealthQuery = z.strictObject({
  overdue: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional()
    .transform((value) => value === 'true'),
  batteryBelow: z.coerce.number({ error: 'must be a number' }).min(0).max(100).optional(),
});

/**
 * `helpline-service` is the helpline's own token: it reads residents, devices and responders and
 * reveals naming a case and the person on it; people's roles do not reveal here.
 * `reports-service` is the reports service's token: it reads `GET /api/cohort` (districts, install
 * dates, care packages per resident id) and nothing else.
 */
export const API_ROLES = [
  'admin',
  'installer',
  'operator',
  'supervisor',
  'commissioner',
  'helpline-service',
  'reports-service',
] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** Roles held by a service, not a person: their tokens last a year unless set shorter. */
export const SERVICE_TOKEN_ROLES: readonly ApiRole[] = ['helpline-service', 'reports-service'];

/** Days a token works unless `expiresInDays` says otherwise: a person's 90, a service's 365. */
export const defaultTokenDays = (role: ApiRole): number => (SERVICE_TOKEN_ROLES.includes(role) ? 365 : 90);

export const CreateTokenBody = z.strictObject({
  name: text(100),
  role: z.enum(API_ROLES, { error: requiredOr(`must be one of ${API_ROLES.join(', ')}`) }),
  /** Unset: 90 days for a person's role, 365 for a service's (`defaultTokenDays`). */
  expiresInDays: z.number().int().min(1).max(365).optional(),
});

const limit = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1000, 'must be at most 1000')
  .default(100);
const offset = z.coerce.number({ error: 'must be a number' }).int().min(0, 'must be 0 or more').default(0);

const searchText = (max: number) =>
  z
    .string({ error: 'must be text' })
    .trim()
    .normalize('NFC')
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .optional();

/**
 * A page of residents, optionally filtered: `name` (contains, any case), `postcode` (the start of
 * a postcode, spaces and case ignored: `gl7`, `GL7 2BB`), `serial` (a device of theirs, any case),
 * `q` (any of those, or the external reference or id). Strict, as every list query here: a
 * misspelt filter read as absent would list every resident.
 */
export const ListResidentsQuery = z.strictObject({
  limit,
  offset,
  q: searchText(200),
  name: searchText(200),
  postcode: searchText(10),
  serial: searchText(64),
});
export type ListResidentsQuery = z.infer<typeof ListResidentsQuery>;
export const ListDevicesQuery = z.strictObject({
  limit,
  offset,
  residentId: z.string().regex(idPattern('res'), 'must be a resident id (res_…)').optional(),
});

/**
 * The largest import request, in bytes: both files as JSON strings. A few thousand residents with
 * notes, or some 40,000 short rows; the work grows with the rows (each written and each device
 * published in turn: about 5 ms a row on a busy 2-core machine), so a larger list is split.
 */
export const IMPORT_BODY_LIMIT = 4 * 1_048_576;

export const ImportBody = z.strictObject({
  /** residents.csv text (columns: import.ts RESIDENT_COLUMNS) */
  residents: z.string({ error: 'must be CSV text' }).max(IMPORT_BODY_LIMIT).optional(),
  /** devices.csv text (columns: import.ts DEVICE_COLUMNS) */
  devices: z.string({ error: 'must be CSV text' }).max(IMPORT_BODY_LIMIT).optional(),
  /** Import the rows that are valid even though others are not (default: nothing on any error). */
  importValid: z.boolean({ error: 'must be true or false' }).default(false),
});
export type ImportBody = z.infer<typeof ImportBody>;

/** `POST /api/residents/:id/away`: a period the resident is away (open-ended without `until`). */
export const CreateAwayBody = z
  .strictObject({
    from: isoTime,
    until: isoTime.nullish(),
    reason: z.enum(['holiday', 'hospital', 'respite', 'other'], {
      error: 'must be holiday, hospital, respite or other',
    }),
    /** Free text for the operators ("at her daughter's, 01632 960123"): kept in the registry only. */
    note: z.string().max(500, 'must be at most 500 characters').nullish(),
  })
  .refine((body) => !body.until || Date.parse(body.until) > Date.parse(body.from), {
    path: ['until'],
    message: 'must be after from',
  });
export type CreateAwayBody = z.infer<typeof CreateAwayBody>;

/** `POST /api/residents/:id/away/:awayId/end`: ended now, or at `at`. */
export const EndAwayBody = z.strictObject({
  at: isoTime.optional(),
});
export type EndAwayBody = z.infer<typeof EndAwayBody>;

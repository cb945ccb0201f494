import { z } from 'zod';
import { Dc09CodeOverrides, Dc09KeyEncoding } from '../dc09.ts';
import { DeviceProtocol, DeviceState } from '../device.ts';
import { DeviceKind } from '../taxonomy.ts';
import {
  CreateAwayBody,
  CreateCarePackageBody,
  CreateDeviceBody,
  CreateResidentBody,
  CreateResponderBody,
  CreateTokenBody,
  EndAwayBody,
  HealthQuery,
  IMPORT_BODY_LIMIT,
  ImportBody,
  ListDevicesQuery,
  ListResidentsQuery,
  RegistryIdempotencyHeaders,
  RevealBody,
  StartTestBody,
  UpdateDeviceBody,
  UpdateResidentBody,
} from './registry-schemas.ts';
import { ApiError, defineRoute } from './route.ts';

// Answers are loose objects: a field added to an answer is not a break for an older client.

const at = z.string();

/**
 * What a creating POST that takes an `Idempotency-Key` adds to its contract: the header, its
 * refusals (409 still at work, 422 reused, 429 too many keys held) and the replay's answer header.
 */
const idempotent = {
  headers: RegistryIdempotencyHeaders,
  responseHeaders: {
    'Idempotent-Replayed':
      '`true` when this is the kept answer to an earlier request with the same Idempotency-Key (nothing was done again)',
  },
} as const;
const IDEMPOTENT_ERRORS = [409, 422, 429] as const;
const nullableText = z.string().nullable();

/** A resident as the API shows it; the sensitive fields masked (`••••••`) or null. */
export const ResidentView = z.looseObject({
  id: z.string(),
  externalRef: nullableText,
  name: z.string(),
  address: z.string(),
  postcode: z.string(),
  postcodeDistrict: z.string(),
  phone: nullableText,
  livesAlone: z.boolean(),
  mobilityNotes: nullableText,
  riskNotes: nullableText,
  keySafe: nullableText,
  medicalSummary: nullableText,
  consent: z.boolean(),
  consentAt: at.nullable(),
  /** When the resident was referred for telecare (a day), if recorded. */
  referredOn: nullableText.optional(),
  /** When a device was first installed in the home; null while none has been. */
  firstInstalledAt: at.nullable().optional(),
  createdAt: at,
  updatedAt: at,
});
export type ResidentView = z.infer<typeof ResidentView>;

/** A device as the API shows it; its DC-09 key and MQTT secret never. */
export const DeviceView = z.looseObject({
  id: z.string(),
  serial: z.string(),
  residentId: nullableText,
  kind: DeviceKind,
  model: nullableText,
  voiceUri: nullableText,
  protocol: DeviceProtocol,
  location: nullableText,
  supervisionIntervalS: z.number().nullable(),
  state: DeviceState,
  testMode: z.boolean(),
  dc09Account: nullableText,
  dc09KeyEncoding: Dc09KeyEncoding,
  dc09KeySet: z.boolean(),
  /** Until when the key the last key change replaced is still accepted beside it; null: none is. */
  dc09PreviousKeyUntil: at.nullable(),
  dc09CodeOverrides: Dc09CodeOverrides,
  /** The zone the DC-09 panel's clock is on (IANA name); null: UTC, as DC-09 says. */
  dc09ClockZone: nullableText.optional(),
  credentialIssuedAt: at.nullable(),
  decommissionedAt: at.nullable(),
  createdAt: at,
  updatedAt: at,
});
export type DeviceView = z.infer<typeof DeviceView>;

/** A device with its MQTT login, in the one answer that issues the secret. */
export const IssuedDevice = DeviceView.extend({
  credentials: z.object({ username: z.string(), secret: z.string() }).optional(),
});
export type IssuedDevice = z.infer<typeof IssuedDevice>;

export const ResponderView = z.looseObject({
  id: z.string(),
  name: z.string(),
  relationship: z.string(),
  phone: z.string(),
  order: z.number(),
});
export const Responders = z.looseObject({ responders: z.array(ResponderView) });

export const CarePackageView = z.looseObject({
  id: z.string(),
  residentId: z.string(),
  hoursPerWeek: z.number(),
  startDate: z.string(),
  endDate: nullableText,
});

/** A declared away period as the API shows it, with who set it and who ended it. */
export const AwayView = z.looseObject({
  id: z.string(),
  residentId: z.string(),
  from: at,
  until: at.nullable(),
  reason: z.enum(['holiday', 'hospital', 'respite', 'other']),
  note: nullableText,
  setBy: z.string(),
  setAt: at,
  endedBy: nullableText,
  endedAt: at.nullable(),
});
export type AwayView = z.infer<typeof AwayView>;

/**
 * A message of the device a gateway refused (DEADLETTER): the reason and the gateway's own words,
 * never the bytes; `deadLetterId` finds the letter itself.
 */
export const DeviceRefusalView = z.looseObject({
  reason: z.string(),
  detail: z.string(),
  at,
  deadLetterId: z.string(),
});
export type DeviceRefusalView = z.infer<typeof DeviceRefusalView>;

/**
 * A life-critical alarm stored although the device's registered kind does not report it
 * (`mayReport`): its type, the kind, the installer's words (`detail`), its event time and event id.
 */
export const KindMismatchView = z.looseObject({
  type: z.string(),
  kind: z.string(),
  detail: z.string(),
  at,
  eventId: z.string(),
});
export type KindMismatchView = z.infer<typeof KindMismatchView>;

export const TestCallView = z.looseObject({
  id: z.string(),
  serial: z.string(),
  kind: DeviceKind,
  expected: z.array(z.string()),
  action: z.string(),
  status: z.enum(['waiting', 'passed', 'failed', 'cancelled']),
  progress: z.string(),
  connectedAt: at.nullable(),
  arrived: z.array(
    z.looseObject({
      type: z.string(),
      at,
      eventId: z.string(),
      trigger: z.boolean(),
      /** A DC-09 message read only with its account's previous key, in the grace after a key change. */
      previousKey: z.literal(true).optional(),
    }),
  ),
  /** The device's messages refused during the call (at most 20, the newest kept), oldest first. */
  refused: z.array(DeviceRefusalView),
  /** Alarms stored although the device's registered kind does not report them (at most 20), oldest first. */
  mismatched: z.array(KindMismatchView),
  /** What the installer should still put right although the call passed. */
  warnings: z.array(z.string()),
  startedAt: at,
  deadline: at,
  finishedAt: at.nullable(),
  reason: nullableText,
  eventId: nullableText,
  eventType: nullableText,
  latencyMs: z.number().nullable(),
  batteryPercent: z.number().nullable(),
  signalDbm: z.number().nullable(),
});
export type TestCallView = z.infer<typeof TestCallView>;

export const DeviceHealthView = z.looseObject({
  serial: z.string(),
  residentId: nullableText,
  state: z.string(),
  supervisionIntervalS: z.number().nullable(),
  lastEventAt: at.nullable(),
  lastEventType: nullableText,
  lastHeartbeatAt: at.nullable(),
  batteryPercent: z.number().nullable(),
  mains: z.boolean().nullable(),
  signalDbm: z.number().nullable(),
  lastPendantAt: at.nullable(),
  overdue: z.boolean(),
  overdueSince: at.nullable(),
  /** The device's messages refused by a gateway over the last 24 hours, and the latest of them. */
  refusedLast24h: z.number(),
  lastRefusal: DeviceRefusalView.nullable(),
  /** The latest life-critical alarm stored although the device's kind does not report it, over the last 24 hours. */
  lastKindMismatch: KindMismatchView.nullable(),
  /**
   * The device's login found in use from two places (gateway-mqtt's `device.login-contested`: taken
   * over again and again between more than one address), the latest, until a new secret is issued.
   */
  lastLoginContested: z
    .looseObject({
      at,
      eventId: z.string(),
      takeovers: z.number().nullable(),
      addresses: z.number().nullable(),
    })
    .nullable(),
  /**
   * How many such alarms over the last 24 hours (each event once, counted to the minute), and the
   * first and last seen (event time): one that keeps coming is told from one that came once.
   */
  kindMismatchesLast24h: z.looseObject({ count: z.number(), firstAt: at, lastAt: at }).nullable(),
  /**
   * While a DC-09 account's previous key is in its grace after a key change: until when, and when a
   * message last came with it since the change (null: none yet) — the panel is not re-keyed yet.
   * Null otherwise.
   */
  dc09PreviousKey: z.looseObject({ until: at, lastUsedAt: at.nullable() }).nullable(),
});
export type DeviceHealthView = z.infer<typeof DeviceHealthView>;

export const ImportResultView = z.looseObject({
  imported: z.boolean(),
  residents: z.array(
    z.looseObject({
      line: z.number(),
      ref: z.string(),
      id: z.string(),
      action: z.string(),
      fields: z.array(z.string()),
    }),
  ),
  devices: z.array(
    z.looseObject({ line: z.number(), serial: z.string(), action: z.string(), fields: z.array(z.string()) }),
  ),
  credentials: z
    .array(z.looseObject({ serial: z.string(), username: z.string(), secret: z.string() }))
    .optional(),
  errors: z.array(
    z.looseObject({ file: z.string(), line: z.number(), field: z.string(), message: z.string() }),
  ),
  pending: z
    .number()
    .int()
    .optional()
    .describe(
      "devices whose device-map or DC-09 account entry was not yet published when the import answered (NATS not reached): each is tried again with backoff, and the registry's start-up sync writes anything left; absent when none is (the answer is then the one an Idempotency-Key replays), on a refused import and on a replay",
    ),
});
export type ImportResultView = z.infer<typeof ImportResultView>;

const ResidentId = z.object({ id: z.string() });
const SerialParams = z.object({ serial: z.string() });

/** The role × endpoint matrix of docs/security.md, one list per kind of access. */
const WRITE = ['admin', 'installer'] as const;
const REVEAL = ['admin', 'helpline-service'] as const;
const ADMIN = ['admin'] as const;
/** Identifiable resident data, one record at a time. */
const READ_PERSON = ['admin', 'installer', 'operator', 'supervisor', 'helpline-service'] as const;
/** Every resident at once: not the helpline's token, which reads the residents its cases name. */
const LIST_PEOPLE = ['admin', 'installer', 'operator', 'supervisor'] as const;
/** Devices carry resident ids and rooms, no names. */
const READ_DEVICES = READ_PERSON;
/**
 * Device health (battery, mains, overdue): each row names the resident and when they last pressed,
 * so it is read as devices are. Commissioners' fault figures are the reports service's aggregates.
 */
const READ_HEALTH = READ_DEVICES;
/** Per resident id, nothing that identifies them: the reports service's one read. */
const READ_COHORT = ['admin', 'reports-service'] as const;
/** Who may declare a resident away or end it: the people told so (operators), installers, admin. */
const SET_AWAY = ['admin', 'installer', 'operator', 'supervisor'] as const;

/**
 * One resident as the reports service sees them: no name, address, phone or note. `registeredAt`
 * is when the resident was entered; `referredOn` when they were referred for telecare (a day, null
 * when not recorded): the referred with no install yet are the reports' comparison group.
 */
export const CohortResidentView = z.object({
  residentId: z.string(),
  postcodeDistrict: z.string(),
  registeredAt: z.string(),
  referredOn: z.string().nullable(),
  /** When a device was first installed in the home; null while none has been. */
  firstInstalledAt: z.string().nullable(),
  carePackages: z.array(z.object({ hoursPerWeek: z.number(), from: z.string(), to: z.string().nullable() })),
});
export type CohortResidentView = z.infer<typeof CohortResidentView>;

/** Residents, their responders and care packages. */
export const RESIDENT_ROUTES = {
  createResident: defineRoute({
    method: 'POST',
    path: '/api/residents',
    summary: 'Register a resident',
    roles: WRITE,
    body: CreateResidentBody,
    response: ResidentView,
    status: 201,
    errors: IDEMPOTENT_ERRORS,
    ...idempotent,
  }),
  updateResident: defineRoute({
    method: 'PATCH',
    path: '/api/residents/{id}',
    summary: "Change a resident's record; a new postcode district follows into the device map",
    roles: WRITE,
    params: ResidentId,
    body: UpdateResidentBody,
    response: ResidentView,
    errors: [404, 409, 422, 507],
  }),
  listResidents: defineRoute({
    method: 'GET',
    path: '/api/residents',
    summary: 'A page of residents, filtered by name, postcode, serial or any of them (q)',
    roles: LIST_PEOPLE,
    query: ListResidentsQuery,
    response: z.looseObject({
      residents: z.array(ResidentView),
      total: z.number(),
      limit: z.number(),
      offset: z.number(),
    }),
  }),
  getResident: defineRoute({
    method: 'GET',
    path: '/api/residents/{id}',
    summary: 'One resident, sensitive fields masked',
    roles: READ_PERSON,
    params: ResidentId,
    response: ResidentView,
    errors: [404],
  }),
  revealResident: defineRoute({
    method: 'POST',
    path: '/api/residents/{id}/reveal',
    summary: 'Read sensitive fields (key safe, medical summary); audited, rate-limited',
    roles: REVEAL,
    params: ResidentId,
    body: RevealBody,
    response: z.looseObject({
      residentId: z.string(),
      keySafe: nullableText.optional(),
      medicalSummary: nullableText.optional(),
    }),
    errors: [404, 429],
  }),
  residentAudit: defineRoute({
    method: 'GET',
    path: '/api/residents/{id}/audit',
    summary: 'Who read which sensitive field, when, for which case and why',
    roles: ADMIN,
    params: ResidentId,
    response: z.looseObject({ reads: z.array(z.looseObject({ field: z.string(), at })) }),
    errors: [404],
  }),
  listResponders: defineRoute({
    method: 'GET',
    path: '/api/residents/{id}/responders',
    summary: "A resident's responders in call order",
    roles: READ_PERSON,
    params: ResidentId,
    response: Responders,
    errors: [404],
  }),
  addResponder: defineRoute({
    method: 'POST',
    path: '/api/residents/{id}/responders',
    summary: 'Add a responder (at a place in the call order, or last)',
    roles: WRITE,
    params: ResidentId,
    body: CreateResponderBody,
    response: Responders,
    status: 201,
    errors: [404, ...IDEMPOTENT_ERRORS],
    ...idempotent,
  }),
  removeResponder: defineRoute({
    method: 'DELETE',
    path: '/api/residents/{id}/responders/{responderId}',
    summary: 'Remove a responder',
    roles: WRITE,
    params: z.object({ id: z.string(), responderId: z.string() }),
    response: Responders,
    errors: [404],
  }),
  listCarePackages: defineRoute({
    method: 'GET',
    path: '/api/residents/{id}/care-packages',
    summary: "A resident's care packages",
    roles: READ_PERSON,
    params: ResidentId,
    response: z.looseObject({ carePackages: z.array(CarePackageView) }),
    errors: [404],
  }),
  addCarePackage: defineRoute({
    method: 'POST',
    path: '/api/residents/{id}/care-packages',
    summary: 'Record a care package (hours per week, from, to)',
    roles: WRITE,
    params: ResidentId,
    body: CreateCarePackageBody,
    response: CarePackageView,
    status: 201,
    errors: [404, ...IDEMPOTENT_ERRORS],
    ...idempotent,
  }),
  listAway: defineRoute({
    method: 'GET',
    path: '/api/residents/{id}/away',
    summary: "A resident's declared away periods (latest first)",
    roles: READ_PERSON,
    params: ResidentId,
    response: z.looseObject({ away: z.array(AwayView) }),
    errors: [404],
  }),
  setAway: defineRoute({
    method: 'POST',
    path: '/api/residents/{id}/away',
    summary: 'Declare the resident away (holiday, hospital, respite, other), from, until or open-ended',
    roles: SET_AWAY,
    params: ResidentId,
    body: CreateAwayBody,
    response: AwayView,
    status: 201,
    errors: [404, ...IDEMPOTENT_ERRORS, 507],
    ...idempotent,
  }),
  endAway: defineRoute({
    method: 'POST',
    path: '/api/residents/{id}/away/{awayId}/end',
    summary: 'End a declared away period now (or at a given time)',
    roles: SET_AWAY,
    params: z.object({ id: z.string(), awayId: z.string() }),
    body: EndAwayBody,
    response: AwayView,
    errors: [404, 409, 507],
  }),
  cohort: defineRoute({
    method: 'GET',
    path: '/api/cohort',
    summary:
      "Per resident id: postcode district, registration and first-install dates, care packages (the reports service's read; nothing that identifies)",
    roles: READ_COHORT,
    response: z.object({ residents: z.array(CohortResidentView) }),
  }),
};

/** Devices: registration, pairing, credentials, decommissioning, test calls and health. */
export const DEVICE_ROUTES = {
  createDevice: defineRoute({
    method: 'POST',
    path: '/api/devices',
    summary: 'Register a device; an MQTT device gets its broker login in this answer only',
    roles: WRITE,
    body: CreateDeviceBody,
    response: IssuedDevice,
    status: 201,
    errors: [409, 422, 429, 503, 507],
    ...idempotent,
  }),
  listDevices: defineRoute({
    method: 'GET',
    path: '/api/devices',
    summary: 'Devices, optionally of one resident',
    roles: READ_DEVICES,
    query: ListDevicesQuery,
    response: z.looseObject({ devices: z.array(DeviceView) }),
  }),
  devicesHealth: defineRoute({
    method: 'GET',
    path: '/api/devices/health',
    summary: 'Health of devices in service (battery, mains, last heartbeat, overdue)',
    roles: READ_HEALTH,
    query: HealthQuery,
    response: z.looseObject({ devices: z.array(DeviceHealthView) }),
  }),
  getDevice: defineRoute({
    method: 'GET',
    path: '/api/devices/{serial}',
    summary: 'One device',
    roles: READ_DEVICES,
    params: SerialParams,
    response: DeviceView,
    errors: [404],
  }),
  updateDevice: defineRoute({
    method: 'PATCH',
    path: '/api/devices/{serial}',
    summary:
      'Change a device; pairing is residentId. An MQTT device that leaves its resident gets a new broker login, in this answer only',
    roles: WRITE,
    params: SerialParams,
    body: UpdateDeviceBody,
    response: IssuedDevice,
    errors: [404, 409, 422, 503, 507],
  }),
  issueCredentials: defineRoute({
    method: 'POST',
    path: '/api/devices/{serial}/credentials',
    summary: 'Issue a new MQTT secret (shown once); the broker forgets the old one',
    roles: WRITE,
    params: SerialParams,
    response: IssuedDevice,
    status: 201,
    errors: [404, 409, 422, 429, 503],
    ...idempotent,
  }),
  decommissionDevice: defineRoute({
    method: 'POST',
    path: '/api/devices/{serial}/decommission',
    summary: 'Take a device out of service; its broker login is revoked',
    roles: WRITE,
    params: SerialParams,
    response: DeviceView,
    errors: [404, 409, 503, 507],
  }),
  startTest: defineRoute({
    method: 'POST',
    path: '/api/devices/{serial}/test',
    summary:
      "Start a test call: the device's next trigger event passes it. A token holds at most REGISTRY_TESTS_PER_TOKEN waiting at once (429 with Retry-After past it; the admin token aside)",
    roles: WRITE,
    params: SerialParams,
    body: StartTestBody,
    response: TestCallView,
    status: 201,
    errors: [404, 409, 422, 429, 507],
    ...idempotent,
  }),
  getTest: defineRoute({
    method: 'GET',
    path: '/api/devices/{serial}/test',
    summary: "The device's latest test call and how far it got",
    roles: READ_DEVICES,
    params: SerialParams,
    response: TestCallView,
    errors: [404],
  }),
  cancelTest: defineRoute({
    method: 'DELETE',
    path: '/api/devices/{serial}/test',
    summary: 'Cancel the waiting test call',
    roles: WRITE,
    params: SerialParams,
    response: TestCallView,
    errors: [404, 507],
  }),
  deviceHealth: defineRoute({
    method: 'GET',
    path: '/api/devices/{serial}/health',
    summary: "One device's health",
    roles: READ_HEALTH,
    params: SerialParams,
    response: DeviceHealthView,
    errors: [404, 409],
  }),
};

/** Bulk import and API tokens. */
export const ADMIN_ROUTES = {
  importCsv: defineRoute({
    method: 'POST',
    path: '/api/import',
    summary: 'Import residents.csv and devices.csv (all or nothing, unless importValid)',
    roles: WRITE,
    body: ImportBody,
    bodyLimit: IMPORT_BODY_LIMIT,
    response: ImportResultView,
    // 422: a refused file (its rows' errors), or a refusal of the request (its Idempotency-Key reused).
    responses: { 422: z.union([ImportResultView, ApiError]) },
    errors: [409, 429],
    ...idempotent,
  }),
  createToken: defineRoute({
    method: 'POST',
    path: '/api/tokens',
    summary: 'Issue an API token with a role (shown once; only its hash is kept)',
    roles: ADMIN,
    body: CreateTokenBody,
    response: z.looseObject({
      id: z.string(),
      name: z.string(),
      role: z.string(),
      createdAt: at,
      expiresAt: at,
      token: z.string(),
    }),
    status: 201,
    errors: IDEMPOTENT_ERRORS,
    ...idempotent,
  }),
  revokeToken: defineRoute({
    method: 'DELETE',
    path: '/api/tokens/{id}',
    summary: 'Revoke an API token at once',
    roles: ADMIN,
    params: z.object({ id: z.string() }),
    response: z.looseObject({ id: z.string(), revoked: z.literal(true) }),
    errors: [404, 507],
  }),
};

/** The registry's API as OpenAPI names it; the document itself comes from `REGISTRY_ROUTES`. */
export const REGISTRY_API = {
  title: 'telecare registry',
  version: '1',
  description: 'Residents, devices, responders, care packages, test calls and device health.',
};

/** Every route of the registry's API. */
export const REGISTRY_ROUTES = { ...RESIDENT_ROUTES, ...DEVICE_ROUTES, ...ADMIN_ROUTES };
export type RegistryRoutes = typeof REGISTRY_ROUTES;

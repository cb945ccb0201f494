export { Alert, RuleRef } from './alert.ts';
export { asyncApiDocument } from './asyncapi.ts';
export { AwayPeriod, AwayReason, ResidentAwayEntry } from './away.ts';
export {
  Because,
  CASE_FACTS,
  Case,
  CaseEvent,
  CaseFact,
  CaseState,
  FLOOR_TIME_SOURCES,
  FloorTimeSource,
  OUTCOMES,
  Outcome,
} from './case.ts';
export { type CsvValue, csvCell, csvRow } from './csv.ts';
export {
  Dc09AccountEntry,
  Dc09AccountId,
  Dc09CodeOverrides,
  Dc09KeyEncoding,
  PAD_BROKEN_REASON,
} from './dc09.ts';
export {
  DeadLetter,
  RejectReason,
  type RepairedAlarm,
  readRepairedAlarm,
  repairedAlarmDetail,
} from './deadletter.ts';
export {
  DeviceAck,
  DeviceConfig,
  DeviceEventPayload,
  DeviceMapEntry,
  DeviceProtocol,
  DeviceState,
  DeviceStatus,
  dataTooLarge,
  EVENT_DATA_SCHEMAS,
  MAX_EVENT_DATA_BYTES,
  PreviousPairing,
  Serial,
} from './device.ts';
export {
  type AttributedTime,
  ambiguousTimeReason,
  attributeEvent,
  type DevicePairings,
  eventTimeOf,
  MAX_CLOCK_AHEAD_MS,
  MAX_CLOCK_BEHIND_MS,
  MOVED_CLOCK_MARGIN_MS,
  MOVED_DEVICE_REASON,
  PAIRING_CLOCK_TOLERANCE_MS,
  type UnpairedTime,
} from './device-clock.ts';
export { DEVICE_KIND_LABELS, deviceKindLabel } from './device-kinds.ts';
export { TelecareEvent } from './envelope.ts';
export {
  type Answer,
  ApiCallError,
  type CallInput,
  type Client,
  type ClientOptions,
  createClient,
  type PagedCall,
  type RouteCall,
} from './http/client.ts';
export * from './http/helpline.ts';
export * from './http/helpline-schemas.ts';
export * from './http/registry.ts';
export * from './http/registry-schemas.ts';
export * from './http/reports.ts';
export {
  type AnyRoute,
  ApiError,
  defineRoute,
  Empty,
  fastifyPath,
  type HttpMethod,
  type IsPaged,
  type IsRaw,
  isPaged,
  nextPageLink,
  nextPageOf,
  type RouteDefinition,
  type RouteRoles,
  type RouteTable,
} from './http/route.ts';
export {
  EVENT_INDEX_CAP,
  EventIndexView,
  RulesInForceView,
  TRIAGE_API,
  TRIAGE_ROUTES,
  type TriageRoutes,
} from './http/triage.ts';
export {
  alertIdFor,
  eventIdFor,
  eventIdOfKey,
  type IdKind,
  idPattern,
  newId,
  securityEventIdFor,
} from './ids.ts';
export {
  DEFAULT_NAMESPACE,
  type DeviceTopics,
  deviceTopics,
  NAMESPACE_PATTERN,
  type Names,
  names,
  partitionOf,
} from './names.ts';
export { normalisePostcode, postcodeDistrict } from './postcode.ts';
export { SECURITY_EVENT_KINDS, SecurityEvent, SecurityEventKind } from './security.ts';
export {
  type AlertAbout,
  DEVICE_EVENT_TYPES,
  DEVICE_KINDS,
  DeviceEventTypeSchema,
  DeviceKind,
  defaultPriority,
  EVENT_TYPES,
  EVERY_DEVICE_REPORTS,
  type EventCategory,
  type EventType,
  type EventTypeInfo,
  EventTypeSchema,
  isEventType,
  isPress,
  isUnexpectedKindAlarm,
  KIND_REPORTS,
  mayReport,
  PRESS_TYPES,
  Priority,
  TAXONOMY,
  unexpectedKindReason,
} from './taxonomy.ts';
export {
  CONNECTION_ONLY_TYPES,
  TEST_TRIGGERS,
  type TestTrigger,
  testTriggerOf,
} from './test-triggers.ts';
export { canonicalTimeZone, wallClockFormat, wallClockMs } from './time-zone.ts';

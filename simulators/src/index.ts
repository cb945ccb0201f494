export {
  type CohortPlan,
  DEMO_COHORT,
  type EnsuredCohort,
  ensureCohort,
  episodesCsv,
  planCohort,
  sendEpisodes,
} from './cohort.ts';
export {
  Dc09Dialler,
  Dc09Panel,
  type DialerEvent,
  DialFailedError,
  type DiallerOptions,
  type DialResult,
  decodeReply,
  dialerKey,
  encodeMessage as encodeDc09Message,
  frame as dc09Frame,
  type MessageParts as Dc09MessageParts,
  type OnFirstSend,
  type PanelAck,
  type PanelOptions,
} from './dc09/index.ts';
export {
  AckTimeoutError,
  type DeviceOptions,
  EventRejectedError,
  type SentDeviceEvent,
  type SentEvent,
  SimulatedDevice,
} from './device.ts';
export {
  DISPERSER_CODE_OVERRIDES,
  DISPERSER_DEVICES,
  type DisperserOptions,
  DisperserSink,
  viaDisperser,
} from './disperser.ts';
export {
  type DriveOptions,
  type DriveResult,
  driveAccelerated,
  type EventSink,
  type SimClock,
} from './driver.ts';
export { type HomeOptions, SimulatedHome } from './home.ts';
export {
  type HomeOutcome,
  type LiveHomes,
  type LiveOptions,
  registerLiveHomes,
  runLiveHomes,
} from './live.ts';
export {
  devicePayload,
  driveLoad,
  type LoadHome,
  type LoadOptions,
  type LoadResult,
  loadEventId,
  mainsStorm,
} from './load.ts';
export { MqttPool, type PoolOptions } from './pool.ts';
export { pick, seededRandom } from './random.ts';
export { type NewDevice, type NewResident, RegistryClient } from './registry-client.ts';
export { type CarePlan, carePlanOf } from './resident/care-plan.ts';
export {
  ALL_SCENARIOS,
  type BuiltScenario,
  buildScenario,
  learningOf,
  SCENARIOS,
  type ScenarioSpec,
} from './resident/corpus.ts';
export type { Actor, Expectation, SimEvent } from './resident/events.ts';
export {
  type DeviceKey,
  type DeviceSpec,
  deviceSpec,
  HOME_DEVICES,
  type HomeSpec,
  serialOf,
} from './resident/household.ts';
export {
  applyIncident,
  INCIDENT_KINDS,
  IncidentError,
  type IncidentKind,
  type IncidentSpec,
} from './resident/incidents.ts';
export { PROFILE_NAMES, PROFILES, type Profile, type ProfileName } from './resident/profiles.ts';
export { DAY, dayPlan, HOUR, homeTimeline, MINUTE, residentDay, type Timeline } from './resident/routine.ts';
export {
  formatScorecard,
  type IncidentScore,
  type KindRow,
  learnedFigures,
  lifeCriticalFailures,
  MISSED_STATUSES,
  type RaisedAlert,
  type Scorecard,
  score,
  scorecardFigures,
} from './scorecard.ts';

import type { EventType, Priority } from '@telecare/contracts';
import type { DeviceKey } from './household.ts';

/** Who caused an event: lets an incident remove what a person would no longer do. */
export type Actor = 'resident' | 'carer' | 'visitor' | 'device' | 'environment';

/** One thing a device in a simulated home sends, at a simulated time (epoch ms). */
export interface SimEvent {
  readonly at: number;
  readonly home: string;
  readonly device: DeviceKey;
  readonly type: EventType;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly actor: Actor;
  /** Groups the events of one episode (a carer visit, a dose) so an incident can remove it. */
  readonly tag?: string;
  /** The incident that injected it. */
  readonly incident?: string;
  /** `dc09`: sent by the home's DC-09 disperser, not the device's own MQTT connection. */
  readonly via?: 'dc09';
}

/**
 * Ground truth for one incident: what the platform should raise, how urgently and by when.
 * See simulators/README.md for how the scorecard matches alerts to it.
 */
export interface Expectation {
  readonly incidentId: string;
  /** The incident type the scorecard groups by (`fall.detector-and-press`, `cold-home`…). */
  readonly kind: string;
  /** Home keys of the residents it concerns; an area incident lists every home in the area. */
  readonly homes: readonly string[];
  /** When it happened (simulated epoch ms). */
  readonly at: number;
  /** Any one of these alert types detects it. Empty: the platform should raise nothing. */
  readonly expect: readonly EventType[];
  /** Alerts of these types that belong to the incident without detecting it. */
  readonly related: readonly EventType[];
  readonly priority: Priority;
  /** Detected only when the first expected alert is raised within this many seconds of `at`. */
  readonly deadlineS: number;
  readonly lifeCritical: boolean;
  /** Area incidents are matched by type and time across `homes`, whichever resident it names. */
  readonly area?: boolean;
  /**
   * When the incident's effects end (simulated epoch ms): a resident lying on the floor misses
   * doses and wake-up checks for as long as that. Alerts of a `related` type raised before this
   * (and up to an hour after) still belong to the incident.
   */
  readonly until?: number;
  /**
   * The detecting alert must also be closed, with this outcome (an alert whose `closes` names
   * it): a press cancelled in the pre-alarm window is raised, then closed as a false alarm.
   */
  readonly closedAs?: 'false-alarm' | 'restored';
  readonly note: string;
}

export const byTime = (a: SimEvent, b: SimEvent): number =>
  a.at - b.at ||
  (a.home < b.home ? -1 : a.home > b.home ? 1 : 0) ||
  (a.device < b.device ? -1 : a.device > b.device ? 1 : 0);

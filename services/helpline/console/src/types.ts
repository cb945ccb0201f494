/**
 * What the helpline's API and stream send the console: the route contracts' answers
 * (`@telecare/contracts`, imported as types only, so none of the schemas goes into the bundle: the
 * device kinds in words come from `@telecare/contracts/device-kinds`, which holds no schema), and
 * the registry's records as the case's context passes them on.
 */
import type {
  AnswerStatsView,
  Because,
  CaseAlertsView,
  CaseDetail as CaseDetailView,
  CaseEvent,
  CaseJoinsView,
  CaseNotesView,
  CaseState,
  ContextResponder,
  HelplineCase,
  Presence,
  QueueNamesView,
  TimelineView,
  UserView,
} from '@telecare/contracts';
import type { z } from 'zod';

export type { Because, CaseAlertsView, CaseEvent, CaseJoinsView, CaseNotesView, CaseState, Presence };
export const OPEN_STATES: readonly CaseState[] = ['queued', 'offered', 'accepted', 'on_hold'];
export const isOpen = (state: CaseState): boolean => OPEN_STATES.includes(state);

/** A case as listed; on stream messages also the change that produced this view of it. */
export type CaseSummary = HelplineCase & { readonly lastEvent?: CaseEvent };

export type CaseDetail = z.output<typeof CaseDetailView> & { readonly lastEvent?: CaseEvent };

export interface Health {
  readonly batteryPercent: number | null;
  readonly mains: boolean | null;
  readonly lastHeartbeatAt: string | null;
  readonly overdue: boolean;
}

export interface Device {
  readonly serial: string;
  readonly kind: string;
  readonly location?: string | null;
  readonly state: string;
  readonly testMode?: boolean;
  readonly health: Health | null;
}

export type Responder = ContextResponder;

export interface Resident {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly postcode: string;
  readonly phone?: string | null;
  readonly livesAlone?: boolean;
  readonly mobilityNotes?: string | null;
  readonly riskNotes?: string | null;
  readonly keySafeRecorded?: boolean;
  readonly medicalRecorded?: boolean;
}

export interface CaseContext {
  readonly available?: boolean;
  readonly message?: string;
  readonly resident: Resident | null;
  readonly devices: readonly Device[];
  readonly responders: readonly Responder[];
}

/** The resident's device events (or none, with why, when they could not be read). */
export type DeviceEvents = Pick<z.output<typeof TimelineView>, 'events' | 'complete' | 'message'>;

export type User = UserView;
/** When the session ends: unused (`expiresAt`, moved on by each use) and at the latest (`endsAt`). */
export interface SessionTimes {
  readonly signedInAt: string | null;
  readonly expiresAt: string;
  readonly endsAt: string;
}
export type Me = User & { session?: SessionTimes | null };

export type QueueResidents = z.output<typeof QueueNamesView>;

export type AnswerStats = AnswerStatsView;

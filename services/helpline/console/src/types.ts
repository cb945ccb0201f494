/** What the helpline's API and stream send the console (see services/helpline/openapi.json). */

export type CaseState = 'queued' | 'offered' | 'accepted' | 'on_hold' | 'resolved' | 'closed';
export const OPEN_STATES: readonly CaseState[] = ['queued', 'offered', 'accepted', 'on_hold'];
export const isOpen = (state: CaseState): boolean => OPEN_STATES.includes(state);

export interface Because {
  readonly reason: string;
  readonly rule: { readonly id: string; readonly version: number };
  readonly late?: boolean;
}

export interface CaseEvent {
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly kind: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface CaseSummary {
  readonly id: string;
  readonly residentId: string;
  readonly priority: number;
  readonly type: string;
  readonly state: CaseState;
  readonly raisedAt: string;
  readonly acceptedAt: string | null;
  readonly because: readonly Because[];
  readonly offeredTo: string | null;
  readonly assignedTo: string | null;
  readonly escalationStep: number;
  readonly presses?: number;
  readonly lastPressAt?: string | null;
  /** Serials of the devices whose alerts the case holds. */
  readonly deviceSerials?: readonly string[];
  /** The alarm's trace id (device press to accept), for the tracing backend. */
  readonly traceId?: string | null;
  /** Set on stream messages: the change that produced this view of the case. */
  readonly lastEvent?: CaseEvent;
}

export interface CaseDetail extends CaseSummary {
  readonly events: readonly CaseEvent[];
  readonly protocol: { readonly title: string; readonly steps: readonly string[] };
}

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

export interface Responder {
  readonly id: string;
  readonly order: number;
  readonly name: string;
  readonly relationship?: string | null;
  readonly phone?: string | null;
}

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

export interface DeviceEvent {
  readonly at: string;
  readonly type: string;
  readonly testMode?: boolean;
  readonly deviceKind: string;
  readonly serial: string;
  readonly location?: string | null;
}

export interface DeviceEvents {
  readonly events: readonly DeviceEvent[];
  readonly complete?: boolean;
  readonly message?: string;
}

export type Presence = 'available' | 'busy' | 'away';

export interface User {
  readonly id: string;
  readonly username: string;
  readonly name: string;
  readonly role: string;
  readonly presence: Presence | null;
  readonly chosenPresence: Presence | null;
  readonly lastSeenAt: string | null;
}

export type Me = User;

export interface QueueResidents {
  readonly names?: Readonly<Record<string, string>>;
  /** Postcode districts (the outward code, "GL1") of the queue's residents. */
  readonly districts?: Readonly<Record<string, string>>;
}

export interface AnswerStats {
  readonly total: number;
  readonly within60s: { readonly percent: number | null; readonly met: boolean };
  readonly within180s: { readonly percent: number | null; readonly met: boolean };
}

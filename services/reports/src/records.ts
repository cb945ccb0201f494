import { type Alert, type CaseEvent, CaseFact, type TelecareEvent } from '@telecare/contracts';

/** Device event types counted as device faults (DESIGN §4: P3 technical and P4 maintenance). */
export const FAULT_TYPES = [
  'mains.lost',
  'line.fault',
  'rf.jammed',
  'device.tamper',
  'device.fault',
  'battery.low',
] as const;
const FAULTS: ReadonlySet<string> = new Set(FAULT_TYPES);

/**
 * Alert types the platform raises of a device's own health, from what the device did or did not
 * send (technical, derived): counted as device faults with the device events above. Not among
 * them: `area.mains-lost` (an area's, not a device's: its homes' `mains.lost` are counted) and
 * `device.login-contested` (a device's secret used by something else: a security event).
 */
export const DEVICE_HEALTH_ALERT_TYPES = ['supervision.lost', 'sensor.no-activity', 'sensor.noisy'] as const;
export const DEVICE_HEALTH_ALERTS: ReadonlySet<string> = new Set(DEVICE_HEALTH_ALERT_TYPES);

/** What one EVENTS message adds to the read model; null for a test-mode event (an installer's). */
export interface DeviceActivity {
  readonly eventId: string;
  readonly serial: string;
  readonly residentId: string;
  readonly deviceKind: string;
  readonly district: string | null;
  readonly at: Date;
  /** The UTC day the device was active on. */
  readonly day: string;
  /** Set for a fault event. */
  readonly fault: string | null;
}

export function deviceActivity(event: TelecareEvent): DeviceActivity | null {
  if (event.testmode) return null;
  const at = new Date(event.time);
  return {
    eventId: event.id,
    serial: event.subject,
    residentId: event.residentid,
    deviceKind: event.devicekind,
    district: event.postcodedistrict ?? null,
    at,
    day: at.toISOString().slice(0, 10),
    fault: FAULTS.has(event.type) ? event.type : null,
  };
}

export interface AlertRecord {
  readonly alertId: string;
  readonly residentId: string;
  readonly priority: number;
  readonly type: string;
  readonly raisedAt: Date;
  readonly late: boolean;
  readonly testMode: boolean;
  /** A cancel or restore that closes an earlier alert, or a repeat press: not a new call. */
  readonly recordOnly: boolean;
  /** The kind of device the alert is about, when it says (a supervision loss). */
  readonly deviceKind: string | null;
}

export const alertRecord = (alert: Alert): AlertRecord => ({
  alertId: alert.id,
  residentId: alert.residentId,
  priority: alert.priority,
  type: alert.type,
  raisedAt: new Date(alert.raisedAt),
  late: alert.late,
  testMode: alert.testMode,
  recordOnly: alert.closes !== undefined || alert.repeats !== undefined,
  deviceKind: alert.deviceKind ?? null,
});

/** The columns of a case one step sets; each is set once (the first value wins). */
export interface CaseUpdate {
  readonly alertId?: string;
  readonly priority?: number;
  readonly type?: string;
  readonly openedAt?: Date;
  readonly acceptedAt?: Date;
  readonly responderCalledAt?: Date;
  readonly resolvedAt?: Date;
  readonly closedAt?: Date;
  readonly outcome?: string;
  readonly testMode?: boolean;
  readonly recordOnly?: boolean;
}

export interface CaseStep {
  readonly stepId: string;
  readonly caseId: string;
  readonly kind: CaseEvent['kind'];
  readonly at: Date;
  readonly update: CaseUpdate;
  /** A `fact-recorded` step whose data is a valid CaseFact. */
  readonly fact: CaseFact | null;
  /** Why a `fact-recorded` step's data was not taken, for the log. */
  readonly refused?: string;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

function updateOf(event: CaseEvent, at: Date): CaseUpdate {
  const data = event.data;
  switch (event.kind) {
    case 'opened': {
      const alertId = str(data.alertId);
      const priority = num(data.priority);
      const type = str(data.type);
      return {
        openedAt: at,
        ...(alertId ? { alertId } : {}),
        ...(priority !== undefined ? { priority } : {}),
        ...(type ? { type } : {}),
        testMode: data.testMode === true,
        recordOnly: data.recordOnly === true,
      };
    }
    case 'accepted':
      return { acceptedAt: at };
    case 'responder-called':
      return { responderCalledAt: at };
    case 'resolved': {
      const outcome = str(data.outcome);
      return { resolvedAt: at, ...(outcome ? { outcome } : {}) };
    }
    case 'closed':
      return { closedAt: at };
    default:
      return {};
  }
}

/** What one CASES step means for the read model. */
export function caseStep(event: CaseEvent): CaseStep {
  const at = new Date(event.at);
  const base = { stepId: event.id, caseId: event.caseId, kind: event.kind, at, update: updateOf(event, at) };
  if (event.kind !== 'fact-recorded') return { ...base, fact: null };
  const parsed = CaseFact.safeParse(event.data);
  return parsed.success
    ? { ...base, fact: parsed.data }
    : {
        ...base,
        fact: null,
        refused: parsed.error.issues.map((i) => i.path.join('.') || i.message).join(', '),
      };
}

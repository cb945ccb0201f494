import type { CaseContext, CaseDetail, CaseSummary, DeviceEvents, Me, User } from './types.ts';

/** What this console knows: one place, read by the views and changed by the stream and actions. */
export const state = {
  me: null as Me | null,
  users: new Map<string, User>(),
  /** The open cases, by id, as the stream last said. */
  cases: new Map<string, CaseSummary>(),
  /** The case shown in the case view. */
  selected: null as string | null,
  detail: null as CaseDetail | null,
  context: null as CaseContext | null,
  deviceEvents: null as DeviceEvents | null,
  /** Names of the queue's residents: from the registry through /api/queue/names, or a case view. */
  residentNames: new Map<string, string>(),
  /** Postcode districts of the queue's residents. */
  districts: new Map<string, string>(),
  /** Sensitive values revealed on the case on screen, by `caseId:field`, while the viewer holds it. */
  revealed: new Map<string, string>(),
};

export const canWork = (): boolean =>
  state.me !== null && ['operator', 'supervisor', 'admin'].includes(state.me.role);

export const managesPeople = (): boolean => state.me?.role === 'supervisor' || state.me?.role === 'admin';

export const nameOf = (id: string | null | undefined): string =>
  id === 'helpline'
    ? 'system'
    : id === 'admin'
      ? 'admin token'
      : (state.users.get(id ?? '')?.name ?? id ?? '');

/**
 * The queue's order, exactly the server's (`order by priority, raised_at, id`): cases of one
 * priority raised in the same millisecond go by id, as PostgreSQL compares them (ids are ASCII of
 * one length, so code units and the database's collation agree), not by the order the stream
 * happened to tell them in.
 */
export const byUrgency = (a: CaseSummary, b: CaseSummary): number =>
  a.priority - b.priority ||
  Date.parse(a.raisedAt) - Date.parse(b.raisedAt) ||
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export const sortedCases = (): CaseSummary[] => [...state.cases.values()].sort(byUrgency);

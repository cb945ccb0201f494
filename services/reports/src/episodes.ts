import { createHmac } from 'node:crypto';
import type { Table } from './csv.ts';
import { type CaseRow, hadAmbulance, isFall, wasAdmitted } from './figures.ts';

/**
 * The key one recipient's pseudonyms are made with: HMAC-SHA-256 of the recipient id under the
 * service's secret. Two recipients' exports cannot be joined on the pseudonym, and neither can be
 * turned back into resident ids without the secret.
 */
export const recipientKey = (secret: string, recipient: string): Buffer =>
  createHmac('sha256', secret).update(`telecare-reports/recipient/${recipient}`).digest();

/** A resident's (or a case's) pseudonym for one recipient. */
export const pseudonym = (key: Buffer, kind: 'resident' | 'episode', id: string): string =>
  `${kind === 'resident' ? 'p' : 'e'}_${createHmac('sha256', key).update(`${kind}/${id}`).digest('hex').slice(0, 32)}`;

const secondsBetween = (from: Date, to: Date | null): number | null =>
  to === null ? null : Math.round((to.getTime() - from.getTime()) / 1000);

export const EPISODE_COLUMNS = [
  'episode',
  'resident',
  'district',
  'raised_day',
  'priority',
  'type',
  'answer_seconds',
  'outcome',
  'responder_minutes',
  'fall',
  'on_floor_minutes',
  'ambulance',
  'admitted',
] as const;

/**
 * One row per case: pseudonyms for the resident and the case, the district, the day (not the
 * time), kinds, durations and outcome codes. No names, addresses, phone numbers, free text or
 * internal ids.
 */
export function episodeTable(cases: readonly CaseRow[], key: Buffer): Table {
  const rows = cases.map((c) => {
    const arrived = c.facts
      .filter((f) => f.fact === 'responder-arrived')
      .sort((a, b) => a.at.getTime() - b.at.getTime())[0];
    const floor = c.facts.find((f) => f.fact === 'found-on-floor');
    const responderSeconds = arrived ? secondsBetween(c.responderCalledAt ?? c.raisedAt, arrived.at) : null;
    return [
      pseudonym(key, 'episode', c.caseId),
      c.residentId ? pseudonym(key, 'resident', c.residentId) : null,
      c.district,
      c.raisedAt.toISOString().slice(0, 10),
      c.priority,
      c.type,
      secondsBetween(c.raisedAt, c.acceptedAt),
      c.outcome,
      responderSeconds === null ? null : Math.round(responderSeconds / 6) / 10,
      isFall(c),
      floor?.onFloorMinutes ?? null,
      hadAmbulance(c),
      wasAdmitted(c),
    ];
  });
  rows.sort((a, b) => String(a[3]).localeCompare(String(b[3])) || String(a[0]).localeCompare(String(b[0])));
  return { columns: EPISODE_COLUMNS, rows };
}

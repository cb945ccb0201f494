import { type Pool, withTransaction } from '@telecare/platform';
import type { AlertRecord, CaseStep, DeviceActivity } from './records.ts';

/** The read-model tables `rebuild` empties (the tokens are not read-model and stay). */
export const READ_MODEL_TABLES = [
  'rp_residents',
  'rp_device_days',
  'rp_device_faults',
  'rp_alerts',
  'rp_cases',
  'rp_case_steps',
  'rp_case_facts',
] as const;

const CASE_COLUMNS = {
  alertId: 'alert_id',
  priority: 'priority',
  type: 'type',
  openedAt: 'opened_at',
  acceptedAt: 'accepted_at',
  responderCalledAt: 'responder_called_at',
  resolvedAt: 'resolved_at',
  closedAt: 'closed_at',
  outcome: 'outcome',
  testMode: 'test_mode',
  recordOnly: 'record_only',
} as const;

type Tables = Record<(typeof READ_MODEL_TABLES)[number] | 'rp_tokens', string>;

/** Writes the read model. Every write is idempotent by the id of what caused it. */
export class ReportsStore {
  readonly #t: Tables;

  constructor(
    readonly pool: Pool,
    readonly schema: string,
  ) {
    const q = (table: string) => `"${schema}".${table}`;
    this.#t = Object.fromEntries([...READ_MODEL_TABLES, 'rp_tokens'].map((t) => [t, q(t)])) as Tables;
  }

  table(name: keyof Tables): string {
    return this.#t[name];
  }

  async applyActivity(a: DeviceActivity): Promise<void> {
    const t = this.#t;
    await withTransaction(this.pool, async (db) => {
      await db.query(
        `insert into ${t.rp_residents} (resident_id, district, first_seen_at, updated_at)
         values ($1, $2, $3, $3)
         on conflict (resident_id) do update set
           first_seen_at = least(${t.rp_residents}.first_seen_at, excluded.first_seen_at),
           district = case when excluded.updated_at >= ${t.rp_residents}.updated_at and excluded.district is not null
                           then excluded.district else ${t.rp_residents}.district end,
           updated_at = greatest(${t.rp_residents}.updated_at, excluded.updated_at)`,
        [a.residentId, a.district, a.at],
      );
      await db.query(
        `insert into ${t.rp_device_days} (serial, day, resident_id, device_kind, district)
         values ($1, $2, $3, $4, $5) on conflict do nothing`,
        [a.serial, a.day, a.residentId, a.deviceKind, a.district],
      );
      if (a.fault)
        await db.query(
          `insert into ${t.rp_device_faults} (event_id, serial, resident_id, type, district, at)
           values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
          [a.eventId, a.serial, a.residentId, a.fault, a.district, a.at],
        );
    });
  }

  async applyAlert(a: AlertRecord): Promise<void> {
    await this.pool.query(
      `insert into ${this.#t.rp_alerts}
         (alert_id, resident_id, priority, type, raised_at, late, test_mode, record_only)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing`,
      [a.alertId, a.residentId, a.priority, a.type, a.raisedAt, a.late, a.testMode, a.recordOnly],
    );
  }

  /** Applies one CASES step; false when it was applied before (a redelivery). */
  async applyCaseStep(step: CaseStep): Promise<boolean> {
    const t = this.#t;
    return withTransaction(this.pool, async (db) => {
      const fresh = await db.query(
        `insert into ${t.rp_case_steps} (step_id, case_id, kind, at) values ($1, $2, $3, $4)
         on conflict do nothing`,
        [step.stepId, step.caseId, step.kind, step.at],
      );
      if (fresh.rowCount === 0) return false;
      const entries = Object.entries(step.update).filter(([, v]) => v !== undefined);
      const columns = entries.map(([k]) => CASE_COLUMNS[k as keyof typeof CASE_COLUMNS]);
      // The first value of each column wins: a case accepted twice (after a hold) answered once.
      const sets = columns.map((c) => `${c} = coalesce(${t.rp_cases}.${c}, excluded.${c})`);
      await db.query(
        `insert into ${t.rp_cases} (case_id${columns.map((c) => `, ${c}`).join('')})
         values ($1${columns.map((_, i) => `, $${i + 2}`).join('')})
         on conflict (case_id) do ${sets.length ? `update set ${sets.join(', ')}` : 'nothing'}`,
        [step.caseId, ...entries.map(([, v]) => v)],
      );
      if (step.fact) {
        const f = step.fact;
        await db.query(
          `insert into ${t.rp_case_facts} (step_id, case_id, fact, at, on_floor_minutes, source)
           values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
          [
            step.stepId,
            step.caseId,
            f.fact,
            new Date(f.at),
            f.fact === 'found-on-floor' ? f.onFloorMinutes : null,
            f.fact === 'found-on-floor' ? f.source : null,
          ],
        );
      }
      return true;
    });
  }

  /** Empties the read model (not the tokens), for a replay from the start of the streams. */
  async truncateReadModel(): Promise<void> {
    await this.pool.query(`truncate ${READ_MODEL_TABLES.map((t) => this.#t[t]).join(', ')}`);
  }
}

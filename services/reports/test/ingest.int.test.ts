import { readFileSync } from 'node:fs';
import { createLogger, createPool } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadReportsConfig, rebuildReports } from '../src/index.ts';
import { applySeed } from '../src/seed.ts';
import { READ_MODEL_TABLES } from '../src/store.ts';
import { alert, caseEvent, fact, type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

const count = async (h: ReportsHarness, table: string): Promise<number> => {
  const { rows } = await h.reports.store.pool.query<{ n: string }>(
    `select count(*)::text as n from ${h.reports.store.table(table as 'rp_cases')}`,
  );
  return Number(rows[0]?.n);
};

describe('reports ingest: CASES, ALERTS and EVENTS into the read model', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rpingest');
    await h.start();
  });
  afterAll(async () => h?.close());

  it('is ready on the service frame while PostgreSQL and NATS answer', async () => {
    const res = await fetch(`${h.reports.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ checks: { postgres: true, nats: true } });
  });

  it('serves the OpenAPI document that is committed', async () => {
    const served = await (await fetch(`${h.reports.url}/api/openapi.json`)).json();
    expect(served).toEqual(JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')));
  });

  it('applies each message once, refuses what is not the contract, and rebuilds from the streams', async () => {
    const resident = 'res_ingest0001';
    const pressed = alert({
      residentId: resident,
      priority: 1,
      type: 'pendant.pressed',
      raisedAt: '2026-11-02T10:00:00.000Z',
    });
    await h.publishEvent(
      telecareEvent({
        serial: 'PEN-1',
        residentId: resident,
        kind: 'pendant',
        type: 'heartbeat',
        at: '2026-11-02T09:00:00.000Z',
        district: 'GL1',
      }),
    );
    await h.publishEvent(
      telecareEvent({
        serial: 'HUB-1',
        residentId: resident,
        kind: 'home-unit',
        type: 'mains.lost',
        at: '2026-11-02T09:30:00.000Z',
        district: 'GL1',
      }),
    );
    // An installer's test call counts for nothing.
    await h.publishEvent(
      telecareEvent({
        serial: 'PEN-9',
        residentId: 'res_ingest0009',
        kind: 'pendant',
        type: 'pendant.pressed',
        at: '2026-11-02T09:40:00.000Z',
        district: 'GL2',
        testMode: true,
      }),
    );
    await h.publishAlert(pressed);
    const steps = [
      caseEvent('case_ingest1', 'opened', '2026-11-02T10:00:01.000Z', {
        alertId: pressed.id,
        priority: 1,
        type: 'pendant.pressed',
      }),
      caseEvent('case_ingest1', 'accepted', '2026-11-02T10:00:40.000Z'),
      fact('case_ingest1', {
        fact: 'found-on-floor',
        at: '2026-11-02T10:02:00.000Z',
        onFloorMinutes: 50,
        source: 'resident',
      }),
      caseEvent('case_ingest1', 'resolved', '2026-11-02T10:30:00.000Z', {
        outcome: 'responder-visit',
        reason: 'free text never kept',
      }),
    ];
    for (const s of steps) await h.publishCase(s);
    // A redelivered step (same id, not deduplicated by the stream) and a message that is not the contract.
    await h.publishRaw(h.names.subjects.caseEvent('case_ingest1'), JSON.stringify(steps[1]));
    await h.publishRaw(h.names.subjects.caseEvent('case_bad'), '{"not":"a case event"}');

    // Each stream has its own consumer: wait for all three, not only CASES and ALERTS.
    await waitFor(
      async () =>
        (await count(h, 'rp_case_steps')) === 4 &&
        (await count(h, 'rp_alerts')) === 1 &&
        (await count(h, 'rp_device_days')) === 2 &&
        (await count(h, 'rp_device_faults')) === 1,
      { what: 'steps, alert and device events applied' },
    );
    const snapshot = async () => {
      const pool = h.reports.store.pool;
      const t = (name: Parameters<typeof h.reports.store.table>[0]) => h.reports.store.table(name);
      return {
        cases: (
          await pool.query(
            `select case_id, alert_id, priority, opened_at, accepted_at, resolved_at, outcome from ${t('rp_cases')}`,
          )
        ).rows,
        facts: (await pool.query(`select fact, on_floor_minutes, source from ${t('rp_case_facts')}`)).rows,
        faults: (await pool.query(`select serial, type, district from ${t('rp_device_faults')}`)).rows,
        days: (
          await pool.query(
            `select serial, day::text, device_kind, district from ${t('rp_device_days')} order by serial`,
          )
        ).rows,
        residents: (await pool.query(`select resident_id, district from ${t('rp_residents')}`)).rows,
      };
    };
    const before = await snapshot();
    expect(before.cases).toEqual([
      {
        case_id: 'case_ingest1',
        alert_id: pressed.id,
        priority: 1,
        opened_at: new Date('2026-11-02T10:00:01.000Z'),
        accepted_at: new Date('2026-11-02T10:00:40.000Z'),
        resolved_at: new Date('2026-11-02T10:30:00.000Z'),
        outcome: 'responder-visit',
      },
    ]);
    expect(before.facts).toEqual([{ fact: 'found-on-floor', on_floor_minutes: 50, source: 'resident' }]);
    expect(before.faults).toEqual([{ serial: 'HUB-1', type: 'mains.lost', district: 'GL1' }]);
    expect(before.days).toEqual([
      { serial: 'HUB-1', day: '2026-11-02', device_kind: 'home-unit', district: 'GL1' },
      { serial: 'PEN-1', day: '2026-11-02', device_kind: 'pendant', district: 'GL1' },
    ]);
    expect(before.residents).toEqual([{ resident_id: resident, district: 'GL1' }]);
    // No free text: the resolve's reason is nowhere in the schema.
    const text = await h.reports.store.pool.query(
      `select count(*)::int as n from ${h.reports.store.table('rp_case_steps')} s where s::text like '%free text%'`,
    );
    expect(text.rows[0]).toEqual({ n: 0 });

    await h.stop();
    await rebuildReports(loadReportsConfig(h.env));
    await h.start();
    await waitFor(
      async () =>
        (await count(h, 'rp_case_steps')) === 4 &&
        (await count(h, 'rp_alerts')) === 1 &&
        (await count(h, 'rp_device_days')) === 2 &&
        (await count(h, 'rp_device_faults')) === 1,
      { what: 'replayed' },
    );
    expect(await snapshot()).toEqual(before);
  });

  it('keeps the kind of device a supervision loss names, for the device health figures by kind', async () => {
    const silent = {
      ...alert({
        residentId: 'res_ingest0020',
        priority: 3,
        type: 'supervision.lost',
        raisedAt: '2026-11-03T04:00:00.000Z',
      }),
      deviceSerial: 'SM-20',
      deviceKind: 'smoke-detector',
    };
    const unnamed = alert({
      residentId: 'res_ingest0021',
      priority: 3,
      type: 'supervision.lost',
      raisedAt: '2026-11-03T05:00:00.000Z',
    });
    await h.publishAlert(silent);
    await h.publishAlert(unnamed);
    const kinds = async () =>
      (
        await h.reports.store.pool.query(
          `select alert_id, device_kind from ${h.reports.store.table('rp_alerts')} where alert_id = any($1) order by raised_at`,
          [[silent.id, unnamed.id]],
        )
      ).rows;
    await waitFor(async () => (await kinds()).length === 2, { what: 'both losses stored' });
    expect(await kinds()).toEqual([
      { alert_id: silent.id, device_kind: 'smoke-detector' },
      { alert_id: unnamed.id, device_kind: null },
    ]);
  });

  it('writes the simulated activity again after a rebuild, from the options it recorded', async () => {
    const counts = async () =>
      Object.fromEntries(
        await Promise.all(READ_MODEL_TABLES.map(async (t) => [t, await count(h, t)] as const)),
      );
    const streamed = await counts();
    const messages = await applySeed(
      h.reports.store,
      {
        from: new Date('2026-09-01T00:00:00Z'),
        to: new Date('2026-10-01T00:00:00Z'),
        residents: 40,
        districts: ['GL1', 'GL2', 'GL3'],
        seed: 3,
      },
      new Date(),
    );
    expect(messages.alerts.length).toBeGreaterThan(5);
    const seeded = await counts();
    expect(seeded.rp_alerts).toBe((streamed.rp_alerts ?? 0) + messages.alerts.length);

    const alerts = h.reports.store.table('rp_alerts');
    await h.stop();
    await rebuildReports(loadReportsConfig(h.env));
    // Before the streams replay: the simulated activity alone is back.
    const pool = createPool({
      url: h.env.DATABASE_URL ?? '',
      logger: createLogger('rebuild-test', 'silent'),
      name: 'rebuild-test',
    });
    const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from ${alerts}`);
    await pool.end();
    expect(rows[0]?.n).toBe(messages.alerts.length);
    await h.start();
    await waitFor(async () => JSON.stringify(await counts()) === JSON.stringify(seeded), {
      what: 'simulated activity and the streams both back',
    });
  });
});

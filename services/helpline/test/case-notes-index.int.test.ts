import { createLogger, createPool, type Pool } from '@telecare/platform';
import { servers } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// The notes of a case are read a page at a time, newest first, from a cursor
// (`GET /api/cases/{id}/notes`), and the case view reads its newest notes on every change. The
// only index that served them held every step of the case but its joins, so each page read all
// the case's notes and other steps and sorted them: a case that gathered thousands of notes read
// thousands of rows for each page of 100. An index of the notes alone, by (case_id, seq), reads
// the page and nothing else.
/** The case's notes: as many of its other steps, and 49 times as many steps of other cases. */
const NOTES = 1000;
const OTHER_CASES = 20;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let pool: Pool;

beforeAll(async () => {
  h = await helplineHarness('notesindex');
  await h.start();
  pool = createPool({
    url: servers.databaseUrl,
    logger: createLogger('notesindex-test', 'silent'),
    name: 'notesindex',
  });
});

afterAll(async () => {
  await pool?.end();
  await h?.close();
});

/** The query plan of the notes page as the store asks it (`notePage` in src/store/cases.ts). */
const planOf = async (caseId: string, before: string | null): Promise<string> => {
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
    `explain select seq::text as place, id, case_id, at, actor, kind, data from "${h.names.schema('helpline')}".case_events
      where case_id = $1 and kind = 'note' and ($2::bigint is null or seq < $2::bigint)
      order by seq desc limit $3`,
    [caseId, before, 101],
  );
  return rows.map((r) => r['QUERY PLAN']).join('\n');
};

describe('a page of a case’s notes', () => {
  it('is read by an index of the notes in (case_id, seq) order: no sort, no rows read and dropped', async () => {
    const op = await h.user('notesindex.op@example.org', 'operator');
    const residentId = `res_notesindex${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    // Other cases' steps beside it, as in any helpline's table: the case's own, one in fifty of
    // them, its notes between responders called, written as the store would have.
    const others = Array.from({ length: OTHER_CASES }, (_, i) => `${residentId}o${i}`);
    await Promise.all(others.map((id) => h.publish(h.alert({ residentId: id }))));
    await h.drained();
    const otherCases = await Promise.all(others.map(async (id) => (await h.caseOf(id)).id));
    const schema = h.names.schema('helpline');
    await pool.query(
      `insert into "${schema}".case_events (id, case_id, at, actor, kind, data)
       select 'cev_notesindex' || g, case when g % 50 = 0 then $1 else ($2::text[])[1 + g % cardinality($2::text[])] end,
              now(), $3,
              case when g % 100 = 0 or (g % 50 <> 0 and g % 3 = 0) then 'note'
                   when g % 50 = 0 then 'responder-called' else 'alert-joined' end,
              jsonb_build_object('text', 'note ' || g)
         from generate_series(1, $4::integer) g`,
      [c.id, otherCases, op.id, NOTES * 100],
    );
    await pool.query(`analyze "${schema}".case_events`);

    const page = await h.api(`/api/cases/${c.id}/notes?limit=100`, { as: op.cookie });
    expect(page.status).toBe(200);
    expect(page.json.total).toBe(NOTES);
    expect(page.json.events).toHaveLength(100);
    expect(page.json.events[0].data.text).toBe(`note ${NOTES * 100}`);

    const { rows } = await pool.query<{ seq: string }>(
      `select seq::text from "${schema}".case_events where case_id = $1 and kind = 'note' order by seq desc offset 500 limit 1`,
      [c.id],
    );
    for (const before of [null, rows[0]?.seq ?? null]) {
      const plan = await planOf(c.id, before);
      expect(plan, plan).toMatch(/Index Scan Backward/);
      expect(plan, plan).not.toMatch(/Sort|Filter:/);
    }
  }, 60_000);
});

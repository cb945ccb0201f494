import type { Alert, CaseEvent } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A storm leaves hundreds of unaccepted P1 cases in the queue, and every timer tick walks all of
// them (the escalation ladder, the answer targets). A press of one of those residents again (a
// repeat, a join, a cancel) must reach the consoles while the tick runs, not after it.
const CASES = 400;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let db: pg.Client;

beforeAll(async () => {
  // Ticks only when told (and after each commit, which finds nothing due until the clock moves).
  h = await helplineHarness('hltimerlk', { TIMER_TICK_MS: '60000' });
  await h.start(clock);
  db = new pg.Client({ connectionString: h.env.DATABASE_URL });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await h?.close();
});

describe('a timer tick over a long queue', () => {
  it('holds each case only for its own change: a repeat press is not kept waiting for the whole tick', {
    timeout: 180_000,
  }, async () => {
    const presses: Alert[] = Array.from({ length: CASES }, (_, i) =>
      h.alert({ residentId: `res_queue${i}`, raisedAt: new Date(clock.now()).toISOString() }),
    );
    for (let i = 0; i < presses.length; i += 100)
      await Promise.all(presses.slice(i, i + 100).map((a) => h.publish(a)));
    await waitFor(() => h.drained().then(() => true), { what: 'every press committed', timeoutMs: 120_000 });

    const first = presses[0] as Alert;
    const repeat = h.alert({
      residentId: first.residentId,
      raisedAt: new Date(clock.now() + 20_000).toISOString(),
      repeats: { alertId: first.id },
    });
    // The order the consoles see: how many escalations were on CASES before the repeat.
    let escalated = 0;
    let escalatedBeforeRepeat = -1;
    const sub = h.nc.subscribe(h.names.subjects.allCases);
    void (async () => {
      for await (const msg of sub) {
        const event = msg.json() as CaseEvent;
        if (event.kind === 'escalated') escalated++;
        if (event.kind === 'alert-joined' && event.data.alertId === repeat.id)
          escalatedBeforeRepeat = escalated;
      }
    })();

    // Every case is now past the ladder's first rung (30 s): the tick escalates all of them.
    clock.advance(31_000);
    const tick = h.helpline.tick();
    // The repeat arrives once the tick is at work on the cases (it holds case rows).
    const schema = h.names.schema('helpline');
    await waitFor(
      async () =>
        (
          await db.query(
            `select 1 from pg_locks l join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = $1 and c.relname = 'cases' and l.mode = 'RowShareLock' and l.pid <> pg_backend_pid()`,
            [schema],
          )
        ).rowCount !== 0,
      { what: 'the tick to lock cases', intervalMs: 1 },
    );
    await h.publish(repeat);
    await tick;
    await waitFor(() => escalatedBeforeRepeat >= 0 && escalated === CASES, {
      what: 'the repeat and every escalation on CASES',
      timeoutMs: 60_000,
    });
    sub.unsubscribe();
    // Waiting for the tick's one transaction, the repeat would come after every escalation.
    expect(escalatedBeforeRepeat).toBeLessThan(CASES / 2);
  });
});

import { jetstream } from '@telecare/platform';
import { OwnPostgres, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

/**
 * The helpline across a PostgreSQL crash-restart: it stays up (a fault run saw it crash on an
 * unhandled `'error'` of a pooled client and stay down for four minutes), and an alert published
 * while the database was down becomes a case once it is back.
 */
let server: OwnPostgres;
let h: Awaited<ReturnType<typeof helplineHarness>>;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  server = await OwnPostgres.start();
  h = await helplineHarness('pgrestart', { DATABASE_URL: server.url });
  await h.start();
}, 120_000);

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await h?.close();
  server?.destroy();
});

describe('a PostgreSQL crash-restart under the helpline', () => {
  it('keeps the helpline up and turns an alert raised during the outage into a case', async () => {
    await h.publish(h.alert({ residentId: 'res_pg_before' }));
    await h.caseOf('res_pg_before');
    const scrape = async () => (await fetch(new URL('/metrics', h.helpline.url))).text();
    expect(await scrape()).toMatch(/helpline_queue_waiting_cases\{[^}]*priority="1"[^}]*\} 1/);

    // Several alerts in flight while the server goes down: commits are cut mid-transaction.
    const during = ['res_pg_during_1', 'res_pg_during_2', 'res_pg_during_3'];
    await Promise.all([server.crash(), ...during.map((r) => h.publish(h.alert({ residentId: r })))]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(uncaught).toEqual([]);
    // The queue cannot be read: its gauges are gone rather than frozen at their last values (a
    // stale "nothing waits" on a wallboard while alarms pile up in ALERTS).
    const metrics = await scrape();
    expect(metrics).not.toMatch(/helpline_queue_(waiting_cases|longest_wait_seconds)\{/);
    server.start();

    for (const residentId of during) {
      await waitFor(
        async () => {
          const response = await h.api('/api/cases?state=all');
          const cases = response.json as { residentId: string }[] | undefined;
          return Array.isArray(cases) && cases.some((c) => c.residentId === residentId);
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `a case for ${residentId}` },
      );
    }
    expect(uncaught).toEqual([]);
    const ready = await fetch(new URL('/readyz', h.helpline.url));
    expect(ready.status).toBe(200);
    expect(await scrape()).toMatch(/helpline_queue_waiting_cases\{[^}]*priority="1"[^}]*\} [1-9]/);
  }, 120_000);

  it('still shows the consoles a change whose case could not be read while the database was down', async () => {
    await h.publish(h.alert({ residentId: 'res_pg_feed' }));
    const c = await h.caseOf('res_pg_feed');
    // A console's stream, keeping the case events it is sent.
    const abort = new AbortController();
    const response = await fetch(new URL('/api/stream', h.helpline.url), {
      headers: { authorization: `Bearer ${h.adminToken}` },
      signal: abort.signal,
    });
    const seen: string[] = [];
    let snapshot = false;
    void (async () => {
      const decoder = new TextDecoder();
      let text = '';
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true });
          if (text.includes('event: snapshot')) snapshot = true;
          for (const m of text.matchAll(/"lastEvent":\{"id":"([^"]+)"/g)) if (m[1]) seen.push(m[1]);
          text = text.slice(text.lastIndexOf('\n\n') + 1);
        }
      } catch {
        // aborted
      }
    })();

    // The stream's opening snapshot is read from the database: cut off, the stream ends and the
    // console reconnects (this test's client does not), so the database goes once it is sent.
    await waitFor(() => snapshot, { timeoutMs: 10_000, what: 'the opening snapshot' });
    // A change committed (by this or another instance) reaches CASES just as the database goes.
    await server.crash();
    const event = {
      id: 'cev_feed_outage_1',
      caseId: c.id,
      at: new Date().toISOString(),
      actor: 'helpline',
      kind: 'note',
      data: { text: 'during the outage' },
    };
    await jetstream(h.nc).publish(h.names.subjects.caseEvent(c.id), JSON.stringify(event), {
      msgID: event.id,
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    server.start();
    // PostgreSQL's crash recovery and the pool's next connection take seconds more on a loaded machine.
    await waitFor(() => seen.includes(event.id), {
      timeoutMs: 30_000,
      what: 'the change read once the database is back and sent to the console',
    });
    abort.abort();
    expect(uncaught).toEqual([]);
  }, 75_000);
});

import { connect, type Socket } from 'node:net';
import { createLogger, createPool } from '@telecare/platform';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';
import { readSse } from './sse.ts';

// Pings every second; a stream that cannot take them for twice the presence timeout is stalled.
const PRESENCE_TIMEOUT_S = 3;
const STREAMS = 3;

let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('stream-stall', {
    PRESENCE_TIMEOUT_S: String(PRESENCE_TIMEOUT_S),
    STREAMS_PER_PRINCIPAL: String(STREAMS),
  });
  await h.start();
});
afterAll(() => h?.close());

/** A stream read by hand over TCP, so the test can stop reading it (a client whose socket is stuck). */
async function rawStream(): Promise<{ socket: Socket; ended: () => boolean }> {
  const { port } = new URL(h.helpline.url);
  const socket = connect(Number(port), '127.0.0.1');
  let ended = false;
  socket.on('error', () => undefined);
  socket.on('close', () => {
    ended = true;
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${h.adminToken}\r\n\r\n`,
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  return { socket, ended: () => ended };
}

const streamClients = async () => {
  const text = await (await fetch(`${h.helpline.url}/metrics`)).text();
  return Number(/^helpline_stream_clients(?:{[^}]*})? (\d+)/m.exec(text)?.[1] ?? Number.NaN);
};

describe('a stream whose client stopped reading', () => {
  it('is ended once it stalls, instead of buffering every change in the helpline for as long as it lasts', async () => {
    // A console that keeps reading, beside one whose socket stopped taking data (a frozen tab, a
    // half-open connection, a client that never reads).
    const healthy = new AbortController();
    const response = await fetch(`${h.helpline.url}/api/stream`, {
      headers: { authorization: `Bearer ${h.adminToken}` },
      signal: healthy.signal,
    });
    let heard = 0;
    void readSse(response.body as ReadableStream<Uint8Array>, ({ event }) => {
      if (event === 'case') heard += 1;
    });
    const stuck = await rawStream();
    stuck.socket.pause();
    await waitFor(async () => (await streamClients()) === 2, { what: 'both streams counted' });

    // A storm joins alerts with long explanations to one case: every join is a frame of its window.
    const residentId = 'res_stall_1';
    const evidence = (i: number) =>
      Array.from(
        { length: 100 },
        (_, j) => `evt_${String(i).padStart(4, '0')}_${String(j).padStart(3, '0')}_${'x'.repeat(180)}`,
      );
    for (let i = 0; i < 80; i++)
      await h.publish(h.alert({ residentId, priority: 3, type: 'mains.lost', evidence: evidence(i) }));
    await waitFor(async () => ((await h.caseOf(residentId)) as { alertCount?: number }).alertCount === 80, {
      what: 'every alert joined',
      timeoutMs: 60_000,
    });

    // The stuck stream is ended by the helpline; the reading one goes on.
    await waitFor(async () => (await streamClients()) === 1, {
      what: 'the stuck stream to be ended',
      timeoutMs: 6 * PRESENCE_TIMEOUT_S * 1000,
    });
    stuck.socket.resume();
    await waitFor(() => stuck.ended(), { what: 'the stuck socket to be closed by the helpline' });
    expect(heard).toBeGreaterThanOrEqual(80);
    healthy.abort();
  }, 120_000);

  it('a signed-in console that stopped answering pings is ended, so waking laptops do not use up their streams', async () => {
    const op = await h.user('sleepy', 'operator');
    // A laptop that slept and woke (or roamed) as many times as the streams allowed: each time the
    // browser opened a new stream and the old one was left behind, silent, still open at the helpline.
    // Opened while answering, so none is ended for its silence before the cap is tried (a loaded
    // machine takes seconds to open them), then left silent together.
    const left: Awaited<ReturnType<typeof h.openConsole>>[] = [];
    for (let i = 0; i < STREAMS; i++) left.push(await h.openConsole(op.cookie));
    const open = () =>
      fetch(`${h.helpline.url}/api/stream`, { headers: { cookie: op.cookie.slice(7) } }).then((r) => {
        void r.body?.cancel();
        return r.status;
      });
    expect(await open()).toBe(429);
    for (const c of left) await c.stall();
    // The streams nobody answers are ended once their consoles have been silent for twice the
    // presence timeout, and the woken laptop's stream is let in.
    await waitFor(async () => left.every((c) => c.ended), {
      what: 'the silent consoles to be ended',
      timeoutMs: 5 * PRESENCE_TIMEOUT_S * 1000,
    });
    const again = await h.openConsole(op.cookie);
    expect(again.ended).toBe(false);
    again.close();
  }, 60_000);

  it('a console opened while a presence round is reading keeps its stream', async () => {
    const op = await h.user('opener', 'operator');
    const first = await h.openConsole(op.cookie);
    // The round's read of the consoles waits (a busy database): its api_tokens table is locked,
    // which neither the sign-in cookie nor a console's opening reads.
    const pool = createPool({
      url: servers.databaseUrl,
      logger: createLogger('stall-test', 'silent'),
      name: 'stall',
    });
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`lock table "${h.names.schema('helpline')}".api_tokens in access exclusive mode`);
      // A round has begun and waits on the lock (pings go out every second).
      await waitFor(
        async () =>
          (
            await pool.query<{ n: number }>(
              `select count(*)::int as n from pg_locks where not granted and relation = '"${h.names.schema('helpline')}".api_tokens'::regclass`,
            )
          ).rows[0]?.n === 1,
        { what: 'a presence round waiting on the consoles read' },
      );
      const late = await h.openConsole(op.cookie);
      await client.query('commit');
      // The round that was reading when it opened did not see it, and must not end it for that.
      const beats = late.beats;
      await waitFor(() => late.ended || late.beats >= beats + 3, {
        what: 'three pings answered after the round',
        timeoutMs: 15_000,
      });
      expect(late.ended).toBe(false);
      expect(first.ended).toBe(false);
      late.close();
      first.close();
    } finally {
      client.release();
      await pool.end();
    }
  }, 60_000);
});

import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '@telecare/platform';
import { spawnService, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// The last rung of the ladder hands an unanswered P1 to the partner centre (OVERFLOW_WEBHOOK_URL).
// The partner is another organisation's server across a network: it may not answer, answer late or
// be down for a minute. Posted inside the timer tick, each call held every timer (offers included)
// for up to its 3 s timeout, one case after another; a failed or lost call was recorded and never
// made again, so the one case nobody answered never reached the partner either.
const clock = new ManualClock(Date.now());
let n = 0;
const SECRET = 'a-partner-secret-of-32-characters!!';

/**
 * What a partner does with `X-Telecare-Signature: t=<unix>,v1=<hex>` (the README's scheme): the
 * HMAC-SHA256, keyed with the shared secret, of `<t>.<Idempotency-Key>.<raw body>`, compared in
 * constant time, and `t` within 300 s of its own clock. Returns what is wrong, or undefined.
 */
function partnerCheck(header: string | undefined, key: string | undefined, raw: string, nowMs: number) {
  const parts = Object.fromEntries((header ?? '').split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!header || !Number.isInteger(t) || !parts.v1) return 'no signature';
  const expected = createHmac('sha256', SECRET)
    .update(`${parts.t}.${key ?? ''}.${raw}`)
    .digest();
  const given = Buffer.from(parts.v1, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad signature';
  if (Math.abs(nowMs / 1000 - t) > 300) return 'outside the replay window';
  return undefined;
}

type Event = { id: string; kind: string; data: Record<string, unknown> };

/** A partner centre that accepts connections and never answers. */
let hole: Server;
const held: Socket[] = [];
/** A partner centre that answers what `answers` says, in turn (then 202), and keeps every call. */
let partner: HttpServer;
let answers: number[] = [];
const calls: {
  caseId: string;
  key: string | undefined;
  step: number;
  problem: string | undefined;
  t: string;
}[] = [];

beforeAll(async () => {
  hole = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
  partner = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const call = JSON.parse(body) as { case: { id: string }; escalation: { step: number } };
      const key = req.headers['idempotency-key'];
      const signature = req.headers['x-telecare-signature'];
      const sig = typeof signature === 'string' ? signature : undefined;
      calls.push({
        caseId: call.case.id,
        key: typeof key === 'string' ? key : undefined,
        step: call.escalation.step,
        // The helpline's clock is stepped by hand: the partner's clock is the same one here.
        problem: partnerCheck(sig, typeof key === 'string' ? key : undefined, body, clock.now()),
        t: /t=(\d+)/.exec(sig ?? '')?.[1] ?? '',
      });
      res.writeHead(answers.shift() ?? 202).end();
    });
  });
  await new Promise<void>((resolve) => partner.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const s of held) s.destroy();
  hole?.close();
  partner?.close();
});

const ladder = { ESCALATE_ALL_OPERATORS_S: '30', ESCALATE_SUPERVISOR_S: '60', ESCALATE_OVERFLOW_S: '90' };

async function p1(h: Awaited<ReturnType<typeof helplineHarness>>, label: string): Promise<string> {
  n += 1;
  const residentId = `res_ovf_${label}_${n}`;
  await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  return (await h.caseOf(residentId)).id;
}

const eventsOf = async (h: Awaited<ReturnType<typeof helplineHarness>>, id: string) =>
  (await h.detail(id)).events as Event[];
const notesOf = async (h: Awaited<ReturnType<typeof helplineHarness>>, id: string) =>
  (await eventsOf(h, id)).filter((e) => e.kind === 'note').map((e) => e.data);

describe('the partner centre at the top of the ladder', () => {
  it('does not hold up the queue while it does not answer: an operator who comes is offered a case at once', async () => {
    const h = await helplineHarness('ovfhole', {
      TIMER_TICK_MS: '200',
      OFFER_TIMEOUT_S: '600',
      PRESENCE_TIMEOUT_S: '300',
      ...ladder,
      OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(hole.address() as AddressInfo).port}/overflow`,
      HELPLINE_PARTNER_SECRET: SECRET,
    });
    try {
      await h.start(clock);
      for (let i = 0; i < 5; i++)
        await h.publish(
          h.alert({
            residentId: `res_ovf_hole_${i}`,
            priority: 1,
            raisedAt: new Date(clock.now()).toISOString(),
          }),
        );
      await h.drained();
      // Nobody free: all five reach the partner rung in one tick, and the partner does not answer.
      clock.advance(91_000);
      await waitFor(() => held.length >= 1, { what: 'the first call to the partner', timeoutMs: 5_000 });
      const anna = await h.user('anna', 'operator');
      await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: anna.cookie });
      const console = await h.openConsole(anna.cookie);
      await waitFor(
        async () =>
          ((await h.api('/api/cases')).json as { offeredTo: string | null }[]).some(
            (c) => c.offeredTo === anna.id,
          ),
        {
          what: 'a case offered to the operator while the partner keeps the calls waiting',
          timeoutMs: 4_000,
          intervalMs: 100,
        },
      );
      console.close();
    } finally {
      await h.close();
    }
  }, 60_000);

  it('tries a handover that failed again, after a restart too, until the partner takes it, once, under one key', async () => {
    const h = await helplineHarness('ovfretry', {
      TIMER_TICK_MS: '60000',
      ...ladder,
      OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(partner.address() as AddressInfo).port}/overflow`,
      HELPLINE_PARTNER_SECRET: SECRET,
    });
    try {
      await h.start(clock);
      const id = await p1(h, 'retry');
      // The partner is down for a while: two 503s, then it takes the case.
      answers = [503, 503];
      clock.advance(91_000);
      await h.helpline.tick();
      const mine = () => calls.filter((c) => c.caseId === id);
      await waitFor(() => mine().length === 1, { what: 'the first handover' });
      const escalated = (await eventsOf(h, id)).find(
        (e) => e.kind === 'escalated' && e.data.to === 'overflow',
      );
      expect(escalated).toBeDefined();
      await waitFor(async () => (await notesOf(h, id)).length === 1, { what: 'the failure noted' });
      expect((await notesOf(h, id))[0]).toMatchObject({ overflowDelivery: 'failed', status: 503 });

      // The helpline restarts before the next attempt: the handover is not forgotten.
      await h.stop();
      await h.start(clock);
      for (let i = 0; i < 6 && mine().length < 3; i++) {
        clock.advance(30_000);
        await h.helpline.tick();
      }
      await waitFor(async () => (await notesOf(h, id)).some((d) => d.overflowDelivery === 'delivered'), {
        what: 'the handover delivered',
      });
      expect(mine()).toHaveLength(3);
      // The same handover each time: the partner can tell a retry from a second case.
      expect(mine().map((c) => c.key)).toEqual([escalated?.id, escalated?.id, escalated?.id]);
      // Each attempt is signed, and signed afresh: a retry is not a replay of an old signature.
      expect(mine().map((c) => c.problem)).toEqual([undefined, undefined, undefined]);
      expect(new Set(mine().map((c) => c.t)).size).toBe(3);
      expect((await notesOf(h, id)).at(-1)).toMatchObject({
        overflowDelivery: 'delivered',
        status: 202,
        attempt: 3,
      });
      clock.advance(120_000);
      await h.helpline.tick();
      await h.helpline.tick();
      expect(mine()).toHaveLength(3);
    } finally {
      await h.close();
    }
  }, 60_000);

  it('stops trying once an operator has answered the call', async () => {
    const h = await helplineHarness('ovfanswered', {
      TIMER_TICK_MS: '60000',
      ...ladder,
      OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(partner.address() as AddressInfo).port}/overflow`,
      HELPLINE_PARTNER_SECRET: SECRET,
    });
    try {
      await h.start(clock);
      const id = await p1(h, 'answered');
      answers = [503, 503, 503];
      clock.advance(91_000);
      await h.helpline.tick();
      const mine = () => calls.filter((c) => c.caseId === id);
      await waitFor(() => mine().length === 1, { what: 'the first handover' });
      const sup = await h.user('sup', 'supervisor');
      expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
      clock.advance(60_000);
      await h.helpline.tick();
      await waitFor(async () => (await notesOf(h, id)).some((d) => d.overflowDelivery === 'withdrawn'), {
        what: 'the handover withdrawn',
      });
      expect(mine()).toHaveLength(1);
      answers = [];
    } finally {
      await h.close();
    }
  }, 60_000);

  it('makes a handover a crash cut short: the process killed while the partner had not answered', async () => {
    const h = await helplineHarness('ovfcrash');
    const logs = mkdtempSync(path.join(tmpdir(), 'helpline-crash-'));
    try {
      // A helpline process as deployed, with a short ladder and a partner that does not answer.
      const child = await spawnService(
        'helpline',
        {
          ...h.env,
          ESCALATE_ALL_OPERATORS_S: '1',
          ESCALATE_SUPERVISOR_S: '1',
          ESCALATE_OVERFLOW_S: '1',
          TIMER_TICK_MS: '200',
          OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(hole.address() as AddressInfo).port}/overflow`,
          HELPLINE_PARTNER_SECRET: SECRET,
        },
        logs,
      );
      const before = held.length;
      const residentId = 'res_ovf_crash';
      await h.publish(h.alert({ residentId, priority: 1 }));
      await waitFor(() => held.length > before, { what: 'the call to the partner', timeoutMs: 15_000 });
      // Killed with the call open: the rung is recorded, the partner never got the case.
      child.child.kill('SIGKILL');
      await new Promise((resolve) => child.child.once('exit', resolve));

      // Another instance takes over; the partner is answering again.
      await h.start(undefined, {
        ESCALATE_ALL_OPERATORS_S: '1',
        ESCALATE_SUPERVISOR_S: '1',
        ESCALATE_OVERFLOW_S: '1',
        TIMER_TICK_MS: '200',
        OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(partner.address() as AddressInfo).port}/overflow`,
        HELPLINE_PARTNER_SECRET: SECRET,
      });
      const id = (await h.caseOf(residentId)).id;
      await waitFor(() => calls.some((c) => c.caseId === id), {
        what: 'the handover made by the instance that took over',
        timeoutMs: 20_000,
      });
      const escalated = (await eventsOf(h, id)).filter(
        (e) => e.kind === 'escalated' && e.data.to === 'overflow',
      );
      expect(escalated).toHaveLength(1);
      expect(calls.filter((c) => c.caseId === id).map((c) => c.key)).toEqual([escalated[0]?.id]);
    } finally {
      await h.close();
      rmSync(logs, { recursive: true, force: true });
    }
  }, 90_000);
});

import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Attack replay: one stolen operator or supervisor session past its read budget
// (REQUESTS_PER_MINUTE). Reads of a case in the reader's hand are counted apart, under a bound of
// their own (CASE_IN_HAND_READS_PER_MINUTE), so the case an operator holds still shows however
// many reads came before; but a queued case, or any open case a supervisor does not hold, is no
// longer read in a loop without bound. Past the budget, a case read answers the same whatever the
// id (no existence oracle), and HEAD, which Fastify answers for every GET route, is a read too.
const LIMIT = 10;
const IN_HAND = 120;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let serial = 0;

beforeAll(async () => {
  h = await helplineHarness('readbudget', {
    REQUESTS_PER_MINUTE: String(LIMIT),
    CASE_IN_HAND_READS_PER_MINUTE: String(IN_HAND),
  });
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

/** A new queued case, of a resident of its own. */
const newCase = async (): Promise<string> => {
  serial += 1;
  const residentId = `res_rb${serial}${Date.now().toString(36)}`;
  await h.publish(h.alert({ residentId }));
  return (await h.caseOf(residentId)).id;
};

/** Someone past their budget: LIMIT cheap reads, all answered. */
const spend = async (as: string) => {
  for (let i = 0; i < LIMIT; i++) expect((await h.api('/api/me', { as })).status).toBe(200);
  expect((await h.api('/api/me', { as })).status).toBe(429);
};

const securityEvents = async (userId: string) =>
  ((await h.api('/api/security-events?limit=200')).json.events as { kind: string; userId: string }[])
    .filter((e) => e.userId === userId)
    .map((e) => e.kind);

/** The reads a console makes of one case, every one of them a case read the budget decides. */
/** An answer but the seconds to wait, which may tick over between two. */
const answer = (r: { status: number; json: { error: string; message: string } }) => ({
  status: r.status,
  error: r.json.error,
  message: r.json.message.replace(/\d+ s\b/, 'N s'),
});

/** A case id no case has, of a real one's shape. */
const UNKNOWN = `case_${'0'.repeat(25)}`;

const CASE_READS = [
  '',
  '/alerts',
  '/joins',
  '/calls',
  '/call-targets',
  '/context',
  '/timeline?hours=1',
  '/notes?limit=5',
];

describe('the read budget, attacked', () => {
  it('exempts only the case in hand: a queued case and a colleague’s are refused past the budget', async () => {
    const op = await h.user('rb.op@example.org', 'operator');
    const sup = await h.user('rb.sup@example.org', 'supervisor');
    const colleague = await h.user('rb.colleague@example.org', 'operator');
    const queued = await newCase();
    const held = await newCase();
    const colleagues = await newCase();
    expect(
      (await h.api(`/api/cases/${colleagues}/accept`, { method: 'POST', as: colleague.cookie })).status,
    ).toBe(200);
    await spend(op.cookie);
    await spend(sup.cookie);

    // Waiting in the queue is not in anyone's hand: past the budget, refused to a looping script.
    expect((await h.api(`/api/cases/${queued}`, { as: op.cookie })).status).toBe(429);
    // A supervisor oversees every open case, but does not hold them.
    expect((await h.api(`/api/cases/${colleagues}`, { as: sup.cookie })).status).toBe(429);
    expect((await h.api(`/api/cases/${queued}`, { as: sup.cookie })).status).toBe(429);

    // Accepting is a write, never refused; the case held is then read, and all a console reads of it.
    expect((await h.api(`/api/cases/${held}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    for (const path of CASE_READS)
      expect((await h.api(`/api/cases/${held}${path}`, { as: op.cookie })).status, path).toBe(200);
    // The same for a supervisor who takes a case.
    expect((await h.api(`/api/cases/${queued}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
    expect((await h.api(`/api/cases/${queued}`, { as: sup.cookie })).status).toBe(200);
  });

  it('reads the case offered to the reader past the budget', async () => {
    const op = await h.user('rb.offered@example.org', 'operator');
    await newCase();
    await spend(op.cookie);
    // Offers go only to an operator whose console is open, and who is available.
    const consoleTab = await h.openConsole(op.cookie);
    try {
      expect(
        (await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie }))
          .status,
      ).toBe(200);
      const offered = await waitFor(
        async () => {
          await h.helpline.tick();
          const open = (await h.api('/api/cases?state=open')).json as {
            id: string;
            offeredTo: string | null;
          }[];
          return open.find((c) => c.offeredTo === op.id);
        },
        { what: 'a case to be offered to the operator' },
      );
      expect((await h.api(`/api/cases/${offered.id}`, { as: op.cookie })).status).toBe(200);
    } finally {
      await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: op.cookie });
      consoleTab.close();
    }
  });

  it('bounds reads of the case in hand too, far above a console, with a security event once passed', async () => {
    const op = await h.user('rb.looper@example.org', 'operator');
    const held = await newCase();
    expect((await h.api(`/api/cases/${held}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < IN_HAND + 3; i++)
      statuses.push((await h.api(`/api/cases/${held}`, { as: op.cookie })).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(IN_HAND);
    expect(statuses.slice(IN_HAND)).toEqual([429, 429, 429]);
    // Counted apart from the budget: the person's other reads are still answered.
    expect((await h.api('/api/me', { as: op.cookie })).status).toBe(200);
    expect(await securityEvents(op.id)).toEqual(['case-in-hand-reads-rate-limited']);
    const metrics = await (await fetch(`${h.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_case_in_hand_reads_refused_total(?:\{[^}]*\})? 3/);
  });

  it('answers a case read past the budget the same whatever the id: no existence oracle', async () => {
    const op = await h.user('rb.prober@example.org', 'operator');
    const real = await newCase();
    await spend(op.cookie);
    for (const path of [...CASE_READS, '/notes?before=forged']) {
      const [a, b] = [
        answer(await h.api(`/api/cases/${real}${path}`, { as: op.cookie })),
        answer(await h.api(`/api/cases/${UNKNOWN}${path}`, { as: op.cookie })),
      ];
      expect(a.status, path).toBe(429);
      expect(b, path).toEqual(a);
    }
  });

  it('counts HEAD as a read, and answers it the same whatever the case id past the budget', async () => {
    const op = await h.user('rb.head@example.org', 'operator');
    const real = await newCase();
    const head = async (path: string) =>
      (await fetch(`${h.helpline.url}${path}`, { method: 'HEAD', headers: { cookie: op.cookie.slice(7) } }))
        .status;
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) statuses.push(await head('/api/me'));
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect((await h.api('/api/me', { as: op.cookie })).status).toBe(429);
    for (const path of CASE_READS) {
      expect(await head(`/api/cases/${real}${path}`), path).toBe(429);
      expect(await head(`/api/cases/${UNKNOWN}${path}`), path).toBe(429);
    }
    expect(await securityEvents(op.id)).toEqual(['requests-rate-limited']);
  });
});

import { HELPLINE_ROUTES } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A field the helpline does not know is refused by name (400), not dropped: an operator's client
// that misspells `outcome`, `reason` or `returnPriority` would otherwise record something other
// than what the operator chose, and nobody would know. Each refusal changes nothing.

let h: Awaited<ReturnType<typeof helplineHarness>>;
let op: { id: string; cookie: string };
let other: { id: string; cookie: string };
let sup: { id: string; cookie: string };
let residents = 0;

beforeAll(async () => {
  // No timer runs during the test: a case changes only when a request changes it.
  h = await helplineHarness('unknownfields', { TIMER_TICK_MS: '60000', PRESENCE_TIMEOUT_S: '300' });
  await h.start();
  op = await h.user('op', 'operator');
  other = await h.user('other', 'operator');
  sup = await h.user('sup', 'supervisor');
});

afterAll(async () => {
  await h?.close();
});

type Answer = Awaited<ReturnType<typeof h.api>>;

/** A 400 whose issues name `field` as unknown. */
function refusedNaming(answer: Answer, field: string): void {
  expect(answer.status, JSON.stringify(answer.json)).toBe(400);
  expect(answer.json).toMatchObject({ error: 'invalid-request' });
  expect(answer.json.issues).toEqual(expect.arrayContaining([{ path: field, message: 'unknown field' }]));
}

async function newCase(): Promise<string> {
  residents += 1;
  const residentId = `res_unknown${residents}`;
  await h.publish(h.alert({ residentId }));
  return (await h.caseOf(residentId)).id;
}

async function acceptedCase(): Promise<string> {
  const id = await newCase();
  const accepted = await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: op.cookie });
  expect(accepted.status).toBe(200);
  return id;
}

describe('case actions', () => {
  it('accept and decline with a field they do not take are refused by name; the case stays as it was', async () => {
    const id = await newCase();
    const before = await h.detail(id);
    refusedNaming(
      await h.api(`/api/cases/${id}/accept`, { method: 'POST', body: { seenAlerts: 1 }, as: op.cookie }),
      'seenAlerts',
    );
    refusedNaming(
      await h.api(`/api/cases/${id}/decline`, {
        method: 'POST',
        body: { reason: 'on another call' },
        as: op.cookie,
      }),
      'reason',
    );
    expect(await h.detail(id)).toEqual(before);
    // Without a body, or with an empty one, they still work.
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', body: {}, as: op.cookie })).status).toBe(
      200,
    );
  });

  it('hold, resolve, reassign, a note, responder and 999 records, a fact and a reveal with a misspelt field change nothing', async () => {
    const id = await acceptedCase();
    const before = await h.detail(id);
    const post = (path: string, body: unknown, as = op.cookie) =>
      h.api(`/api/cases/${id}/${path}`, { method: 'POST', body, as, key: `${path}-unknown-0001` });
    const until = new Date(Date.now() + 15 * 60_000).toISOString();

    refusedNaming(await post('hold', { until, reason: 'call back', returnPriorty: 1 }), 'returnPriorty');
    refusedNaming(await post('resolve', { outcom: 'false-alarm', reason: 'pressed by mistake' }), 'outcom');
    refusedNaming(
      await post('resolve', {
        outcome: 'responder-visit',
        reason: 'helped up',
        facts: [
          { fact: 'found-on-floor', at: new Date().toISOString(), onFloorMinute: 40, source: 'resident' },
        ],
      }),
      'facts.0.onFloorMinute',
    );
    refusedNaming(await post('reassign', { to: other.id, reasn: 'end of shift' }, sup.cookie), 'reasn');
    refusedNaming(await post('notes', { text: 'spoke to the resident', urgent: true }), 'urgent');
    refusedNaming(
      await post('responder-calls', {
        responderId: 'rsp_1',
        name: 'Daughter',
        result: 'accepted',
        eta: '10 min',
      }),
      'eta',
    );
    refusedNaming(await post('emergency-calls', { service: 'ambulance', referance: 'CAD-1' }), 'referance');
    refusedNaming(
      await post('facts', { fact: 'responder-arrived', at: new Date().toISOString(), responder: 'rsp_1' }),
      'responder',
    );
    refusedNaming(await post('reveal', { field: 'keySafe', reson: 'to let the ambulance in' }), 'reson');

    expect(await h.detail(id)).toEqual(before);
    // The same actions, spelt right, are taken.
    const note = await post('notes', { text: 'spoke to the resident' });
    expect(note.status).toBe(201);
    const resolved = await post('resolve', { outcome: 'false-alarm', reason: 'pressed by mistake' });
    expect(resolved.status).toBe(200);
    expect(resolved.json).toMatchObject({ state: 'resolved', outcome: 'false-alarm' });
  });

  it('starting and ending a call with a field it does not take is refused by name', async () => {
    const id = await acceptedCase();
    const before = await h.detail(id);
    refusedNaming(
      await h.api(`/api/cases/${id}/calls`, {
        method: 'POST',
        body: { party: 'resident', number: 'tel:0900123456' },
        as: op.cookie,
      }),
      'number',
    );
    refusedNaming(
      await h.api(`/api/cases/${id}/calls/call_0000000000000000/end`, {
        method: 'POST',
        body: { outcome: 'answered', duration: 30 },
        as: op.cookie,
      }),
      'duration',
    );
    expect(await h.detail(id)).toEqual(before);
  });

  it('a case list or timeline asked with a query it does not know is refused by name', async () => {
    const id = await newCase();
    refusedNaming(await h.api('/api/cases?state=all&priority=1', { as: op.cookie }), 'priority');
    refusedNaming(await h.api('/api/cases?stat=all', { as: op.cookie }), 'stat');
    refusedNaming(await h.api(`/api/cases/${id}/timeline?hour=2`, { as: op.cookie }), 'hour');
    expect((await h.api('/api/cases?state=all&limit=10', { as: op.cookie })).status).toBe(200);
  });
});

describe('people', () => {
  it('sign-in, passwords and sign-out with a field they do not take are refused by name; nothing changes', async () => {
    const login = await h.api('/api/login', {
      method: 'POST',
      body: { username: 'op', password: 'correct horse battery', remember: true },
      as: '',
    });
    refusedNaming(login, 'remember');
    expect(login.setCookie).toBe('');

    refusedNaming(
      await h.api('/api/me/password', {
        method: 'PUT',
        body: { current: 'correct horse battery', password: 'Another-pass-8812!', confirm: 'x' },
        as: op.cookie,
      }),
      'confirm',
    );
    refusedNaming(
      await h.api(`/api/users/${other.id}/password`, {
        method: 'POST',
        body: { password: 'Another-pass-8812!', endSessions: false },
      }),
      'endSessions',
    );
    for (const what of ['disable', 'enable', 'end-sessions'])
      refusedNaming(
        await h.api(`/api/users/${other.id}/${what}`, { method: 'POST', body: { reason: 'leaver' } }),
        'reason',
      );
    refusedNaming(
      await h.api('/api/logout', { method: 'POST', body: { everywhere: true }, as: other.cookie }),
      'everywhere',
    );

    // The passwords are as they were, and the sessions still good.
    expect((await h.api('/api/me', { as: op.cookie })).status).toBe(200);
    expect((await h.api('/api/me', { as: other.cookie })).status).toBe(200);
    const signedIn = await h.api('/api/login', {
      method: 'POST',
      body: { username: 'other', password: 'correct horse battery' },
      as: '',
    });
    expect(signedIn.status).toBe(200);
  });
});

describe('presence', () => {
  it('presence and heartbeats with a field they do not take are refused by name; presence stays', async () => {
    expect(
      (await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: other.cookie }))
        .status,
    ).toBe(200);
    refusedNaming(
      await h.api('/api/presence', {
        method: 'PUT',
        body: { status: 'away', until: new Date().toISOString() },
        as: other.cookie,
      }),
      'until',
    );
    refusedNaming(
      await h.api(`/api/users/${other.id}/presence`, {
        method: 'PUT',
        body: { status: 'away', reason: 'break' },
        as: sup.cookie,
      }),
      'reason',
    );
    refusedNaming(
      await h.api(`/api/users/${other.id}/logout`, {
        method: 'POST',
        body: { reason: 'break' },
        as: sup.cookie,
      }),
      'reason',
    );
    const desk = await h.openConsole(other.cookie);
    refusedNaming(
      await h.api('/api/presence/heartbeat', {
        method: 'POST',
        body: { console: desk.id, presence: 'away' },
        as: other.cookie,
      }),
      'presence',
    );
    const me = await h.api('/api/me', { as: other.cookie });
    expect(me.json).toMatchObject({ chosenPresence: 'available' });
    desk.close();
  });
});

describe('what supervisors watch, and the live stream', () => {
  it('figures, security events and the overview asked with a query they do not know are refused by name', async () => {
    refusedNaming(await h.api('/api/stats/answer?hour=24', { as: sup.cookie }), 'hour');
    refusedNaming(
      await h.api('/api/supervisor/overview?hours=24&priority=1', { as: sup.cookie }),
      'priority',
    );
    refusedNaming(
      await h.api('/api/security-events?limit=10&kind=reveal-refused', { as: sup.cookie }),
      'kind',
    );
    expect((await h.api('/api/stats/answer?hours=24', { as: sup.cookie })).status).toBe(200);
  });

  it('a stream asked with a query it does not know is refused by name', async () => {
    const refused = await fetch(`${h.helpline.url}/api/stream?since=0`, {
      headers: { authorization: `Bearer ${h.adminToken}` },
    });
    const json = await refused.json();
    refusedNaming({ status: refused.status, json, setCookie: '' }, 'since');
  });
});

describe('every route', () => {
  it('refuses a query parameter it does not take, by name, before anything else is read', async () => {
    // The routes as the helpline serves them: its OpenAPI document lists every route it mounted
    // from the contracts (src/openapi.test.ts keeps the two the same).
    const doc = (await h.api('/api/openapi.json')).json as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
    );
    expect(routes).toHaveLength(Object.keys(HELPLINE_ROUTES).length);
    const id = await newCase();
    const before = await h.detail(id);
    const throwaway = await h.user('walker', 'operator');
    for (const { method, path } of routes) {
      const contract = Object.values(HELPLINE_ROUTES).find((r) => r.method === method && r.path === path);
      const roles = contract?.roles;
      // Someone the route allows, so the refusal is the query's and not the role's.
      const as = Array.isArray(roles)
        ? roles.includes('admin')
          ? h.adminToken
          : roles.includes('operator')
            ? throwaway.cookie
            : sup.cookie
        : throwaway.cookie;
      const url = path
        .replace(
          '{id}',
          path.startsWith('/api/cases/') ? id : path.startsWith('/api/tokens/') ? 'tkn_00000000' : other.id,
        )
        .replace('{callId}', 'call_0000000000000000');
      // No body, even where one is required: the unknown parameter is named first.
      const answer = await h.api(`${url}?${path === '/api/cases' ? 'state=all&' : ''}not_a_param=1`, {
        method,
        as,
      });
      expect(answer.status, `${method} ${path}: ${JSON.stringify(answer.json)}`).toBe(400);
      expect(answer.json.issues, `${method} ${path}`).toEqual(
        expect.arrayContaining([{ path: 'not_a_param', message: 'unknown field' }]),
      );
    }
    // Nothing was done: the case is as it was, and the sign-out (logout) did not sign anyone out.
    expect(await h.detail(id)).toEqual(before);
    expect((await h.api('/api/me', { as: throwaway.cookie })).status).toBe(200);
  });
});

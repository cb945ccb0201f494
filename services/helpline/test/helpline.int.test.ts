import {
  type Alert,
  alertIdFor,
  Case,
  CaseEvent,
  DeadLetter,
  names,
  type Priority,
} from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  consumerOf,
  type HelplineHandle,
  loadHelplineConfig,
  PRIORITIES,
  startHelpline,
} from '../src/index.ts';
import { readSse } from './sse.ts';

const ns = uniqueNamespace('helpline');
const n = names(ns);
const env = serviceEnv(ns, { HELPLINE_PORT: '0', CASE_JOIN_WINDOW_S: '900' });
const token = env.TELECARE_ADMIN_TOKEN as string;
const schema = n.schema('helpline');
const logger = createLogger('helpline-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let helpline: HelplineHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let db: pg.Client;

const CaseDetail = Case.extend({ events: z.array(CaseEvent) });

let counter = 0;
function alert(overrides: Partial<Alert> & { residentId: string }): Alert {
  counter += 1;
  const evidence = overrides.evidence ?? [`evt_${ns}_${counter}`];
  const type = overrides.type ?? 'pendant.pressed';
  return {
    id: alertIdFor(`rule.${type}`, overrides.residentId, evidence.join(',')),
    priority: 1,
    type,
    raisedAt: new Date().toISOString(),
    rule: { id: `rule.${type}`, version: 1 },
    evidence,
    thresholds: {},
    reason: `${type} at home`,
    late: false,
    testMode: false,
    ...overrides,
  };
}

async function publishAlert(a: Alert, msgID: string = a.id): Promise<void> {
  await js.publish(n.subjects.alert(a.priority as Priority, a.residentId), JSON.stringify(a), { msgID });
}

/** The helpline has acked everything published to ALERTS so far. */
async function drained(): Promise<void> {
  await waitFor(
    async () => {
      for (const p of PRIORITIES) {
        const info = await jsm.consumers.info(n.streams.alerts, consumerOf(p));
        if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
      return true;
    },
    { what: 'helpline consumer to catch up' },
  );
}

async function api(path: string, init: { method?: string; body?: unknown; auth?: boolean } = {}) {
  const headers: Record<string, string> = {};
  if (init.auth !== false) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${helpline.url}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

async function openCases(): Promise<Case[]> {
  const { status, json } = await api('/api/cases?state=open');
  expect(status).toBe(200);
  return z.array(Case).parse(json);
}

const caseOf = (residentId: string) =>
  waitFor(async () => (await openCases()).find((c) => c.residentId === residentId), {
    what: `an open case for ${residentId}`,
  });

async function detail(id: string) {
  const { status, json } = await api(`/api/cases/${id}`);
  expect(status).toBe(200);
  return CaseDetail.parse(json);
}

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** A minimal EventSource over fetch, so the test can set Last-Event-ID and read what arrives. */
function openStream(options: { lastEventId?: string; as?: string } = {}) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  const headers: Record<string, string> = { authorization: `Bearer ${options.as ?? token}` };
  if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
  const done = (async () => {
    const response = await fetch(`${helpline.url}/api/stream`, { headers, signal: controller.signal });
    if (response.status !== 200 || !response.body) {
      await response.body?.cancel();
      return response.status;
    }
    await readSse(response.body, (frame) => {
      if (frame.data) events.push({ ...frame });
    });
    return 200;
  })();
  return {
    events,
    cases: () =>
      events
        .filter((e) => e.event === 'case')
        .map((e) => ({ id: e.id, case: Case.parse(JSON.parse(e.data)) })),
    close: async () => {
      controller.abort();
      return done;
    },
    done,
  };
}

const start = async () => {
  helpline = await startHelpline(loadHelplineConfig(env), { logger });
};

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'helpline-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  await start();
});

afterAll(async () => {
  await helpline?.close();
  await nc?.close();
  await db?.end();
  await cleanupNamespace(ns);
});

describe('helpline service', () => {
  it('serves health, readiness and refuses the API without the token', async () => {
    expect((await fetch(`${helpline.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${helpline.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { postgres: true, nats: true } });
    expect((await api('/api/cases', { auth: false })).status).toBe(401);
    const noToken = await fetch(`${helpline.url}/api/stream`);
    expect(noToken.status).toBe(401);
    await noToken.body?.cancel();
    const page = await fetch(`${helpline.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('src="/console.js"');
    // The outcome codes come from the contracts, bundled into the console's script.
    const script = await fetch(`${helpline.url}/console.js`);
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('"false-alarm"');
  });

  it('opens a case from an alert that explains itself', async () => {
    const a = alert({ residentId: 'res_open1', evidence: ['evt_press_1'], thresholds: { preAlarmS: 30 } });
    await publishAlert(a);
    const c = await caseOf('res_open1');
    expect(c).toMatchObject({
      residentId: 'res_open1',
      priority: 1,
      type: 'pendant.pressed',
      state: 'queued',
      raisedAt: new Date(a.raisedAt).toISOString(),
      acceptedAt: null,
      outcome: null,
      alertIds: [a.id],
    });
    expect(c.id).toMatch(/^case_/);
    expect(c.because).toEqual([
      {
        alertId: a.id,
        priority: 1,
        raisedAt: new Date(a.raisedAt).toISOString(),
        rule: a.rule,
        reason: a.reason,
        evidence: ['evt_press_1'],
        thresholds: { preAlarmS: 30 },
        late: false,
      },
    ]);

    // The opening is in the audit trail and in CASES, with the case event id as the message id.
    const { events } = await detail(c.id);
    expect(events.map((e) => e.kind)).toEqual(['opened']);
    const opened = events[0] as CaseEvent;
    const stored = await waitFor(() =>
      jsm.streams
        .getMessage(n.streams.cases, { last_by_subj: n.subjects.caseEvent(c.id) })
        .then((m) => m ?? undefined)
        .catch(() => undefined),
    );
    expect(CaseEvent.parse(stored.json())).toEqual(opened);
    expect(stored.header?.get('Nats-Msg-Id')).toBe(opened.id);
  });

  it('changes nothing when the same alert arrives again', async () => {
    const a = alert({ residentId: 'res_dup' });
    await publishAlert(a);
    const c = await caseOf('res_dup');
    // A different msgID gets past JetStream's own deduplication: the helpline must hold the line.
    await publishAlert(a, `${a.id}-again`);
    await publishAlert(a, `${a.id}-third`);
    await drained();
    const mine = (await openCases()).filter((x) => x.residentId === 'res_dup');
    expect(mine).toHaveLength(1);
    expect(mine[0]?.alertIds).toEqual([a.id]);
    const { rows } = await db.query(
      `select count(*)::int as n from "${schema}".case_alerts where alert_id = $1`,
      [a.id],
    );
    expect(rows[0].n).toBe(1);
    expect((await detail(c.id)).events).toHaveLength(1);
  });

  it('joins a further alert for the same resident and raises the priority', async () => {
    const first = alert({ residentId: 'res_join', type: 'mains.lost', priority: 3 });
    await publishAlert(first);
    const c = await caseOf('res_join');
    expect(c.priority).toBe(3);
    const second = alert({ residentId: 'res_join', type: 'fall.detected', priority: 1, late: true });
    await publishAlert(second);
    const joined = await waitFor(async () => {
      const found = (await openCases()).filter((x) => x.residentId === 'res_join');
      return found.length === 1 && found[0]?.alertIds.length === 2 && found[0];
    });
    expect(joined.id).toBe(c.id);
    expect(joined.priority).toBe(1);
    expect(joined.type).toBe('fall.detected');
    expect(joined.because.map((b) => [b.alertId, b.late])).toEqual([
      [first.id, false],
      [second.id, true],
    ]);
    const { events } = await detail(c.id);
    expect(events.map((e) => e.kind)).toEqual(['opened', 'alert-joined']);
    expect(events[1]?.data).toMatchObject({ alertId: second.id, priorityRaisedFrom: 3 });
  });

  it('opens a new case for an alert outside the join window', async () => {
    const old = alert({ residentId: 'res_window', raisedAt: new Date(Date.now() - 3600_000).toISOString() });
    await publishAlert(old);
    await caseOf('res_window');
    await publishAlert(alert({ residentId: 'res_window' }));
    await waitFor(async () => (await openCases()).filter((x) => x.residentId === 'res_window').length === 2);
  });

  it('accepts, refuses a resolve without outcome, resolves, and refuses everything after', async () => {
    await publishAlert(alert({ residentId: 'res_flow' }));
    const c = await caseOf('res_flow');

    const early = await api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'x' },
    });
    expect(early.status).toBe(409);
    expect(early.json).toMatchObject({ error: 'refused', state: 'queued' });

    const accepted = await api(`/api/cases/${c.id}/accept`, { method: 'POST' });
    expect(accepted.status).toBe(200);
    const acceptedCase = Case.parse(accepted.json);
    expect(acceptedCase.state).toBe('accepted');
    expect(acceptedCase.acceptedAt).not.toBeNull();

    const before = await detail(c.id);
    for (const body of [
      { reason: 'no outcome' },
      { outcome: 'false-alarm' },
      { outcome: 'nope', reason: 'x' },
    ]) {
      const refused = await api(`/api/cases/${c.id}/resolve`, { method: 'POST', body });
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ error: 'invalid-request' });
    }
    expect(await detail(c.id)).toEqual(before);

    const resolved = await api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'Spoke to resident, pressed by mistake' },
    });
    expect(resolved.status).toBe(200);
    expect(Case.parse(resolved.json)).toMatchObject({ state: 'resolved', outcome: 'reassurance-given' });

    const again = await api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'twice' },
    });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ message: 'the case is already resolved' });
    expect((await api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(409);

    const after = await detail(c.id);
    expect(after.events.map((e) => e.kind)).toEqual(['opened', 'accepted', 'resolved']);
    expect(after.events[2]?.data).toEqual({
      outcome: 'reassurance-given',
      reason: 'Spoke to resident, pressed by mistake',
    });
    expect((await openCases()).some((x) => x.id === c.id)).toBe(false);
    const all = await api('/api/cases?state=all');
    expect(
      z
        .array(Case)
        .parse(all.json)
        .some((x) => x.id === c.id),
    ).toBe(true);
    expect((await api('/api/cases/case_00000000doesnotexist/accept', { method: 'POST' })).status).toBe(404);
  });

  it('puts an accepted case on hold with a call-back and a return priority', async () => {
    await publishAlert(alert({ residentId: 'res_hold', type: 'medication.missed', priority: 2 }));
    const c = await caseOf('res_hold');
    expect((await api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    const past = await api(`/api/cases/${c.id}/hold`, {
      method: 'POST',
      body: { until: new Date(Date.now() - 1000).toISOString(), reason: 'call back' },
    });
    expect(past.status).toBe(400);
    const until = new Date(Date.now() + 30 * 60_000).toISOString();
    const held = await api(`/api/cases/${c.id}/hold`, {
      method: 'POST',
      body: { until, reason: 'Call back after carer visit', returnPriority: 1 },
    });
    expect(held.status).toBe(200);
    expect(Case.parse(held.json).state).toBe('on_hold');
    const { events } = await detail(c.id);
    expect(events.at(-1)).toMatchObject({
      kind: 'held',
      data: { until, reason: 'Call back after carer visit', returnPriority: 1 },
    });

    // A new alert while on hold cannot wait for the call-back: the case returns to the queue.
    const urgent = alert({ residentId: 'res_hold', type: 'fall.detected', priority: 1 });
    await publishAlert(urgent);
    const requeued = await waitFor(async () => {
      const found = (await openCases()).find((x) => x.id === c.id);
      return found?.state === 'queued' && found;
    });
    expect(requeued).toMatchObject({ priority: 1, alertIds: [c.alertIds[0], urgent.id] });
  });

  it('records exactly one acceptance when two accepts race', async () => {
    await publishAlert(alert({ residentId: 'res_race' }));
    const c = await caseOf('res_race');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => api(`/api/cases/${c.id}/accept`, { method: 'POST' })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    const { events } = await detail(c.id);
    expect(events.filter((e) => e.kind === 'accepted')).toHaveLength(1);
  });

  it('streams a case event when a case opens, and catches up after a reconnect', async () => {
    const stream = openStream();
    await waitFor(() => stream.events.some((e) => e.event === 'snapshot'), { what: 'snapshot' });
    const a = alert({ residentId: 'res_sse' });
    await publishAlert(a);
    const first = await waitFor(() => stream.cases().find((e) => e.case.residentId === 'res_sse'), {
      what: 'case event on the stream',
    });
    expect(first.case).toMatchObject({ state: 'queued', alertIds: [a.id] });
    expect(first.id).toMatch(/^\d+$/);
    await stream.close();

    // While disconnected, the case is accepted; reconnecting with Last-Event-ID delivers it.
    expect((await api(`/api/cases/${first.case.id}/accept`, { method: 'POST' })).status).toBe(200);
    const resumed = openStream({ lastEventId: first.id as string });
    const missed = await waitFor(
      () => resumed.cases().find((e) => e.case.id === first.case.id && e.case.state === 'accepted'),
      { what: 'missed change replayed' },
    );
    expect(Number(missed.id)).toBeGreaterThan(Number(first.id));
    expect(resumed.events.some((e) => e.event === 'snapshot')).toBe(false);
    await resumed.close();

    // The stream refuses a wrong token.
    expect(await openStream({ as: 'wrong-token-0123456789' }).done).toBe(401);
    // Streams whose client went away are let go.
    await waitFor(async () =>
      /helpline_stream_clients\{[^}]*\} 0/.test(await (await fetch(`${helpline.url}/metrics`)).text()),
    );
  });

  it('dead-letters alert messages that are not JSON or not an Alert, and carries on', async () => {
    await js.publish(n.subjects.alert(1, 'res_bad'), 'not json {', { msgID: `${ns}-bad-1` });
    await js.publish(n.subjects.alert(1, 'res_bad'), JSON.stringify({ id: 'alt_x', residentId: 'res_bad' }), {
      msgID: `${ns}-bad-2`,
    });
    for (const reason of ['not-json', 'schema'] as const) {
      const msg = await waitFor(
        () =>
          jsm.streams
            .getMessage(n.streams.deadletter, { last_by_subj: n.subjects.deadletter('helpline', reason) })
            .then((m) => m ?? undefined)
            .catch(() => undefined),
        { what: `${reason} dead letter` },
      );
      const letter = DeadLetter.parse(msg.json());
      // The origin is the subject and the stream sequence, as for every consumer's dead letters.
      expect(letter).toMatchObject({ service: 'helpline', reason });
      expect(letter.origin).toMatch(
        new RegExp(`^${n.subjects.alert(1, 'res_bad').replaceAll('.', '\\.')}#\\d+$`),
      );
    }
    await publishAlert(alert({ residentId: 'res_after_bad' }));
    await caseOf('res_after_bad');
    await drained();
    const metrics = await (await fetch(`${helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_alerts_refused_total\{reason="not-json"[^}]*\} 1/);
  });

  it('keeps test-mode alerts out of the queue but records them', async () => {
    const a = alert({ residentId: 'res_test', testMode: true });
    await publishAlert(a);
    await drained();
    expect((await openCases()).some((c) => c.residentId === 'res_test')).toBe(false);
    const { rows } = await db.query(
      `select c.state, c.test_mode from "${schema}".case_alerts a join "${schema}".cases c on c.id = a.case_id
       where a.alert_id = $1`,
      [a.id],
    );
    expect(rows).toEqual([{ state: 'closed', test_mode: true }]);
  });

  it('keeps case_events append-only', async () => {
    await expect(db.query(`update "${schema}".case_events set actor = 'someone'`)).rejects.toThrow(
      /append-only/,
    );
    await expect(db.query(`delete from "${schema}".case_events`)).rejects.toThrow(/append-only/);
  });

  it('lists every open case again after a restart', async () => {
    await drained();
    const before = await openCases();
    expect(before.length).toBeGreaterThanOrEqual(5);
    await helpline.close();
    await start();
    expect(await openCases()).toEqual(before);
    // And it still takes alerts.
    await publishAlert(alert({ residentId: 'res_after_restart' }));
    await caseOf('res_after_restart');
  });
});

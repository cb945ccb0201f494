import { Writable } from 'node:stream';
import {
  createLogger,
  type JetStreamClient,
  type JetStreamManager,
  ManualClock,
  type NatsConnection,
} from '@telecare/platform';
import { DEFAULT_RULE_SET, type RuleSetInput } from '@telecare/rules';
import { cleanupNamespace, openBucket, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTriage, type TriageHandle } from '../src/index.ts';
import type { RulesInForceBody } from '../src/rules-api.ts';
import { drained, makeEvent, publishEvent, readAlerts, T0, triageTestbed } from './support.ts';

/** The default pendant rule's own version (a rule's version is not the set's). */
const pendantVersion = DEFAULT_RULE_SET.rules.find((rule) => rule.id === 'trigger.pendant')?.version;

const PARTITIONS = 1;
const TOKEN = 'test-admin-token-0123456789';
const clock = new ManualClock(T0);

/** Every log line of the triage instances this file starts, parsed. */
const logs: Array<{ level: number; msg: string; [field: string]: unknown }> = [];
const logger = createLogger(
  'triage-rules-test',
  'info',
  new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  }),
);

const { ns, n, config, connect } = triageTestbed('triage-rules', PARTITIONS, logger);

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const running: TriageHandle[] = [];

const start = async () => {
  const triage = await startTriage(config, { logger, clock });
  running.push(triage);
  return triage;
};
const stop = async (triage: TriageHandle) => {
  running.splice(running.indexOf(triage), 1);
  await triage.close();
};

const api = (triage: TriageHandle, path: string, init: RequestInit = {}) =>
  fetch(`${triage.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
  });
const getRules = async (triage: TriageHandle) =>
  (await (await api(triage, '/api/rules')).json()) as RulesInForceBody;
const putRules = (triage: TriageHandle, ruleSet: unknown, basedOn?: number) =>
  api(triage, '/api/rules', {
    method: 'PUT',
    body: JSON.stringify(ruleSet),
    ...(basedOn === undefined ? {} : { headers: { 'if-match': `"${basedOn}"` } }),
  });

/** The default rules at `version`, with the pendant's reason marked so an alert shows which set ran. */
const marked = (version: number): RuleSetInput => ({
  ...DEFAULT_RULE_SET,
  version,
  rules: DEFAULT_RULE_SET.rules.map((rule) =>
    rule.id === 'trigger.pendant' ? { ...rule, reason: `${rule.reason} [set v${version}]` } : rule,
  ),
});

let presses = 0;
/** A pendant press through EVENTS; resolves with the alert triage raised for it. */
async function press() {
  const event = makeEvent({
    residentId: `res_rules_${++presses}`,
    type: 'pendant.pressed',
    deviceEventId: `rules-press-${presses}`,
    partitions: PARTITIONS,
  });
  await publishEvent(js, n, event);
  const stored = await waitFor(
    async () => (await readAlerts(jsm, n)).find((a) => a.alert.evidence[0] === event.id),
    {
      what: 'the press alert',
    },
  );
  await drained(jsm, n, PARTITIONS);
  return stored.alert;
}

beforeAll(async () => {
  ({ nc, js, jsm } = await connect());
});

afterAll(async () => {
  for (const triage of [...running]) await triage.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('the rule set in force is stored, versioned and shared', () => {
  it('with nothing stored, runs the default rules, stores nothing and says so', async () => {
    const triage = await start();
    expect(await getRules(triage)).toMatchObject({ source: 'default', revision: 0, version: 1 });
    const kv = await openBucket(nc, n.kv.triageRules);
    expect(await kv.get('in-force')).toBeNull();
    expect(logs.map((line) => line.msg)).toContain('no rule set stored: the default rules are in force');
    expect((await api(triage, '/api/rules/history').then((r) => r.json())) as unknown).toEqual({
      versions: [],
    });
    await stop(triage);
  });

  it('stores a put, survives a restart, and a second instance following the bucket puts it in force', async () => {
    const first = await start();
    const second = await start();
    const put = await putRules(first, marked(2), 0);
    expect(put.status).toBe(200);
    const { revision } = (await put.json()) as { revision: number };
    expect(revision).toBeGreaterThan(0);
    expect(await getRules(first)).toMatchObject({ source: 'stored', revision, version: 2, putBy: 'admin' });
    // The other instance took no request: its watch on the bucket brought the set.
    await waitFor(async () => (await getRules(second)).version === 2, {
      what: 'the second instance to follow',
    });
    expect(await getRules(second)).toMatchObject({ source: 'stored', revision, version: 2 });
    await stop(second);

    await stop(first);
    const restarted = await start();
    const after = await getRules(restarted);
    expect(after).toMatchObject({
      source: 'stored',
      revision,
      version: 2,
      putAt: new Date(T0).toISOString(),
    });
    expect(after.ruleSet.rules.find((rule) => rule.id === 'trigger.pendant')?.reason).toContain('[set v2]');
    const alert = await press();
    expect(alert.rule).toEqual({ id: 'trigger.pendant', version: pendantVersion });
    expect(alert.reason).toContain('[set v2]');
    await stop(restarted);
  });

  it('refuses the second of two puts based on one revision (409 with the version in force), and a version that does not grow', async () => {
    const triage = await start();
    const base = await getRules(triage);
    const answers = await Promise.all([
      putRules(triage, marked(base.version + 1), base.revision),
      putRules(triage, marked(base.version + 2), base.revision),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    const winner = (await getRules(triage)).version;
    const refused = answers.find((answer) => answer.status === 409) as Response;
    expect(await refused.json()).toMatchObject({
      error: 'stale-revision',
      inForce: winner,
      revision: base.revision + 1,
      message: expect.stringContaining(`changed since revision ${base.revision}`),
    });
    expect([base.version + 1, base.version + 2]).toContain(winner);

    const same = await putRules(triage, marked(winner));
    expect(same.status).toBe(409);
    expect(await same.json()).toMatchObject({
      error: 'version-not-greater',
      inForce: winner,
      message: expect.stringContaining(`version ${winner} is not above version ${winner}`),
    });
    expect((await getRules(triage)).version).toBe(winner);

    const { versions } = (await (await api(triage, '/api/rules/history')).json()) as {
      versions: Array<{ revision: number; version: number; putAt: string; putBy?: string }>;
    };
    expect(versions.map((v) => v.version)).toEqual([winner, 2]);
    expect(versions[0]).toMatchObject({
      revision: base.revision + 1,
      putBy: 'admin',
      rules: base.ruleSet.rules.length,
    });
    await stop(triage);
  });

  it('runs the default rules, loudly, when the stored set no longer validates: at start and while running', async () => {
    const kv = await openBucket(nc, n.kv.triageRules);
    // A set a later schema wrote: a rule kind this one does not know.
    const later = {
      ...marked(7),
      rules: [...marked(7).rules, { id: 'future.rule', version: 1, kind: 'premonition', reason: '{what}' }],
    };
    const write = (ruleSet: unknown) =>
      kv.put('in-force', JSON.stringify({ ruleSet, putAt: new Date(T0).toISOString() }));
    const revision = await write(later);
    logs.length = 0;
    const triage = await start();
    const atStart = await getRules(triage);
    expect(atStart).toMatchObject({ source: 'default', revision, version: 1, refused: { version: 7 } });
    expect(atStart.refused?.issues.map((issue) => issue.path)).toContain(
      `rules.${DEFAULT_RULE_SET.rules.length}.kind`,
    );
    const loud = logs.find((line) => line.msg.startsWith('the stored rule set no longer validates'));
    expect(loud).toMatchObject({ level: 50, revision, storedVersion: 7 });
    expect((await press()).reason).not.toContain('[set v');

    // A valid set must still go above the refused one's version.
    expect((await putRules(triage, marked(7))).status).toBe(409);
    expect((await putRules(triage, marked(8))).status).toBe(200);
    expect((await press()).reason).toContain('[set v8]');

    // Written under the running instance: the defaults take over, and the log says so.
    logs.length = 0;
    const next = await write({ ...later, version: 9 });
    await waitFor(async () => (await getRules(triage)).revision === next, { what: 'the watch to bring it' });
    expect(await getRules(triage)).toMatchObject({ source: 'default', version: 1, refused: { version: 9 } });
    expect(logs.some((line) => line.level === 50 && line.revision === next)).toBe(true);
    expect((await press()).reason).not.toContain('[set v');
    await stop(triage);
  });
});

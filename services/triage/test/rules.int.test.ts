import { Writable } from 'node:stream';
import { Kvm } from '@nats-io/kv';
import {
  createLogger,
  createRedis,
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

type HistoryBody = {
  versions: Array<{
    revision: number;
    version: number | null;
    rules: number | null;
    putAt: string;
    putBy?: string;
  }>;
};
const history = async (triage: TriageHandle) =>
  (await (await api(triage, '/api/rules/history')).json()) as HistoryBody;
/** Every message of the rules bucket's stream: the key's versions, with no one written twice. */
const bucketMessages = async () => (await jsm.streams.info(`KV_${n.kv.triageRules}`)).state.messages;

describe('the history of the rule set survives the loss of its bucket', () => {
  it('two running instances write the history back once, in order, with its revisions: the history read after equals the one before', async () => {
    const first = await start();
    const second = await start();
    // Whatever the tests above left in force (a refused set included), three valid versions on top.
    const floor = Math.max((await getRules(first)).version, (await getRules(first)).refused?.version ?? 0);
    for (const step of [1, 2, 3]) {
      clock.advance(60_000);
      expect((await putRules(first, marked(floor + step))).status).toBe(200);
    }
    const inForce = await getRules(first);
    await waitFor(async () => (await getRules(second)).revision === inForce.revision, {
      what: 'the second instance to follow',
    });
    const before = await history(first);
    expect(before.versions.length).toBeGreaterThanOrEqual(3);
    const messages = await bucketMessages();

    await jsm.streams.delete(`KV_${n.kv.triageRules}`);
    // Each instance's keeper sees the bucket made again (by either): the history comes back whole.
    const after = await waitFor(
      async () => {
        const read = await history(first).catch(() => undefined);
        // While the bucket is missing the history route answers an error, not versions.
        return read?.versions?.length === before.versions.length ? read : undefined;
      },
      { what: 'the history written back', timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(after).toEqual(before);
    expect(await history(second)).toEqual(before);
    // Give the slower instance time to try too: nothing is written twice.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await bucketMessages()).toBe(messages);
    expect(await history(first)).toEqual(before);

    // The revision in force is the bucket's again: a put based on it goes on top.
    expect(await getRules(second)).toMatchObject({ revision: inForce.revision, version: floor + 3 });
    const put = await putRules(second, marked(floor + 4), inForce.revision);
    expect(put.status).toBe(200);
    expect(((await put.json()) as { revision: number }).revision).toBe(inForce.revision + 1);
    await stop(second);
    await stop(first);
  }, 60_000);

  it('lost while no instance ran, the history is written back at start', async () => {
    const first = await start();
    const before = await history(first);
    const inForce = await getRules(first);
    expect(before.versions.length).toBeGreaterThanOrEqual(4);
    await stop(first);
    await jsm.streams.delete(`KV_${n.kv.triageRules}`);

    const restarted = await start();
    expect(await getRules(restarted)).toMatchObject({
      source: 'stored',
      revision: inForce.revision,
      version: inForce.version,
    });
    expect(await history(restarted)).toEqual(before);
    await stop(restarted);
  });

  it('a copy Redis lost is copied again from the bucket, and then a loss of the bucket still gives the history back', async () => {
    const redis = await createRedis({ url: config.REDIS_URL, logger, name: 'rules-test' });
    const copyKey = `${n.redisPrefix}triage:rules:history`;
    try {
      const triage = await start();
      const before = await history(triage);
      expect(before.versions.length).toBeGreaterThanOrEqual(4);
      expect(await redis.hlen(copyKey)).toBeGreaterThanOrEqual(before.versions.length);
      await redis.del(copyKey);
      await waitFor(async () => (await redis.hlen(copyKey)) >= before.versions.length, {
        what: 'the copy made again',
        timeoutMs: 10_000,
      });
      await jsm.streams.delete(`KV_${n.kv.triageRules}`);
      const after = await waitFor(
        async () => {
          const read = await history(triage).catch(() => undefined);
          return read?.versions?.length === before.versions.length ? read : undefined;
        },
        { what: 'the history written back', timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(after).toEqual(before);
      await stop(triage);
    } finally {
      await redis.quit();
    }
  }, 40_000);

  it('a bucket written anew before the copy could write it back is the record: nothing older is put on top', async () => {
    const redis = await createRedis({ url: config.REDIS_URL, logger, name: 'rules-test' });
    const copyKey = `${n.redisPrefix}triage:rules:history`;
    try {
      expect(await redis.hexists(copyKey, '1')).toBe(1);
      await jsm.streams.delete(`KV_${n.kv.triageRules}`);
      // No triage running: someone makes the bucket again and stores a set by hand, at revision 1.
      const kv = await new Kvm(nc).create(n.kv.triageRules, { history: 64 });
      const revision = await kv.put(
        'in-force',
        JSON.stringify({ ruleSet: marked(100), putAt: new Date(T0).toISOString(), putBy: 'by-hand' }),
      );
      expect(revision).toBe(1);
      logs.length = 0;
      const triage = await start();
      expect(await getRules(triage)).toMatchObject({ source: 'stored', revision: 1, version: 100 });
      expect(await history(triage)).toEqual({
        versions: [
          {
            revision: 1,
            version: 100,
            rules: DEFAULT_RULE_SET.rules.length,
            putAt: new Date(T0).toISOString(),
            putBy: 'by-hand',
          },
        ],
      });
      expect(await redis.hkeys(copyKey)).toEqual(['1']);
      expect(logs.some((line) => line.level === 50 && line.msg.includes('disagrees with the copy'))).toBe(
        true,
      );
      await stop(triage);
    } finally {
      await redis.quit();
    }
  });
});

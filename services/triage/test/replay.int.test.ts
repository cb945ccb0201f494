import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EventType, names, type TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  createRedis,
  ensureStreams,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  systemClock,
} from '@telecare/platform';
import { DEFAULT_RULE_SET, parseRuleSet } from '@telecare/rules';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay } from '../src/replay.ts';
import { RulesStore, readStoredRules } from '../src/rules-store.ts';
import { makeEvent, publishEvent } from './support.ts';

const ns = uniqueNamespace('replay');
const n = names(ns);
const logger = createLogger('replay-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'telecare-replay-'));

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

/** An hour and a half ago: the stored events sit in the recent past, as real history would. */
const BASE = Date.now() - 90 * 60_000;
let seq = 0;
const event = (type: EventType, minute: number, data: Record<string, unknown> = {}): TelecareEvent => {
  const e = makeEvent({
    residentId: 'res_replay1',
    type,
    deviceEventId: `rp-${++seq}`,
    partitions: 1,
    serial: type === 'temperature' ? 'TS-1' : 'PX-1',
    devicekind: type === 'temperature' ? 'temperature-sensor' : 'pendant',
  });
  const at = new Date(BASE + minute * 60_000).toISOString();
  return { ...e, time: at, receivedat: at, data };
};

/**
 * A mains outage 40 minutes before BASE (outside the first test's range): 12 homes of GL1 within
 * 12 s of one aligned 5-minute window, and one home of GL9 in the middle of them.
 */
const OUTAGE = Math.floor((BASE - 40 * 60_000) / 300_000) * 300_000 + 10_000;
const mainsLost = (home: string, district: string, at: number): TelecareEvent => {
  const e = makeEvent({
    residentId: `res_${home}`,
    type: 'mains.lost',
    deviceEventId: `ml-${home}`,
    partitions: 1,
    serial: `HUB-${home}`,
    devicekind: 'home-unit',
  });
  const time = new Date(at).toISOString();
  return { ...e, time, receivedat: time, postcodedistrict: district };
};
const outage = [
  ...Array.from({ length: 6 }, (_, i) => mainsLost(`gl1_${i}`, 'GL1', OUTAGE + i * 1_000)),
  mainsLost('gl9_lone', 'GL9', OUTAGE + 6_000),
  ...Array.from({ length: 6 }, (_, i) => mainsLost(`gl1_${i + 6}`, 'GL1', OUTAGE + 7_000 + i * 1_000)),
];

/** The default rules with the cold-home threshold at 18 °C instead of 16 °C. */
const candidateJson = JSON.parse(JSON.stringify(DEFAULT_RULE_SET));
for (const rule of candidateJson.rules) if (rule.id === 'sustained.cold-home') rule.condition.below = 18;
candidateJson.version = 2;
const candidate = parseRuleSet(candidateJson);

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'replay-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, n, ['events']);
  const events = [
    event('pendant.pressed', 0),
    ...[0, 15, 30, 45, 60, 75].map((minute) => event('temperature', minute, { celsius: 17 })),
  ];
  // Stored in the order they were received, as the gateways store them.
  for (const e of [...outage, ...events]) await publishEvent(js, n, e);
  writeFileSync(path.join(dir, 'candidate.json'), JSON.stringify(candidateJson));
  writeFileSync(
    path.join(dir, 'broken.json'),
    JSON.stringify({
      version: 1,
      rules: [{ id: 'x', version: 1, kind: 'trigger', on: ['pendant.squeezed'], reason: '{name}' }],
    }),
  );
});

afterAll(async () => {
  await cleanupNamespace(ns);
  await nc?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('replay: what a candidate rule set would have raised', () => {
  it('reports the alerts of both rule sets over the stored events, and the difference', async () => {
    const report = await replay({
      js,
      jsm,
      names: n,
      from: BASE - 60_000,
      to: Date.now(),
      current: DEFAULT_RULE_SET,
      candidate,
      warmupMs: 0,
    });
    expect(report.events).toBe(7);
    expect(report.current.byRule).toMatchObject({ 'trigger.pendant': 1 });
    expect(report.current.byRule['sustained.cold-home']).toBeUndefined();
    expect(report.candidate.byRule).toMatchObject({ 'trigger.pendant': 1, 'sustained.cold-home': 1 });
    expect(report.both).toBeGreaterThanOrEqual(1);
    expect(report.onlyCurrent).toEqual([]);
    expect(report.onlyCandidate.map((alert) => alert.rule.id)).toContain('sustained.cold-home');
    const cold = report.onlyCandidate.find((alert) => alert.rule.id === 'sustained.cold-home');
    expect(cold?.reason).toContain('below 18 °C');
  });

  it('applies area holds as triage does: one incident, no per-home alerts for its homes; a lone home alerts', async () => {
    const withoutArea = parseRuleSet({
      ...DEFAULT_RULE_SET,
      version: 2,
      rules: DEFAULT_RULE_SET.rules.filter((rule) => rule.kind !== 'area'),
    });
    // The range ends 10 s after the last report: the holds are decided after it, and still counted.
    const report = await replay({
      js,
      jsm,
      names: n,
      from: OUTAGE - 60_000,
      to: OUTAGE + 22_000,
      current: DEFAULT_RULE_SET,
      candidate: withoutArea,
      warmupMs: 0,
    });
    expect(report.events).toBe(13);
    expect(report.current.byRule).toEqual({ 'area.mains-lost': 1, 'trigger.mains-lost': 1 });
    expect(report.current.alerts.find((alert) => alert.type === 'mains.lost')?.residentId).toBe(
      'res_gl9_lone',
    );
    expect(report.current.withheld).toBe(12);
    expect(report.candidate.byRule).toEqual({ 'trigger.mains-lost': 13 });
    expect(report.candidate.withheld).toBe(0);
    expect(report.onlyCandidate).toHaveLength(12);
    expect(report.onlyCurrent.map((alert) => alert.type)).toEqual(['area.mains-lost']);
  });

  it('runs as `pnpm replay` against the stored rules in force, and refuses an invalid candidate with the path and reason of each error', async () => {
    // Nothing stored yet (no bucket even): triage would run the default set.
    expect(await readStoredRules(nc, n, DEFAULT_RULE_SET)).toBeUndefined();
    const redis = await createRedis({ url: servers.redisUrl, logger, name: 'replay-test' });
    const rules = await RulesStore.open({
      nc,
      names: n,
      redis,
      fallback: DEFAULT_RULE_SET,
      clock: systemClock,
      logger,
    });
    await rules.put(parseRuleSet({ ...DEFAULT_RULE_SET, version: 3 }));
    await rules.close();
    await redis.quit();
    const env = { ...process.env, ...serviceEnv(ns, {}), LOG_LEVEL: 'warn' };
    const args = [
      '--from',
      new Date(BASE - 60_000).toISOString(),
      '--to',
      new Date().toISOString(),
      '--warmup-hours',
      '0',
    ];
    const ok = spawnSync('pnpm', ['-s', 'replay', ...args, '--rules', path.join(dir, 'candidate.json')], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('7 events');
    expect(ok.stdout).toContain('rules in force (v3, stored revision 1)');
    expect(ok.stdout).toMatch(/sustained\.cold-home\s+0\s+1/);
    expect(ok.stdout).toContain('only the candidate would raise: 1');

    const bad = spawnSync('pnpm', ['-s', 'replay', ...args, '--rules', path.join(dir, 'broken.json')], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('rules.0.on.0: unknown event type "pendant.squeezed"');
    expect(bad.stderr).toContain('rules.0.reason: unknown placeholder {name}');
  }, 60_000);
});

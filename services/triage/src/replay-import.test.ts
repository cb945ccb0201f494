import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alert, eventIdFor, MOVED_DEVICE_REASON, partitionOf } from '@telecare/contracts';
import { CARE_PLAN_WAKE_UP_RULE, DEFAULT_RULE_SET, parseRuleSet } from '@telecare/rules';
import { describe, expect, it } from 'vitest';
import {
  ImportLineError,
  pairAlerts,
  parseAway,
  parseImport,
  parseLabels,
  readImport,
  runEvents,
  runImported,
  scoreLabels,
  toTelecareEvent,
} from './replay-import.ts';

const line = (serial: string, kind: string, residentId: string, id: string, type: string, at: string) =>
  JSON.stringify({ serial, kind, location: 'hall', residentId, event: { id, type, at, data: {} } });

/** Presses alone: the default set's pendant rule. */
const PRESSES = parseRuleSet({
  version: 1,
  rules: DEFAULT_RULE_SET.rules.filter((rule) => rule.id === 'trigger.pendant'),
});

const HISTORY = [
  line('PX-1', 'pendant', 'res_a', 'press-0001', 'pendant.pressed', '2026-11-02T10:00:00.000Z'),
  line('PX-2', 'pendant', 'res_b', 'press-0002', 'pendant.pressed', '2026-11-02T11:00:00.000Z'),
  line('PX-1', 'pendant', 'res_a', 'press-0003', 'pendant.pressed', '2026-11-01T09:00:00.000Z'),
  line('PX-2', 'pendant', 'res_b', 'press-0004', 'pendant.pressed', '2026-11-01T09:00:00.000Z'),
].join('\n');

/** A press from PX-8, res_b's since 2 Nov 09:00, res_a's from 1 Oct until 2 Nov 08:00. */
const movedLine = (id: string, at: string, receivedAt: string) =>
  JSON.stringify({
    serial: 'PX-8',
    kind: 'pendant',
    location: 'hall',
    residentId: 'res_b',
    postcodeDistrict: 'GL1',
    receivedAt,
    pairedAt: '2026-11-02T09:00:00Z',
    previousPairing: {
      residentId: 'res_a',
      pairedAt: '2026-10-01T09:00:00Z',
      endedAt: '2026-11-02T08:00:00Z',
    },
    event: { id, type: 'pendant.pressed', at, data: {} },
  });

describe('replay --import', () => {
  it('marks a life-critical alarm of a type its device kind never reports as the gateways store it (unexpectedkind)', () => {
    const [pull, fromPendant, press, ownCancel] = parseImport(
      [
        line('PC-1', 'pullcord', 'res_a', 'pull-0001', 'pullcord.pulled', '2026-11-02T10:00:00.000Z'),
        line('PX-1', 'pendant', 'res_a', 'pull-0002', 'pullcord.pulled', '2026-11-02T10:00:05.000Z'),
        line('PX-1', 'pendant', 'res_a', 'press-0005', 'pendant.pressed', '2026-11-02T10:01:00.000Z'),
        line('PX-1', 'pendant', 'res_a', 'cancel-0001', 'alarm.cancelled', '2026-11-02T10:01:30.000Z'),
      ].join('\n'),
    ).map(toTelecareEvent);
    expect(fromPendant).toMatchObject({
      type: 'pullcord.pulled',
      devicekind: 'pendant',
      unexpectedkind: true,
    });
    for (const own of [pull, press, ownCancel]) expect(own).not.toHaveProperty('unexpectedkind');
    // Kept apart from the home's pull-cord group, as triage keeps it: the pendant's cancel closes
    // the real pull, never the pendant's.
    const { alerts } = runEvents(
      [pull, fromPendant].filter((e) => e !== undefined),
      parseRuleSet(DEFAULT_RULE_SET),
      {
        learnDays: 0,
      },
    );
    expect(alerts.filter((a) => a.type === 'pullcord.pulled' && !a.closes)).toHaveLength(2);
  });

  it('reads device events with their device map fields, and says which line is wrong', () => {
    expect(parseImport(HISTORY)).toHaveLength(4);
    expect(() => parseImport(`${HISTORY}\n{"serial":"PX-1"}`)).toThrow(ImportLineError);
    expect(() => parseImport('not json')).toThrow(/line 1: not JSON/);
  });

  it('reads a file line by line: in time order, the residents asked for, the first bad line named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'replay-import-'));
    try {
      const file = join(dir, 'events.jsonl');
      // Windows line ends and blank lines are read as any other.
      await writeFile(file, `${HISTORY.split('\n').join('\r\n')}\r\n\r\n`);
      const events = await readImport(file);
      expect(events.map((event) => event.deviceeventid)).toEqual([
        'press-0003',
        'press-0004',
        'press-0001',
        'press-0002',
      ]);
      expect(runEvents(events, PRESSES, { learnDays: 1 }).alerts).toEqual(
        runImported(parseImport(HISTORY), PRESSES, { learnDays: 1 }).alerts,
      );
      const only = await readImport(file, { residents: ['res_b'] });
      expect(only.map((event) => event.residentid)).toEqual(['res_b', 'res_b']);
      // Many lines, with progress: every one read, the bytes reported growing to the file's size.
      const many = Array.from({ length: 120_000 }, (_, i) =>
        line(
          'PX-3',
          'pendant',
          'res_c',
          `press-${String(i).padStart(6, '0')}`,
          'pendant.pressed',
          new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
        ),
      );
      await writeFile(file, many.join('\n'));
      const seen: number[] = [];
      expect(await readImport(file, { onProgress: (bytes) => seen.push(bytes) })).toHaveLength(120_000);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      await writeFile(file, `${HISTORY}\n${many[0]}\n{"serial":"PX-1"}\n${many[1]}`);
      await expect(readImport(file)).rejects.toThrow(/^line 6: /);
      await writeFile(file, `${HISTORY}\n"${'x'.repeat(70_000)}"`);
      await expect(readImport(file)).rejects.toThrow(/line 5: longer than 65536 characters/);
      await expect(readImport(join(dir, 'missing.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // 120,000 lines: seconds on a busy machine, past the unit default.
  }, 30_000);

  it('skips each resident’s learning days, filters residents, and scores false alerts against labels', () => {
    const lines = parseImport(HISTORY);
    const all = runImported(lines, PRESSES, { learnDays: 1 });
    // The presses of 1 Nov are the learning day's: only 2 Nov's are reported.
    expect(all.alerts.map((alert) => [alert.residentId, alert.raisedAt])).toEqual([
      ['res_a', '2026-11-02T10:00:00.000Z'],
      ['res_b', '2026-11-02T11:00:00.000Z'],
    ]);
    expect(all.residents).toBe(2);
    const one = runImported(lines, PRESSES, { learnDays: 1, residents: ['res_b'] });
    expect(one.alerts.map((alert) => alert.residentId)).toEqual(['res_b']);
    const labels = parseLabels(
      JSON.stringify({
        residentId: 'res_a',
        from: '2026-11-02T09:59:00Z',
        to: '2026-11-02T10:30:00Z',
        kind: 'fall',
      }),
    );
    const score = scoreLabels(all, labels);
    expect(score).toMatchObject({
      falseAlerts: 1,
      labels: 1,
      caught: 1,
      byKind: { fall: { n: 1, caught: 1, medianMin: 1 } },
    });
    expect(score.falsePerResidentDay).toBeCloseTo(1 / all.residentDays);
  });

  it('pairs two rule sets’ alerts by incident: the same, moved, or only in one', () => {
    const alert = (id: string, residentId: string, type: Alert['type'], raisedAt: string) =>
      ({ id, residentId, type, raisedAt }) as Alert;
    const current = [
      alert('alt_1', 'res_a', 'inactivity.no-wake', '2026-11-02T10:00:30.000Z'),
      alert('alt_2', 'res_a', 'pendant.pressed', '2026-11-02T11:00:00.000Z'),
      alert('alt_3', 'res_b', 'inactivity.unusual', '2026-11-02T12:00:00.000Z'),
    ];
    const candidate = [
      alert('alt_9', 'res_a', 'inactivity.no-wake', '2026-11-02T14:00:30.000Z'),
      alert('alt_2', 'res_a', 'pendant.pressed', '2026-11-02T11:00:00.000Z'),
      alert('alt_8', 'res_b', 'outing.not-returned', '2026-11-02T12:00:00.000Z'),
    ];
    const pairs = pairAlerts(current, candidate);
    expect(pairs.same).toBe(1);
    expect(pairs.moved.map((m) => [m.current.id, m.candidate.id, m.byMs])).toEqual([
      ['alt_1', 'alt_9', 4 * 3600_000],
    ]);
    expect(pairs.onlyCurrent.map((a) => a.id)).toEqual(['alt_3']);
    expect(pairs.onlyCandidate.map((a) => a.id)).toEqual(['alt_8']);
  });

  it('gives each resident’s declared away periods (--away) to the rules: a morning away is no "not up"', () => {
    const WAKE = parseRuleSet({ version: 1, rules: [CARE_PLAN_WAKE_UP_RULE] });
    const lines = parseImport(
      [
        line('PIR-1', 'pir', 'res_a', 'mov-0001', 'motion', '2026-11-01T08:00:00.000Z'),
        line('PIR-1', 'pir', 'res_a', 'mov-0002', 'motion', '2026-11-03T08:00:00.000Z'),
      ].join('\n'),
    );
    const plain = runImported(lines, WAKE, { learnDays: 1 });
    expect(plain.alerts.map((alert) => [alert.type, alert.raisedAt.slice(0, 10)])).toEqual([
      ['inactivity.no-wake', '2026-11-02'],
    ]);
    const away = parseAway(
      JSON.stringify({
        residentId: 'res_a',
        from: '2026-11-01T20:00:00Z',
        until: '2026-11-02T20:00:00Z',
        reason: 'respite',
      }),
    );
    expect(away.get('res_a')).toEqual([
      { id: 'away-1', from: '2026-11-01T20:00:00Z', until: '2026-11-02T20:00:00Z', reason: 'respite' },
    ]);
    expect(runImported(lines, WAKE, { learnDays: 1, away }).alerts).toEqual([]);
    expect(() =>
      parseAway(
        '{"residentId":"res_a","from":"2026-11-02T20:00:00Z","until":"2026-11-01T20:00:00Z","reason":"other"}',
      ),
    ).toThrow(/line 1: until: must be after from/);
  });

  it('dates a line with a receipt time as the gateway would: a wrong clock on receipt, its time kept as devicetime', () => {
    const received = '2026-11-02T10:00:00.000Z';
    const withReceipt = (id: string, at: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        serial: 'PX-9',
        kind: 'pendant',
        residentId: 'res_c',
        receivedAt: received,
        ...extra,
        event: { id, type: 'pendant.pressed', at, data: {} },
      });
    const [reset, ahead, backlog, beforePairing, plain] = parseImport(
      [
        withReceipt('press-rst', '2000-01-01T00:00:00Z'),
        withReceipt('press-ahd', '2026-11-02T10:30:00Z'),
        withReceipt('press-blg', '2026-10-31T10:00:00Z'),
        withReceipt('press-pre', '2026-10-31T10:00:00Z', { pairedAt: '2026-11-01T10:00:00Z' }),
        line('PX-9', 'pendant', 'res_c', 'press-nrc', 'pendant.pressed', '2000-01-01T00:00:00Z'),
      ].join('\n'),
    ).map(toTelecareEvent);
    // The gateway's rule, by its own function: more than 5 min ahead, 7 days behind, or before the
    // device was paired, is dated on receipt.
    expect(reset).toMatchObject({ time: received, devicetime: '2000-01-01T00:00:00Z', receivedat: received });
    expect(ahead).toMatchObject({ time: received, devicetime: '2026-11-02T10:30:00Z' });
    expect(backlog).toMatchObject({ time: '2026-10-31T10:00:00.000Z', receivedat: received });
    expect(backlog).not.toHaveProperty('devicetime');
    expect(beforePairing).toMatchObject({ time: received, devicetime: '2026-10-31T10:00:00Z' });
    // The same event, whatever its date: named by the device's time as sent.
    expect(reset?.id).toBe(eventIdFor('PX-9', 'press-rst', '2000-01-01T00:00:00Z', 'pendant.pressed'));
    // No receipt time: nothing to hold the device's clock against; its time is taken as written.
    expect(plain).toMatchObject({ time: '2000-01-01T00:00:00.000Z', receivedat: '2000-01-01T00:00:00.000Z' });
    expect(plain).not.toHaveProperty('devicetime');
    expect(() =>
      parseImport(withReceipt('press-bad', '2026-11-02T10:00:00Z', { receivedAt: 'yesterday' })),
    ).toThrow(/line 1: receivedAt/);
  });

  it("gives a moved device's backlog from its previous pairing to the previous resident, as the gateway would", () => {
    const received = '2026-11-02T10:00:00.000Z';
    const moved = (id: string, at: string) => movedLine(id, at, received);
    const lines = parseImport(
      [moved('press-old', '2026-11-01T21:00:00Z'), moved('press-new', '2026-11-02T09:30:00Z')].join('\n'),
    );
    const [fromA, ofB] = lines.map(toTelecareEvent);
    expect(fromA).toMatchObject({
      residentid: 'res_a',
      time: '2026-11-01T21:00:00.000Z',
      movedat: '2026-11-02T08:00:00Z',
      partition: partitionOf('res_a', 8),
    });
    expect(fromA).not.toHaveProperty('location');
    expect(fromA).not.toHaveProperty('postcodedistrict');
    expect(ofB).toMatchObject({ residentid: 'res_b', time: '2026-11-02T09:30:00.000Z', location: 'hall' });
    // The replay raises the press for the resident whose home it happened in, and says so.
    const run = runImported(lines, DEFAULT_RULE_SET, { learnDays: 0 });
    const press = run.alerts.find((alert) => alert.evidence.includes(String(fromA?.id)));
    expect(press).toMatchObject({ residentId: 'res_a', deviceMovedAt: '2026-11-02T08:00:00Z' });
    expect(press?.reason).toContain(MOVED_DEVICE_REASON);
    // A line for one resident only takes the backlog it gave to that resident.
    const onlyB = runImported(lines, DEFAULT_RULE_SET, { learnDays: 0, residents: ['res_b'] }).alerts;
    expect(new Set(onlyB.map((a) => a.residentId))).toEqual(new Set(['res_b']));
    expect(onlyB.filter((a) => a.type === 'pendant.pressed').map((a) => a.evidence)).toEqual([[ofB?.id]]);
  });
  it('replays no event for a report timed while the device sat in stock between two homes, as the gateway refuses it; a press so timed is the current home’s, on receipt', () => {
    // A left on the 2nd at 08:00; in stock until B's pairing on the 5th at 09:00.
    const line = (id: string, at: string, type = 'pendant.pressed') =>
      JSON.stringify({
        ...JSON.parse(movedLine(id, at, '2026-11-05T10:00:00.000Z')),
        pairedAt: '2026-11-05T09:00:00Z',
        event: { id, type, at, data: {} },
      });
    const lines = parseImport(
      [
        line('press-ofa', '2026-11-02T07:59:59Z'),
        line('beat-stock', '2026-11-02T08:00:00Z', 'heartbeat'),
        line('beat-stock2', '2026-11-04T12:00:00Z', 'heartbeat'),
        line('press-stock', '2026-11-04T12:00:00Z'),
        line('press-ofb', '2026-11-05T09:30:00Z'),
      ].join('\n'),
    );
    const events = lines.map((l) => toTelecareEvent(l));
    expect(events.map((e) => e?.residentid)).toEqual(['res_a', undefined, undefined, 'res_b', 'res_b']);
    // The press timed in stock: its clock may have stood still between homes, dated on receipt.
    expect(events[3]).toMatchObject({
      time: '2026-11-05T10:00:00.000Z',
      devicetime: '2026-11-04T12:00:00Z',
    });
    const run = runImported(lines, DEFAULT_RULE_SET, { learnDays: 0 });
    expect(run.events).toBe(3);
    const presses = run.alerts.filter((a) => a.type === 'pendant.pressed');
    expect(new Set(presses.map((a) => a.residentId))).toEqual(new Set(['res_a', 'res_b']));
  });

  it('replays no event for a report timed while the device sat in stock before its first pairing; one from before it was registered is a wrong clock', () => {
    // Registered into stock on the 1st at 08:00, paired to B on the 5th at 09:00; no home before.
    const line = (id: string, at: string, type = 'heartbeat') =>
      JSON.stringify({
        serial: 'PX-9',
        kind: 'pendant',
        residentId: 'res_b',
        receivedAt: '2026-11-05T10:00:00.000Z',
        pairedAt: '2026-11-05T09:00:00Z',
        stockedAt: '2026-11-01T08:00:00Z',
        event: { id, type, at, data: {} },
      });
    const events = parseImport(
      [
        line('beat-unregistered', '2026-11-01T07:59:59Z'),
        line('beat-stock', '2026-11-03T12:00:00Z'),
        line('press-stock', '2026-11-03T12:00:00Z', 'pendant.pressed'),
        line('beat-onsite', '2026-11-05T08:30:00Z'),
      ].join('\n'),
    ).map((l) => toTelecareEvent(l));
    expect(events.map((e) => e?.residentid)).toEqual(['res_b', undefined, 'res_b', 'res_b']);
    expect(events[0]).toMatchObject({ time: '2026-11-05T10:00:00.000Z', devicetime: '2026-11-01T07:59:59Z' });
    expect(events[2]).toMatchObject({ time: '2026-11-05T10:00:00.000Z', devicetime: '2026-11-03T12:00:00Z' });
    expect(events[3]).toMatchObject({ time: '2026-11-05T08:30:00.000Z' });
    expect(events[3]).not.toHaveProperty('devicetime');
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { parseRuleSet, RuleSetError } from './parse.ts';

const issuesOf = (input: unknown) => {
  try {
    parseRuleSet(input);
  } catch (err) {
    expect(err).toBeInstanceOf(RuleSetError);
    return (err as RuleSetError).issues;
  }
  throw new Error('expected the rule set to be refused');
};

describe('parseRuleSet', () => {
  it('fills defaults', () => {
    const set = parseRuleSet({
      version: 3,
      rules: [{ id: 'x', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' }],
    });
    expect(set.settings).toEqual({
      lateAfterS: 300,
      keepEvents: 200,
      keepSeen: 8,
      keepEventsForS: 86_400,
      reorderGraceS: 30,
    });
  });

  it('accepts its own output (the default set) again', () => {
    expect(parseRuleSet(JSON.parse(JSON.stringify(DEFAULT_RULE_SET)))).toEqual(DEFAULT_RULE_SET);
  });

  it('refuses an invalid set, naming each error with its path and reason', () => {
    const issues = issuesOf({
      version: 1,
      rules: [
        { id: 'ok', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' },
        { id: 'ok', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' },
        { id: 'bad-type', version: 1, kind: 'trigger', on: ['pendant.squeezed'], reason: '{what}' },
        { id: 'bad-priority', version: 1, kind: 'trigger', on: ['fall.detected'], priority: 0, reason: 'x' },
        { id: 'bad-template', version: 1, kind: 'trigger', on: ['fall.detected'], reason: 'for {name}' },
        { id: 'typo', version: 1, kind: 'trigger', on: ['fall.detected'], reason: 'x', prority: 1 },
        { id: 'Bad Id', version: 0, kind: 'trigger', on: [], reason: '' },
        { id: 'nope', version: 1, kind: 'sometimes', on: ['fall.detected'], reason: 'x' },
      ],
    });
    const paths = issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'rules.1.id',
        'rules.2.on.0',
        'rules.3.priority',
        'rules.4.reason',
        'rules.6.id',
        'rules.6.version',
        'rules.6.on',
        'rules.6.reason',
        'rules.7.kind',
      ]),
    );
    expect(issues.find((issue) => issue.path === 'rules.1.id')?.message).toContain('duplicate rule id');
    expect(issues.find((issue) => issue.path === 'rules.2.on.0')?.message).toBe(
      'unknown event type "pendant.squeezed" (see TAXONOMY in @telecare/contracts)',
    );
    expect(issues.find((issue) => issue.path === 'rules.4.reason')?.message).toContain(
      'unknown placeholder {name}',
    );
    expect(issues.some((issue) => issue.path.startsWith('rules.5') && /prority/.test(issue.message))).toBe(
      true,
    );
    for (const issue of issues) expect(issue.message.length).toBeGreaterThan(0);
  });

  /** A rule set of one night exit with this pattern. */
  const exitRule = (pattern: object) => ({
    version: 1,
    rules: [
      { id: 'exit', version: 1, kind: 'correlation', type: 'door.exit-at-night', reason: '{what}', pattern },
    ],
  });

  it('a then-absent correlation takes night and state conditions, checked like the rest', () => {
    const rule = exitRule;
    const base = { kind: 'then-absent', first: ['door.closed'], absent: ['motion'], withinS: 600 };
    expect(parseRuleSet(rule(base)).rules[0]).toMatchObject({ pattern: { atNight: false, notDuring: [] } });
    const paths = issuesOf(
      rule({
        ...base,
        atNight: 'yes',
        notDuring: [{ starts: ['bed.sat'], ends: [] }, { starts: ['bed.occupied'] }],
      }),
    ).map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'rules.0.pattern.atNight',
        'rules.0.pattern.notDuring.0.starts.0',
        'rules.0.pattern.notDuring.0.ends',
        'rules.0.pattern.notDuring.1.ends',
      ]),
    );
  });

  it('a then-absent correlation shares with the other person of a shared home only reports it reads', () => {
    const rule = (shared: object) =>
      exitRule({
        kind: 'then-absent',
        first: ['door.closed'],
        absent: ['motion'],
        withinS: 600,
        notDuring: [{ starts: ['bed.occupied'], ends: ['bed.vacated'] }],
        shared,
      });
    expect(parseRuleSet(rule({ reports: ['motion', 'bed.occupied'], priority: 3 })).rules[0]).toMatchObject({
      pattern: { shared: { reports: ['motion', 'bed.occupied'], priority: 3 } },
    });
    expect(issuesOf(rule({ reports: ['chair.occupied', 'motion'], priority: 3 }))).toEqual([
      expect.objectContaining({ path: 'rules.0.pattern.shared.reports.0' }),
    ]);
    expect(issuesOf(rule({ reports: ['motion'] })).map((issue) => issue.path)).toEqual([
      'rules.0.pattern.shared.priority',
    ]);
  });

  it('puts every problem in the error message', () => {
    try {
      parseRuleSet({ version: 'one', rules: [] });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/version: .+\n.*rules: /s);
    }
  });

  it('refuses something that is not a rule set at all', () => {
    expect(issuesOf(null)[0]?.path).toBe('(rule set)');
  });
});

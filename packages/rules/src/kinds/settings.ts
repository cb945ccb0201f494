/**
 * A resident's settings (the rule set's defaults with their overrides) and the night test.
 */
import type { RuleSet } from '../model.ts';
import { inSpan, localMinute, minuteOf } from '../time.ts';
import { type AwayWindow, toWindows } from './away.ts';

/** A resident's settings: the rule set's defaults with that resident's overrides on top. */
export interface ResidentSettings {
  readonly timeZone: string;
  readonly quietFrom: number;
  readonly quietTo: number;
  readonly wakeFrom: number;
  readonly wakeTo: number;
  /** The care plan's hard latest wake-up minute, if it sets one. */
  readonly wakeLatest?: number;
  readonly visits: readonly string[];
  /**
   * Someone else lives in the home: movement elsewhere is not the resident up, nor the bed taken
   * while they are out, with nobody come in since, their return; nor, for a night exit with
   * `shared`, the bed or movement the resident in.
   */
  readonly sharedHome: boolean;
  readonly preAlarmCancelS: number;
  readonly disabled: ReadonlySet<string>;
  readonly thresholds: Readonly<
    Record<
      string,
      { forS?: number; withinS?: number; below?: number; above?: number; falseAlertBudget?: number }
    >
  >;
  /** Away periods the rule set declares for the resident (the shell's come with each input). */
  readonly away: readonly AwayWindow[];
}

export const settingsCache = new WeakMap<RuleSet, Map<string, ResidentSettings>>();

const overridesless = new WeakMap<RuleSet, boolean>();

/** Whether the rule set overrides nothing for any resident (worked out once per rule set). */
function noOverrides(ruleSet: RuleSet): boolean {
  let none = overridesless.get(ruleSet);
  if (none === undefined) {
    none = Object.keys(ruleSet.residents).length === 0;
    overridesless.set(ruleSet, none);
  }
  return none;
}

/** The rule set asked about last, when it overrides nothing: every resident's settings. */
let lastSet: RuleSet | undefined;
let lastShared: ResidentSettings | undefined;

export function residentSettings(ruleSet: RuleSet, residentId: string): ResidentSettings {
  if (ruleSet === lastSet) return lastShared as ResidentSettings;
  let perSet = settingsCache.get(ruleSet);
  if (!perSet) {
    perSet = new Map();
    settingsCache.set(ruleSet, perSet);
  }
  // Most residents have no overrides: they share the defaults' settings. A rule set with no
  // overrides at all has only those: no look-up by the resident's id (a new string each event).
  const shared = perSet.get('');
  if (shared && noOverrides(ruleSet)) {
    lastSet = ruleSet;
    lastShared = shared;
    return shared;
  }
  const own = perSet.get(residentId);
  if (own) return own;
  const key = Object.hasOwn(ruleSet.residents, residentId) ? residentId : '';
  let settings = perSet.get(key);
  if (!settings) {
    const d = ruleSet.defaults;
    const o = key ? (ruleSet.residents[key] ?? {}) : {};
    const quiet = o.quietHours ?? d.quietHours;
    const wake = o.wakeUp ?? d.wakeUp;
    settings = {
      timeZone: o.timeZone ?? d.timeZone,
      quietFrom: minuteOf(quiet.from),
      quietTo: minuteOf(quiet.to),
      wakeFrom: minuteOf(wake.from),
      wakeTo: minuteOf(wake.to),
      ...(o.wakeUpLatest ? { wakeLatest: minuteOf(o.wakeUpLatest) } : {}),
      visits: [...(o.visits ?? d.visits)].sort(),
      sharedHome: o.sharedHome === true,
      preAlarmCancelS: o.preAlarmCancelS ?? d.preAlarmCancelS,
      disabled: new Set(o.disabled ?? []),
      thresholds: o.thresholds ?? {},
      away: toWindows(o.away),
    };
    perSet.set(key, settings);
  }
  return settings;
}

export function atNight(at: number, settings: ResidentSettings): boolean {
  return inSpan(localMinute(at, settings.timeZone), settings.quietFrom, settings.quietTo);
}

import type { RuleSetInput } from './model.ts';
import { parseRuleSet } from './parse.ts';

/** The line an operator reads for a trigger alert, e.g. "Smoke detected: smoke-detector in kitchen (rule trigger.smoke v1)". */
export const TRIGGER_REASON = '{what}: {device} (rule {rule})';

/**
 * The default rules: one trigger per P1–P4 type a device can send, at its taxonomy priority.
 * Derived types (inactivity, supervision lost, exit at night…) come from the other rule kinds.
 */
const DEFAULT_RULES: RuleSetInput = {
  version: 1,
  settings: { lateAfterS: 300 },
  rules: [
    // P1 life-critical
    { id: 'trigger.pendant', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: TRIGGER_REASON },
    { id: 'trigger.pullcord', version: 1, kind: 'trigger', on: ['pullcord.pulled'], reason: TRIGGER_REASON },
    { id: 'trigger.fall', version: 1, kind: 'trigger', on: ['fall.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.smoke', version: 1, kind: 'trigger', on: ['smoke.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.heat', version: 1, kind: 'trigger', on: ['heat.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.co', version: 1, kind: 'trigger', on: ['co.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.gas', version: 1, kind: 'trigger', on: ['gas.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.epilepsy', version: 1, kind: 'trigger', on: ['epilepsy.seizure'], reason: TRIGGER_REASON },
    // P2 urgent wellbeing
    { id: 'trigger.flood', version: 1, kind: 'trigger', on: ['flood.detected'], reason: TRIGGER_REASON },
    {
      id: 'trigger.bogus-caller',
      version: 1,
      kind: 'trigger',
      on: ['bogus-caller.pressed'],
      reason: TRIGGER_REASON,
    },
    {
      id: 'trigger.enuresis',
      version: 1,
      kind: 'trigger',
      on: ['enuresis.detected'],
      reason: TRIGGER_REASON,
    },
    {
      id: 'trigger.medication-missed',
      version: 1,
      kind: 'trigger',
      on: ['medication.missed'],
      reason: TRIGGER_REASON,
    },
    // P3 technical, urgent
    { id: 'trigger.mains-lost', version: 1, kind: 'trigger', on: ['mains.lost'], reason: TRIGGER_REASON },
    { id: 'trigger.line-fault', version: 1, kind: 'trigger', on: ['line.fault'], reason: TRIGGER_REASON },
    { id: 'trigger.rf-jammed', version: 1, kind: 'trigger', on: ['rf.jammed'], reason: TRIGGER_REASON },
    { id: 'trigger.tamper', version: 1, kind: 'trigger', on: ['device.tamper'], reason: TRIGGER_REASON },
    // P4 maintenance
    { id: 'trigger.battery-low', version: 1, kind: 'trigger', on: ['battery.low'], reason: TRIGGER_REASON },
  ],
};

/** Validated at load, so a mistake here fails every test rather than a night shift. */
export const DEFAULT_RULE_SET = parseRuleSet(DEFAULT_RULES);

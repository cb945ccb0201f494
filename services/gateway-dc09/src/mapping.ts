import { type Dc09AccountEntry, type EventType, TAXONOMY } from '@telecare/contracts';
import type { SourceEvent } from './data.ts';

/**
 * Contact ID event codes that matter for telecare, by the type a new event (Q=1) or a
 * still-present one (Q=6) becomes; a restore (Q=3) becomes that type's restore.
 */
export const CID_TYPES: Readonly<Record<string, EventType>> = {
  '100': 'pendant.pressed',
  '101': 'pendant.pressed',
  '102': 'supervision.lost',
  '110': 'smoke.detected',
  '111': 'smoke.detected',
  // Combustion, a manual call point, a flame: a fire, as 110 and 111.
  '112': 'smoke.detected',
  // Water flow: a sprinkler head running, which only heat opens. A fire, or at least water pouring.
  '113': 'smoke.detected',
  '114': 'heat.detected',
  '115': 'smoke.detected',
  // A duct detector: smoke drawn through the ventilation.
  '116': 'smoke.detected',
  '117': 'smoke.detected',
  // Near alarm: a fire detector's pre-alarm, smoke short of its alarm threshold. Contact ID lists it
  // among the fire alarms, and a resident asleep or slow to move needs the call before the
  // threshold, not after: a fire, as 111.
  '118': 'smoke.detected',
  '120': 'pendant.pressed',
  '121': 'pendant.pressed',
  '122': 'pendant.pressed',
  '123': 'pendant.pressed',
  // Duress at a door (access or egress granted under threat): a call for help, as 121.
  '124': 'pendant.pressed',
  '125': 'pendant.pressed',
  '137': 'device.tamper',
  '140': 'pendant.pressed',
  '144': 'device.tamper',
  '145': 'device.tamper',
  '147': 'supervision.lost',
  '150': 'pullcord.pulled',
  '151': 'gas.detected',
  // Loss of heat: the home's heating failed.
  '153': 'temperature.low',
  '154': 'flood.detected',
  '158': 'temperature.high',
  '159': 'temperature.low',
  '162': 'co.detected',
  '301': 'mains.lost',
  '302': 'battery.low',
  '311': 'battery.low',
  // RF receiver jam detect: the panel hears a jammer, and no radio trigger gets through it.
  '344': 'rf.jammed',
  '350': 'line.fault',
  // Telco line 1 or 2 faulty, central polling lost: the path to the receiver failing.
  '351': 'line.fault',
  '352': 'line.fault',
  '354': 'line.fault',
  '355': 'supervision.lost',
  '356': 'line.fault',
  // A fire zone's trouble, a sensor's trouble, a smoke detector's sensitivity out of range, a failed
  // self-test, a detector that needs cleaning: a detector that may not see a fire, its own fault
  // and not the panel's line. The source code says which (`CID 1373`). 374 is an exit error, not a
  // fire's.
  '373': 'device.fault',
  '380': 'device.fault',
  '381': 'supervision.lost',
  '383': 'device.tamper',
  '384': 'battery.low',
  '385': 'device.fault',
  '386': 'device.fault',
  '389': 'device.fault',
  '393': 'device.fault',
  // Contact ID's cancel ("alarm cancelled by user"): the resident's, unlike a restore (Q=3).
  '406': 'alarm.cancelled',
  '601': 'test.manual',
  '602': 'test.periodic',
  // A periodic radio check-in, a periodic test sent while a trouble is present: they prove the link.
  '603': 'test.periodic',
  '608': 'test.periodic',
  '641': 'inactivity.unusual',
  '654': 'inactivity.unusual',
};

/**
 * SIA codes: each alarm and its restore are distinct codes, so each maps on its own. A zone's
 * `<kind>R` is DC-03's restoral of that kind ("alarm/trouble condition has been eliminated", the
 * zone back to normal: a panel's one restore for both), mapped as the kind's alarm restore
 * `<kind>H` where the kind's alarm is mapped: a smoke, gas, heat or flood case it restores stays
 * queued for an operator. A personal alarm's restore or restoral (MH, QH, PH, UH, HH; MR, QR, PR, UR, HR)
 * is not its cancel: a cancel closes an unanswered press as a false alarm, and a restore is the
 * zone back to normal, which a panel may send by itself once a button is released. It is recorded
 * as `alarm.restored`, which closes nothing; the resident's cancel is OC (cancel report). The
 * restorals of alarms not mapped (BR) are `code.unmapped`.
 *
 * A burglary zone (BA and its kind) is not mapped, on purpose: a helpline for older people is no
 * intruder alarm centre, the resident up at night behind an armed panel is its usual cause, and no
 * type says "intruder" (README, "Code mapping").
 */
export const SIA_TYPES: Readonly<Record<string, EventType>> = {
  MA: 'pendant.pressed',
  MH: 'alarm.restored',
  MR: 'alarm.restored',
  QA: 'pendant.pressed',
  QH: 'alarm.restored',
  QR: 'alarm.restored',
  PA: 'pendant.pressed',
  PH: 'alarm.restored',
  PR: 'alarm.restored',
  OC: 'alarm.cancelled',
  // A hold-up: DC-03's silent alarm of a user under duress (Contact ID 121), a call for help.
  HA: 'pendant.pressed',
  HH: 'alarm.restored',
  HR: 'alarm.restored',
  FA: 'smoke.detected',
  FH: 'smoke.restored',
  FR: 'smoke.restored',
  // A sprinkler flowing is a fire (Contact ID 113's).
  SA: 'smoke.detected',
  SH: 'smoke.restored',
  SR: 'smoke.restored',
  // Fire trouble (a fire zone disabled by a fault), a fire point missing, a sprinkler's trouble: a
  // detector that may not see a fire, its own fault as Contact ID 373. FJ and SJ are their restores.
  FT: 'device.fault',
  FY: 'device.fault',
  ST: 'device.fault',
  FJ: 'fault.restored',
  SJ: 'fault.restored',
  GA: 'gas.detected',
  GH: 'gas.restored',
  GR: 'gas.restored',
  KA: 'heat.detected',
  KH: 'heat.restored',
  KR: 'heat.restored',
  ZA: 'temperature.low',
  ZH: 'temperature',
  ZR: 'temperature',
  WA: 'flood.detected',
  WH: 'flood.restored',
  WR: 'flood.restored',
  // An untyped zone in alarm could be anyone's call for help: treated as a pendant until an
  // account override says otherwise.
  UA: 'pendant.pressed',
  UH: 'alarm.restored',
  UR: 'alarm.restored',
  AT: 'mains.lost',
  AR: 'mains.restored',
  YT: 'battery.low',
  YR: 'battery.restored',
  XT: 'battery.low',
  XR: 'battery.restored',
  RP: 'test.periodic',
  RX: 'test.manual',
  YC: 'line.fault',
  YS: 'line.fault',
  YK: 'line.restored',
  // A phone line or network trouble: the panel's own path to the receiver failing, as YC/YS.
  LT: 'line.fault',
  LR: 'line.restored',
  NT: 'line.fault',
  NR: 'line.restored',
  TA: 'device.tamper',
  TR: 'tamper.restored',
  // A tamper while disarmed, and a tamper at the panel's radio receiver, are tampers all the same.
  TT: 'device.tamper',
  TH: 'tamper.restored',
  TJ: 'tamper.restored',
  XS: 'device.tamper',
  XJ: 'tamper.restored',
  YM: 'battery.low',
  // No zone activity for the panel's programmed time: its senior watch (Contact ID 641/654), and
  // activity resumed its restore. Recorded: triage derives its own inactivity from the home.
  NA: 'inactivity.unusual',
  NS: 'motion',
  // An unspecified (manual or automatic) communicator test: it proves the link as RP does.
  TX: 'test.periodic',
  // RF interference: a jammer, through which no radio trigger gets.
  XQ: 'rf.jammed',
  XH: 'rf.restored',
};

/**
 * The type that restores `type`, for a Contact ID restore (Q=3):
 * - the taxonomy's own restore (`mains.lost` → `mains.restored`, `smoke.detected` →
 *   `smoke.restored`);
 * - `alarm.restored` for any other alarm (a pendant, pull-cord or fall): the zone back to normal,
 *   which a panel may send by itself as the button is let go; never the resident's cancel (that is
 *   406), which would close the press as a false alarm before anyone answered it;
 * - none for a cancel (406): a cancel has nothing to restore;
 * - a plain reading for temperature alarms;
 * - `motion` for senior-watch inactivity (641/654): the panel restores it when it sees activity;
 * - the same type for a record-only type (`test.periodic`): a record clears nothing, and the
 *   event still proves the link (a periodic test keeps supervision), with `condition: restore`;
 * - none otherwise (a type overridden onto a wellbeing alert with no restore type): recording it
 *   under its raising type would raise a false alert, so it is recorded as `code.unmapped`, saying
 *   why (`unmappedDetail`).
 */
export function restoreOf(type: EventType): EventType | undefined {
  if (type === 'alarm.cancelled') return undefined;
  for (const [candidate, info] of Object.entries(TAXONOMY)) {
    if (candidate === 'alarm.cancelled') continue;
    if ('restores' in info && info.restores === type) return candidate as EventType;
  }
  if (TAXONOMY[type].category === 'alarm') return 'alarm.restored';
  if (type === 'temperature.high' || type === 'temperature.low') return 'temperature';
  if (type === 'inactivity.unusual') return 'motion';
  if (TAXONOMY[type].category === 'record') return type;
  return undefined;
}

/** Why a source event maps to nothing, for the dead letter and the log. */
export function unmappedDetail(
  event: SourceEvent,
  overrides: Dc09AccountEntry['codeOverrides'] = {},
): string {
  const code = event.protocol === 'CID' ? `CID ${event.qualifier ?? ''}${event.code}` : `SIA ${event.code}`;
  if (event.protocol === 'CID') {
    const raised = overrides[`CID ${event.code}`] ?? CID_TYPES[event.code];
    if (raised && event.qualifier === '3') return `${code}: ${raised} has no restore type`;
    if (raised) return `${code}: unknown qualifier ${event.qualifier}`;
  }
  return `unknown code ${code}`;
}

export interface Mapped {
  readonly type: EventType;
  /** Set for a Contact ID restore (Q=3) or still-present status (Q=6). */
  readonly condition?: 'restore' | 'still-present';
}

/**
 * The canonical type of one source event, or undefined for a code (or qualifier) we do not
 * know. An account's overrides (`CID 120`, `SIA MA`) win over the tables.
 */
export function mapEvent(
  event: SourceEvent,
  overrides: Dc09AccountEntry['codeOverrides'] = {},
): Mapped | undefined {
  if (event.protocol === 'SIA') {
    const type = overrides[`SIA ${event.code}`] ?? SIA_TYPES[event.code];
    return type ? { type } : undefined;
  }
  const raised = overrides[`CID ${event.code}`] ?? CID_TYPES[event.code];
  if (!raised) return undefined;
  switch (event.qualifier) {
    case '1':
      return { type: raised };
    case '6':
      return { type: raised, condition: 'still-present' };
    case '3': {
      const restored = restoreOf(raised);
      return restored ? { type: restored, condition: 'restore' } : undefined;
    }
    default:
      return undefined;
  }
}

import { type Because, type EventType, TAXONOMY } from '@telecare/contracts';
import { FAULT_REPEATS } from './core/transitions.ts';

export interface Protocol {
  readonly title: string;
  readonly steps: readonly string[];
}

const RESPONDERS =
  'If help is needed at the home, call the responders in order; record each call as accepted, declined or no answer.';
const EMERGENCY = 'If no responder can attend, or at once if life is at risk, call emergency services (999).';
const OUTCOME =
  'Resolve with the outcome and a reason; put on hold with a call-back time if you must check again.';

/** Scripted protocol text per alert type: what an operator says and does, step by step. */
const BY_TYPE: Partial<Record<EventType, Protocol>> = {
  'pendant.pressed': {
    title: 'Pendant pressed',
    steps: [
      'Speak through the home unit: "Hello, this is the helpline, you pressed your button. Are you all right?"',
      'If the resident answers: ask what happened, whether they are hurt, and whether they need someone.',
      "If there is no answer: call the resident's phone; if still no answer, treat it as someone who cannot reach help.",
      RESPONDERS,
      EMERGENCY,
      OUTCOME,
    ],
  },
  'fall.detected': {
    title: 'Fall detected',
    steps: [
      'Speak through the home unit: "Hello, this is the helpline, we think you may have fallen. Can you hear me?"',
      'Ask: are you hurt? Can you get up safely on your own? Do not encourage them to get up if they are hurt.',
      'If they cannot get up or do not answer: call the first responder to attend; note the time they went down.',
      'Someone on the floor for over an hour, or with a head injury, chest pain or breathing trouble: call 999 now.',
      RESPONDERS,
      OUTCOME,
    ],
  },
  'smoke.detected': {
    title: 'Smoke detected',
    steps: [
      'Speak through the home unit: "This is the helpline, your smoke alarm has gone off. Is there a fire?"',
      'If a fire is confirmed, or there is no answer: call the fire service (999) now, then the responders.',
      'Tell the resident to leave the home if they can and not to go back in.',
      RESPONDERS,
      OUTCOME,
    ],
  },
  'co.detected': {
    title: 'Carbon monoxide detected',
    steps: [
      'Tell the resident to open doors and windows, turn off appliances and leave the home if they can.',
      'Ask about headache, dizziness, sickness; any symptoms or no answer: call 999.',
      'Advise the gas emergency line if a gas appliance is involved.',
      RESPONDERS,
      OUTCOME,
    ],
  },
  'door.exit-at-night': {
    title: 'Left the home at night',
    steps: [
      'Speak through the home unit: "Hello, this is the helpline, are you at home?" They may be back in, or the door was someone else.',
      "If there is no answer: call the resident's phone, then the first responder to check the home and the street nearby.",
      RESPONDERS,
      'If they are not found at home: call the police (999) at once; someone living with dementia out at night is at risk. Give where they usually go.',
      OUTCOME,
    ],
  },
  'sensor.noisy': {
    title: 'A movement sensor reports far beyond a person',
    steps: [
      'Not an alarm: the movement sensor the alert names reports far more often than a person moves (a heater, a curtain in a draught or the sun in its view, or a fault). While it does, its movement is not taken as the resident on its own, so a silence in that room is noticed later.',
      'Call the resident at a convenient time: check they are well, and ask whether anything near the sensor changed (a heater, a lamp, curtains, a pet, the sensor knocked).',
      `Ask the installer to visit and move, turn or replace the sensor. The case closes by itself once the sensor has been calm for an hour ("Movement sensor calm again"), unless the same sensor was noisy ${FAULT_REPEATS.times} times in ${FAULT_REPEATS.days} days: then it stays for you, its calm noted as repeating ("noisy ${FAULT_REPEATS.times} times in ${FAULT_REPEATS.days} days: book the installer"), and a sensor noisy again day after day still needs the visit: book it before you resolve.`,
      OUTCOME,
    ],
  },
  // A detector that reports its own fault may not sense what it is there for: the resident must
  // know their smoke, heat or CO alarm may stay silent until it is seen to.
  'device.fault': {
    title: 'A device reports a fault of its own',
    steps: [
      'The device the alert names (the code it was sent as says which fault: a fire zone in trouble, a detector dirty, out of range or failing its self-test) may not sense what it is there for until it is seen to. This is a fault of the device, not of the line: its other reports still reach us.',
      'Call the resident: check they are safe, tell them which device is faulty and that it may not raise an alarm; for a smoke, heat or CO detector, ask whether another working alarm covers that room, and advise them to take care with cooking, heaters and candles until it is fixed.',
      `Arrange a technician or installer visit to clean, test or replace the device. The case closes by itself when the device reports its fault cleared, unless the same device raised it ${FAULT_REPEATS.times} times in ${FAULT_REPEATS.days} days: then it stays for you, and needs the visit.`,
      OUTCOME,
    ],
  },
  'device.login-contested': {
    title: "A device's login in use from two places",
    steps: [
      "The device's secret is being used by something other than the device: its alarms may not reach us while the two throw each other off.",
      'Call the resident: check they are safe, that the device is with them and working, and whether anyone has handled it or its box.',
      'Ask the installer to issue the device a new secret (the registry re-issues it), so the copy is shut out; arrange a visit if the device must be set up again.',
      OUTCOME,
    ],
  },
};

/**
 * The alert types that say the resident has not been seen. Triage marks one raised while the whole
 * home, hub included, was silent (`thresholds.homeSilentSince`): a line or power cut at the home
 * looks the same, and the home unit cannot be reached to ask.
 */
const SILENCE_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'inactivity.unusual',
  'inactivity.no-wake',
  'outing.not-returned',
]);

const HOME_SILENT: Protocol = {
  title: 'No movement, and the whole home silent (hub included): line or power may be down',
  steps: [
    'Nothing at all has been heard from the home since the time the alert gives, its hub included: the line or the power at the home may be down. The home unit cannot be reached, and the silence does not tell how the resident is.',
    "Call the resident's phone (landline, then mobile). A landline that does not ring also points to a line fault. If they answer: check they are well, and tell them their alarm cannot reach the helpline until it is fixed.",
    'If they do not answer, or need help: call the nominated responders in order to go to the home; record each call as accepted, declined or no answer.',
    'Raise a device fault for the home unit (line or power down) so that a technician restores it: until then no alarm from this home reaches the helpline.',
    EMERGENCY,
    OUTCOME,
  ],
};

/**
 * The protocol for a case of `type`; `because` (the case's alerts) picks the home-silent protocol
 * for a silence raised while nothing at all was heard from the home.
 */
export function protocolFor(type: EventType, because: readonly Pick<Because, 'thresholds'>[] = []): Protocol {
  if (SILENCE_TYPES.has(type) && because.some((b) => b.thresholds.homeSilentSince !== undefined))
    return HOME_SILENT;
  const known = BY_TYPE[type];
  if (known) return known;
  const info = TAXONOMY[type];
  const generic = [
    'Speak to the resident through the home unit, or call them; ask whether they are all right.',
    RESPONDERS,
    EMERGENCY,
    OUTCOME,
  ];
  if (info && info.priority >= 3)
    return {
      title: `Technical alert: ${type}`,
      steps: [
        'Call the resident to check they are safe and tell them about the fault.',
        `Arrange a technician visit if the device cannot be restored remotely, or if the fault keeps coming back: one device's fault raised ${FAULT_REPEATS.times} times in ${FAULT_REPEATS.days} days stays for you even once restored, its restore noted as repeating.`,
        OUTCOME,
      ],
    };
  return { title: type, steps: generic };
}

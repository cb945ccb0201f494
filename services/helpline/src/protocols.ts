import { type EventType, TAXONOMY } from '@telecare/contracts';

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
};

export function protocolFor(type: EventType): Protocol {
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
        'Arrange a technician visit if the device cannot be restored remotely.',
        OUTCOME,
      ],
    };
  return { title: type, steps: generic };
}

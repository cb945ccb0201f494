import type { EventType } from '@telecare/contracts';
import { Dc09Dialler, type DialerEvent } from './dc09/index.ts';
import type { SentEvent } from './device.ts';
import { EventRejectedError } from './device.ts';
import type { EventSink } from './driver.ts';
import type { SimEvent } from './resident/events.ts';
import type { DeviceKey } from './resident/household.ts';

/**
 * The radio triggers of a home whose alarms go through a DC-09 disperser (an IP social alarm unit):
 * the pendant, fall detector, smoke, heat and CO detectors. The disperser also reports the home's
 * mains and polls on the hub's heartbeat; the hub and the activity sensors still use MQTT.
 */
export const DISPERSER_DEVICES: ReadonlySet<DeviceKey> = new Set(['pendant', 'fall', 'smoke', 'heat', 'co']);

/**
 * Contact ID for what the disperser reports: event code and qualifier (1 new, 3 restore); the
 * resident's cancel is 406, never a restore (the zone back to normal closes nothing). A fall
 * detector on zone 003 reports as 120 (a panic code), which the account's code overrides turn
 * into `fall.detected`, as an installer sets it up for a vendor that reuses the code.
 */
const CID: Partial<Record<EventType, { readonly code: string; readonly qualifier: 1 | 3 }>> = {
  'pendant.pressed': { code: '101', qualifier: 1 },
  'alarm.cancelled': { code: '406', qualifier: 1 },
  // A pendant's restore: the fall detector's is its own code's (below, `messageOf`).
  'alarm.restored': { code: '101', qualifier: 3 },
  'fall.detected': { code: '120', qualifier: 1 },
  'smoke.detected': { code: '110', qualifier: 1 },
  'smoke.restored': { code: '110', qualifier: 3 },
  'heat.detected': { code: '114', qualifier: 1 },
  'heat.restored': { code: '114', qualifier: 3 },
  'co.detected': { code: '162', qualifier: 1 },
  'co.restored': { code: '162', qualifier: 3 },
  'mains.lost': { code: '301', qualifier: 1 },
  'mains.restored': { code: '301', qualifier: 3 },
  'battery.low': { code: '384', qualifier: 1 },
  // A detector's own trouble and its clearing: a fire zone's (smoke, heat) as Contact ID's fire
  // trouble, 373, any other's as a sensor trouble, 380 (below, `messageOf`).
  'device.fault': { code: '380', qualifier: 1 },
  'fault.restored': { code: '380', qualifier: 3 },
};

/** Contact ID's fire trouble, which a panel reports for a fire zone's detector in trouble. */
const FIRE_TROUBLE = '373';

/** What the account needs registered for the codes above. */
export const DISPERSER_CODE_OVERRIDES: Readonly<Record<string, EventType>> = { 'CID 120': 'fall.detected' };

const ZONE: Partial<Record<DeviceKey, string>> = {
  hub: '000',
  pendant: '001',
  fall: '003',
  smoke: '010',
  heat: '011',
  co: '012',
};

type Message = { readonly kind: 'cid'; readonly event: CidEvent } | { readonly kind: 'poll' };
type CidEvent = Extract<DialerEvent, { kind: 'cid' }>;

const FIRE_ZONES: ReadonlySet<string | undefined> = new Set([ZONE.smoke, ZONE.heat]);

function messageOf(type: EventType, zone: string): Message | undefined {
  if (type === 'heartbeat') return { kind: 'poll' };
  const cid = type === 'alarm.restored' && zone === ZONE.fall ? CID['fall.detected'] : CID[type];
  const qualifier = type === 'alarm.restored' ? 3 : cid?.qualifier;
  if (!cid || !qualifier) return undefined;
  const code =
    (type === 'device.fault' || type === 'fault.restored') && FIRE_ZONES.has(zone) ? FIRE_TROUBLE : cid.code;
  return { kind: 'cid', event: { kind: 'cid', qualifier, code, zone } };
}

/** How long after a press or a fall the disperser reports its zone back to normal, as real panels do. */
export const RESTORE_AFTER_MS = 2_000;
const RESTORED_BY_ITSELF: ReadonlySet<EventType> = new Set(['pendant.pressed', 'fall.detected']);

/**
 * A home's events as its disperser reports them (`via: 'dc09'`, the zone in `data.zone`): every
 * event of its radio triggers (their own heartbeats and battery levels stay between them and the
 * disperser, which reports only a low battery), the hub's mains, and a NULL poll with each hub
 * heartbeat. Other events are unchanged. Like real panels, the disperser reports a press's or a
 * fall's zone back to normal by itself (`alarm.restored`, a Contact ID restore) `RESTORE_AFTER_MS`
 * later: never the resident's cancel, which is its own code (406). The events stay in time order.
 */
export function viaDisperser(events: readonly SimEvent[], homes: ReadonlySet<string>): SimEvent[] {
  const carried = events.flatMap((e): SimEvent[] => {
    if (!homes.has(e.home)) return [e];
    const zone = ZONE[e.device] ?? '000';
    const carried: SimEvent = { ...e, via: 'dc09', data: { zone } };
    if (e.device === 'hub') {
      if (e.type === 'heartbeat') return [e, carried];
      return e.type.startsWith('mains.') ? [carried] : [e];
    }
    if (!DISPERSER_DEVICES.has(e.device)) return [e];
    if (e.type === 'heartbeat' || !messageOf(e.type, zone)) return [];
    if (!RESTORED_BY_ITSELF.has(e.type)) return [carried];
    return [carried, { ...carried, type: 'alarm.restored', at: e.at + RESTORE_AFTER_MS, actor: 'device' }];
  });
  // Stable: events at one time keep their order.
  return carried.sort((a, b) => a.at - b.at);
}

export interface DisperserOptions {
  readonly host: string;
  readonly port: number;
  readonly account: string;
}

/**
 * An `EventSink` for one home's disperser: the driver's JSON payload (the same one an MQTT device
 * would send) becomes the Contact ID message or NULL poll, sent over TCP on a connection of its
 * own (as a disperser dials per alarm) and stamped with the event's own time, so an accelerated
 * run keeps simulated time; the ACK is the stored ack. The receiver must accept timestamps as far
 * behind its clock as the run lets its clock run ahead of a send (`DC09_WINDOW_BEHIND_S`).
 */
export class DisperserSink implements EventSink {
  readonly #options: DisperserOptions;

  constructor(options: DisperserOptions) {
    this.#options = options;
  }

  async send(_serial: string, id: string, payload: string): Promise<SentEvent> {
    const { type, at, data } = JSON.parse(payload) as {
      type: EventType;
      at: string;
      data?: { zone?: string };
    };
    const message = messageOf(type, data?.zone ?? '000');
    if (!message) throw new EventRejectedError(id, `a disperser does not carry ${type}`);
    const dialler = new Dc09Dialler({
      ...this.#options,
      transport: 'tcp',
      maxAttempts: 4,
      clockOffsetMs: Date.parse(at) - Date.now(),
    });
    await dialler.connect();
    try {
      const result = message.kind === 'poll' ? await dialler.poll() : await dialler.sendCid([message.event]);
      if (result.reply !== 'ACK') throw new EventRejectedError(id, `receiver answered ${result.reply}`);
      return { id, attempts: result.attempts, latencyMs: result.latencyMs };
    } finally {
      await dialler.close();
    }
  }
}

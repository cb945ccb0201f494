import { z } from 'zod';
import { DeviceState, PreviousPairing, Serial } from './device.ts';
import { DeviceKind, EventTypeSchema } from './taxonomy.ts';

/**
 * How a configured DC-09 key is written: `hex` — hex-decoded (32/48/64 hex digits → AES-128/192/256);
 * `ascii` — the string's own bytes (16/24/32 characters). Senders disagree, so it is per account.
 */
export const Dc09KeyEncoding = z.enum(['hex', 'ascii']);
export type Dc09KeyEncoding = z.infer<typeof Dc09KeyEncoding>;

/** A DC-09 account: 3–16 hex digits, kept upper-case. */
export const Dc09AccountId = z
  .string()
  .regex(/^[0-9A-Fa-f]{3,16}$/, 'account must be 3–16 hex digits')
  .transform((account) => account.toUpperCase());

/**
 * A source code as received, `CID 1101`-style without the qualifier (`CID 101`, `CID 120`) or
 * `SIA MA`, mapped per account onto a taxonomy type for vendors that reuse codes.
 */
export const Dc09CodeOverrides = z.record(
  z.string().regex(/^(CID [0-9A-F]{3}|SIA [A-Z]{2})$/),
  EventTypeSchema,
);

/**
 * One DC-09 account as the registry publishes it for the DC-09 gateway (NATS KV bucket
 * `names(ns).kv.dc09Accounts`, key = account). Ids only — no names. The key is a secret: the
 * bucket must only be readable by the registry and the DC-09 gateway.
 */
export const Dc09AccountEntry = z.object({
  account: Dc09AccountId,
  /** The disperser or panel that reports under this account (a registry device). */
  serial: Serial,
  /**
   * What that device is (`home-unit`, or a sensor that dials in itself such as a `smoke-detector`), carried on its events as `devicekind`;
   * absent from entries published before it existed, when the gateway says `home-unit`.
   */
  kind: DeviceKind.optional(),
  residentId: z.string().min(1),
  key: z.string().nullable(),
  keyEncoding: Dc09KeyEncoding,
  /**
   * The key this account had before its last change, accepted beside `key` until `until` while the
   * installer re-keys the panel on site (a panel still sending with it is answered, its alarms
   * stored). Absent or null: no other key is accepted (never rotated, the grace over, or the old key
   * revoked at once).
   */
  previousKey: z
    .object({ key: z.string(), keyEncoding: Dc09KeyEncoding, until: z.iso.datetime({ offset: true }) })
    .nullable()
    .optional(),
  codeOverrides: Dc09CodeOverrides,
  /**
   * The zone the panel's clock is set to (an IANA name such as `Europe/London`), when it is not UTC
   * as DC-09 says: its timestamps are read as wall-clock time there and its replies carry that time
   * (see the gateway's README). Absent or null: UTC. Not checked here, so that a gateway whose time
   * zone data lacks a newer zone still reads the entry (it takes the account for UTC).
   */
  clockZone: z.string().min(1).max(64).nullable().optional(),
  supervisionIntervalS: z.number().int().positive().nullable(),
  state: DeviceState,
  testMode: z.boolean(),
  postcodeDistrict: z.string().max(8).nullable(),
  /**
   * When the account's device joined this resident's home, and its pairing before, as the device
   * map has them (`DeviceMapEntry`): an event the panel reports now with a time (SIA `ti`/`da`) from
   * before it was paired here is the previous resident's when it falls in that pairing, nobody's
   * when it falls in stock after it or before it (or in stock before a first pairing, from
   * `stockedAt`), else a wrong clock (`attributeEvent`). Absent from entries published before they
   * were kept.
   */
  pairedAt: z.iso.datetime({ offset: true }).optional(),
  previousPairing: PreviousPairing.optional(),
  stockedAt: z.iso.datetime({ offset: true }).optional(),
  updatedAt: z.iso.datetime({ offset: true }),
});
export type Dc09AccountEntry = z.infer<typeof Dc09AccountEntry>;

/**
 * What an alert raised from a life-critical alarm the DC-09 gateway took from a frame whose pad
 * broke the style its account's panel has shown (the event's `data.padBroken`) says after its
 * reason. Such a frame may be one altered on the way, but a real fall or fire sent after the
 * panel's firmware changed how it pads looks the same: the operator answers it as any alarm.
 */
export const PAD_BROKEN_REASON =
  "came in a frame that broke its panel's usual padding (a firmware change, or a frame altered on the way): handle it as a real alarm";

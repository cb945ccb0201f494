import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { type Dc09AccountEntry, type DeviceMapEntry, names } from '@telecare/contracts';
import { openDc09Accounts } from '@telecare/platform';
import { Dc09Panel, EventRejectedError, type OnFirstSend } from '@telecare/simulators';
import type { SentPress } from './load.ts';
import type { SentEvent } from './reconcile.ts';

/** A home whose pendant reaches the platform through an IP panel speaking DC-09. */
interface PanelHome {
  readonly serial: string;
  readonly account: string;
  readonly key: string;
  /** Contact ID (`1101`, restored `3101`) or SIA (`QA`, restored `QR`). */
  readonly speaks: 'cid' | 'sia';
}

export interface PanelLoadOptions {
  readonly panels: number;
  /** Pendant presses per second over all the panels (each followed by its restore). */
  readonly pressesPerS: number;
  /** Each panel's NULL poll, when it has nothing else to send. */
  readonly pollEveryMs: number;
  readonly random: () => number;
}

/** How long after a press a panel reports its zone back to normal, as real panels do. */
const RESTORE_AFTER_MS = 2_000;

/**
 * Writes the panels into the device map and their DC-09 accounts (AES-128, a key of each panel's
 * own) into the accounts bucket, as the registry publishes them.
 */
async function registerPanels(nc: NatsConnection, namespace: string, count: number): Promise<PanelHome[]> {
  const n = names(namespace);
  const deviceMap = await new Kvm(nc).create(n.kv.deviceMap, { history: 5 });
  const accounts = await openDc09Accounts(nc, n);
  const now = new Date().toISOString();
  const tag = Date.now().toString(36).toUpperCase();
  const panels: PanelHome[] = [];
  for (let i = 0; i < count; i++) {
    const serial = `FLT${tag}-${i}-PNL`;
    const account = `FA${i.toString(16).toUpperCase().padStart(4, '0')}`;
    const residentId = `res_fltp${tag.toLowerCase()}${i}`;
    const panel: PanelHome = {
      serial,
      account,
      key: randomBytes(16).toString('hex').toUpperCase(),
      speaks: i % 2 === 0 ? 'cid' : 'sia',
    };
    const device: DeviceMapEntry = {
      serial,
      deviceId: `dev_${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
      residentId,
      kind: 'home-unit',
      protocol: 'dc09',
      location: 'hall',
      supervisionIntervalS: 86_400,
      state: 'installed',
      testMode: false,
      postcodeDistrict: 'GL1',
      updatedAt: now,
    };
    const entry: Dc09AccountEntry = {
      account,
      serial,
      kind: 'home-unit',
      residentId,
      key: panel.key,
      keyEncoding: 'hex',
      codeOverrides: {},
      supervisionIntervalS: 86_400,
      state: 'installed',
      testMode: false,
      postcodeDistrict: 'GL1',
      updatedAt: now,
    };
    await deviceMap.put(serial, JSON.stringify(device));
    await accounts.put(account, JSON.stringify(entry));
    panels.push(panel);
  }
  return panels;
}

type PanelMessage = 'pendant.pressed' | 'alarm.restored' | 'heartbeat';

/** A poll, or a press or its restore in the panel's language. */
function message(home: PanelHome, panel: Dc09Panel, type: PanelMessage, onFirstSend: OnFirstSend) {
  if (type === 'heartbeat') return panel.poll(onFirstSend);
  const restore = type === 'alarm.restored';
  return home.speaks === 'cid'
    ? panel.sendCid([{ kind: 'cid', qualifier: restore ? 3 : 1, code: '101', zone: '001' }], onFirstSend)
    : panel.sendSia([{ kind: 'sia', code: restore ? 'QR' : 'QA', zone: '1' }], onFirstSend);
}

/**
 * The DC-09 side of a fault run's load: encrypted panels on TCP (`Dc09Panel`: a message sent until
 * ACKed, under its own sequence number, stamped anew each time) sending NULL polls when idle, and
 * pendant presses, each followed by its restore. What the run records is what a panel would know:
 * each message sent (its account's serial and sequence number), and whether it was ACKed.
 */
export class PanelLoad {
  readonly #sent: SentEvent[] = [];
  readonly presses: SentPress[] = [];
  #panels: Array<{ home: PanelHome; panel: Dc09Panel }> = [];
  #timers: NodeJS.Timeout[] = [];
  #restores = new Set<NodeJS.Timeout>();
  /** Messages the receiver refused (DUH); none are expected. */
  rejected = 0;

  constructor(private readonly options: PanelLoadOptions) {}

  async start(nc: NatsConnection, namespace: string, host: string, port: number): Promise<void> {
    const homes = await registerPanels(nc, namespace, this.options.panels);
    this.#panels = homes.map((home) => ({
      home,
      panel: new Dc09Panel({ host, port, account: home.account, key: { value: home.key, encoding: 'hex' } }),
    }));
    // No wait for the gateway to see the accounts: it looks an account it does not hold up in the
    // bucket, and a panel sends until ACKed anyway.
    for (const { home, panel } of this.#panels) {
      this.#timers.push(
        setInterval(() => {
          if (panel.inFlight === 0) this.#send(home, panel, 'heartbeat');
        }, this.options.pollEveryMs),
      );
    }
    const tickMs = 100;
    let carry = 0;
    this.#timers.push(
      setInterval(() => {
        carry += (this.options.pressesPerS * tickMs) / 1000;
        while (carry >= 1) {
          carry -= 1;
          const one = this.#panels[Math.floor(this.options.random() * this.#panels.length)];
          if (!one) continue;
          this.#send(one.home, one.panel, 'pendant.pressed');
          const restore = setTimeout(() => {
            this.#restores.delete(restore);
            this.#send(one.home, one.panel, 'alarm.restored');
          }, RESTORE_AFTER_MS);
          this.#restores.add(restore);
        }
      }, tickMs),
    );
  }

  #send(home: PanelHome, panel: Dc09Panel, type: PanelMessage): void {
    // The press's own time: a press queued behind a message still being resent waits with it.
    const pressedAt = Date.now();
    let record: (SentEvent & { acked: boolean; dc09AckedAt?: string }) | undefined;
    const onFirstSend = (seq: number, at: Date) => {
      const deviceEventId = `${home.account}-${String(seq).padStart(4, '0')}`;
      record = { serial: home.serial, deviceEventId, at: at.toISOString(), type, dc09Seq: seq, acked: false };
      this.#sent.push(record);
      if (type === 'pendant.pressed') {
        this.presses.push({
          serial: home.serial,
          deviceEventId,
          at: record.at,
          sentAt: pressedAt,
          dc09Seq: seq,
        });
      }
    };
    message(home, panel, type, onFirstSend)
      .then(({ at }) => {
        if (record) {
          record.acked = true;
          record.dc09AckedAt = at.toISOString();
        }
      })
      .catch((err: unknown) => {
        if (err instanceof EventRejectedError) this.rejected++;
      });
  }

  get inFlight(): number {
    return this.#panels.reduce((sum, { panel }) => sum + panel.inFlight, 0);
  }

  get sentCount(): number {
    return this.#sent.length;
  }

  /** Stops new polls and presses (a restore due after a press sent is still sent, as a panel would). */
  stop(): void {
    for (const timer of this.#timers) clearInterval(timer);
  }

  /** Waits up to `timeoutMs` for every message queued to be ACKed, then closes the panels. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.inFlight > 0 || this.#restores.size > 0) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    for (const restore of this.#restores) clearTimeout(restore);
    for (const { panel } of this.#panels) panel.close();
  }

  sent(): SentEvent[] {
    return [...this.#sent];
  }
}

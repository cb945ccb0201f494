/**
 * A device's login used from two places at once. The broker binds each device's login to one
 * client id (its serial) and keeps one connection per id: a second connection under it takes the
 * session over and the first is thrown off. A stolen secret and the real device then throw each
 * other off in turn, each reconnecting at once, and neither the resident nor the helpline hears of
 * it (the device's alarms may go to a connection that is about to be dropped). The gateway cannot
 * see connections as an MQTT client; it reads the broker's own connection log, which Mosquitto
 * publishes on `$SYS/broker/log/N` with `log_dest topic` (infra/mosquitto/README.md).
 */

/** The broker's log topic for notices, where Mosquitto writes each client's connect and disconnect. */
export const BROKER_LOG_TOPIC = '$SYS/broker/log/N';

/** A connection line of the broker's log, read. */
export type BrokerLogLine =
  | { readonly kind: 'connected'; readonly clientId: string; readonly address: string; readonly at?: number }
  | { readonly kind: 'disconnected'; readonly clientId: string; readonly at?: number };

// Mosquitto 2.0: `New client connected from 203.0.113.7:52114 as PND-1 (p2, c1, k60, u'PND-1').`
const CONNECTED = /^New client connected from (.+):\d+ as (\S+) \(/;
// `Client PND-1 disconnected.`, `… closed its connection.`, `… has exceeded timeout, disconnecting.`,
// `… disconnected, not authorised.` and (later 2.0 releases) `Client PND-1 [203.0.113.7:52114] disconnected.`
const DISCONNECTED =
  /^Client (\S+)(?: \[[^\]]*\])? (?:closed its connection|disconnected|has exceeded timeout)/;
const SOCKET_ERROR = /^Socket error on client (\S+),/;
/** `log_timestamp true` (the default) prefixes each line with the broker's Unix time in seconds. */
const STAMP = /^(\d+): /;

/**
 * One line of the broker's log, or undefined for any other line. The address is the client's IP
 * without its port (a reconnect takes a new port; a second place is a second address).
 */
export function readBrokerLog(text: string): BrokerLogLine | undefined {
  const stamp = STAMP.exec(text);
  const line = stamp ? text.slice(stamp[0].length) : text;
  const at = stamp ? Number(stamp[1]) * 1000 : undefined;
  const when = at === undefined ? {} : { at };
  const connected = CONNECTED.exec(line);
  if (connected) {
    const [, address, clientId] = connected as unknown as [string, string, string];
    return { kind: 'connected', clientId, address: address.replace(/^\[(.*)\]$/, '$1'), ...when };
  }
  const gone = DISCONNECTED.exec(line) ?? SOCKET_ERROR.exec(line);
  if (gone && gone[1] !== '<unknown>') return { kind: 'disconnected', clientId: gone[1] as string, ...when };
  return undefined;
}

export interface TakeoverPolicy {
  /** The window takeovers are counted in, and the least time between two raises for one login. */
  readonly windowMs: number;
  /** Takeovers from another address within the window, between places taking turns, that make a login contested. */
  readonly takeovers: number;
}

/** A login found contested: raised once per window. */
export interface Contested {
  readonly clientId: string;
  /** Takeovers from another address within the window. */
  readonly takeovers: number;
  /** Distinct addresses the login connected from within the window. */
  readonly addresses: number;
  /** When the takeover that made it contested happened (the broker's time where it gave one). */
  readonly at: number;
}

export interface Observation {
  /** The line was a connection taking over one still open under the same client id. */
  readonly takeover: boolean;
  readonly contested?: Contested;
}

interface Takeover {
  readonly at: number;
  readonly from: string;
  readonly to: string;
}

/** Logins whose takeovers are remembered before stale ones are swept from all of them at once. */
const SWEEP_AT = 10_000;

/** The most connections of one login its trail keeps (the latest). */
const TRAIL_MAX = 64;

interface Join {
  readonly at: number;
  readonly address: string;
}

/** Whether the addresses, run together where one repeats at once, go back to one left before. */
const goesBack = (trail: readonly Join[]): boolean => {
  const left = new Set<string>();
  let last: string | undefined;
  for (const { address } of trail) {
    if (address === last) continue;
    if (left.has(address)) return true;
    if (last !== undefined) left.add(last);
    last = address;
  }
  return false;
};

/**
 * Follows the broker's connection log: which client ids are connected and from where, and each
 * takeover (a connection under an id already connected). A login is contested when it is taken
 * over `takeovers` times within the window between addresses that take turns: the login, once
 * taken over, comes back to an address it had left (after a takeover, or after the other place
 * disconnected: a copy that connects, publishes and leaves throws the device off each time, and
 * the device logs in again once it has gone). A device on a bad link reconnects before the broker
 * has noticed its old connection die, which is a takeover too, but from the one address it always
 * has, or, on a mobile network or after its router is given a new address, from a new one each
 * time; neither goes back. Raised once per window per login. Pure: time comes in with each line.
 */
export class TakeoverWatch {
  readonly #policy: TakeoverPolicy;
  readonly #connected = new Map<string, string>();
  readonly #recent = new Map<string, Takeover[]>();
  /** The addresses a login taken over within the window connected from, in order, takeover or not. */
  readonly #trails = new Map<string, Join[]>();
  readonly #quietUntil = new Map<string, number>();

  constructor(policy: TakeoverPolicy) {
    this.#policy = policy;
  }

  /**
   * Forgets which logins are connected, keeping the takeovers seen: called when the gateway comes
   * back to the broker, whose log lines while it was away (disconnects among them) are lost, so a
   * login remembered as connected may have gone, and its next login is no takeover.
   */
  forgetConnections(): void {
    this.#connected.clear();
  }

  observe(line: BrokerLogLine, now: number): Observation {
    const at = line.at ?? now;
    if (line.kind === 'disconnected') {
      this.#connected.delete(line.clientId);
      return { takeover: false };
    }
    const before = this.#connected.get(line.clientId);
    this.#connected.set(line.clientId, line.address);
    const since = at - this.#policy.windowMs;
    const kept = this.#trails.get(line.clientId)?.filter((j) => j.at > since);
    if (before === undefined) {
      // A fresh login of one taken over lately: where it comes back from counts too.
      if (kept?.length)
        this.#trails.set(line.clientId, [...kept, { at, address: line.address }].slice(-TRAIL_MAX));
      else this.#trails.delete(line.clientId);
      return { takeover: false };
    }
    const trail = kept?.length ? kept : [{ at, address: before }];
    trail.push({ at, address: line.address });
    this.#trails.set(line.clientId, trail.slice(-TRAIL_MAX));
    const recent = (this.#recent.get(line.clientId) ?? []).filter((t) => t.at > since);
    recent.push({ at, from: before, to: line.address });
    this.#recent.set(line.clientId, recent);
    if (this.#recent.size > SWEEP_AT) this.#sweep(at);
    const addresses = new Set(recent.flatMap((t) => [t.from, t.to])).size;
    // Only a takeover from another address is one place throwing another off: one from the same
    // address is the device itself reconnecting on a bad line before the broker saw it go.
    const across = recent.filter((t) => t.from !== t.to).length;
    // The login went back to an address it had left: two places taking turns. A device on a
    // mobile link that comes back from a new address each time never does.
    const alternating = goesBack(trail);
    const quiet = this.#quietUntil.get(line.clientId) ?? Number.NEGATIVE_INFINITY;
    if (across < this.#policy.takeovers || addresses < 2 || !alternating || at < quiet)
      return { takeover: true };
    this.#quietUntil.set(line.clientId, at + this.#policy.windowMs);
    return {
      takeover: true,
      contested: { clientId: line.clientId, takeovers: across, addresses, at },
    };
  }

  #sweep(at: number): void {
    const since = at - this.#policy.windowMs;
    for (const [id, takeovers] of this.#recent) {
      if (!takeovers.some((t) => t.at > since)) this.#recent.delete(id);
    }
    for (const [id, trail] of this.#trails) if (!trail.some((j) => j.at > since)) this.#trails.delete(id);
    for (const [id, until] of this.#quietUntil) if (until <= at) this.#quietUntil.delete(id);
  }
}

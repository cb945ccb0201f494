import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * What a `FaultProxy` does to the traffic it forwards:
 * - `pass`: forwards both ways at once;
 * - `delay`: forwards both ways `ms` later, in order;
 * - `drop`: closes every open connection and every new one at once (a refused or reset link);
 * - `half-open`: keeps every socket open but forwards nothing in `direction` (`up` is client to
 *   server, `down` server to client): a peer that vanished without a FIN or RST;
 * - `blackhole`: accepts connections and never answers, never reaching the target.
 *
 * A connection that lived through `half-open` or `blackhole` has lost bytes for good, as one behind
 * a NAT that forgot it would: it is closed when the proxy leaves that mode, and the client
 * reconnects (unless its own keep-alive gave up on it first).
 */
export type FaultMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'drop' }
  | { readonly kind: 'half-open'; readonly direction: 'up' | 'down' | 'both' }
  | { readonly kind: 'blackhole' };

interface Link {
  readonly client: Socket;
  readonly server: Socket | undefined;
  /** Lost bytes under half-open or blackhole: closed when the fault ends. */
  broken: boolean;
  /** Frozen by `freezeOpen`: forwards nothing either way, for good, and is never closed by the proxy. */
  frozen: boolean;
}

/** Chunks held back under `delay`, released in order by one timer per direction. */
class DelayLine {
  readonly #queue: Array<{ due: number; chunk: Buffer }> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: Socket) {}

  push(chunk: Buffer, ms: number): void {
    const last = this.#queue.at(-1)?.due ?? 0;
    this.#queue.push({ due: Math.max(Date.now() + ms, last), chunk });
    this.#arm();
  }

  /** Forwards now, after whatever is still held (so order is kept when a delay ends). */
  write(chunk: Buffer): void {
    if (this.#queue.length === 0) this.out.write(chunk);
    else this.push(chunk, 0);
  }

  #arm(): void {
    if (this.#timer || this.#queue.length === 0) return;
    const head = this.#queue[0] as { due: number };
    this.#timer = setTimeout(() => this.#release(), Math.max(0, head.due - Date.now()));
  }

  #release(): void {
    this.#timer = undefined;
    const now = Date.now();
    while (this.#queue.length > 0 && (this.#queue[0] as { due: number }).due <= now) {
      const { chunk } = this.#queue.shift() as { chunk: Buffer };
      if (!this.out.destroyed) this.out.write(chunk);
    }
    this.#arm();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}

/** A client's publication the proxy dropped (`dropNextPublish`). */
export interface DroppedPublish {
  readonly subject: string;
  readonly payload: string;
}

/** Matches the pull requests of one durable consumer, for `dropNextPublish`. */
export const pullRequestOf =
  (consumer: string) =>
  (subject: string): boolean =>
    subject.includes('.CONSUMER.MSG.NEXT.') && subject.endsWith(`.${consumer}`);

/** The idle heartbeat a dropped pull request asked the server for, in milliseconds. */
export const pullHeartbeatMs = (pull: DroppedPublish): number =>
  (JSON.parse(pull.payload) as { idle_heartbeat: number }).idle_heartbeat / 1_000_000;

/**
 * Splits the bytes a NATS client sends into whole protocol operations: a line (`SUB`, `PING`, ...)
 * or a publication (`PUB`/`HPUB` line, then its payload of the size the line gives).
 */
class NatsFrames {
  #pending: Buffer = Buffer.alloc(0);

  *split(chunk: Buffer): Iterable<{ frame: Buffer; subject?: string; payload?: Buffer }> {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const eol = this.#pending.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.#pending.subarray(0, eol).toString('latin1');
      const words = line.trim().split(/\s+/);
      const op = words[0]?.toUpperCase();
      let end = eol + 2;
      let publication: { subject: string; payload: Buffer } | undefined;
      if (op === 'PUB' || op === 'HPUB') {
        // The last word is the whole payload's size (headers included for HPUB).
        const size = Number(words.at(-1));
        if (this.#pending.length < end + size + 2) return;
        publication = {
          subject: words[1] ?? '',
          payload: this.#pending.subarray(end + (op === 'HPUB' ? Number(words.at(-2)) : 0), end + size),
        };
        end += size + 2;
      }
      const frame = this.#pending.subarray(0, end);
      this.#pending = this.#pending.subarray(end);
      yield { frame, ...publication };
    }
  }
}

/**
 * A TCP proxy on a free loopback port in front of one target, switched at run time between the
 * `FaultMode`s: the network faults of the fault suite (`tests/faults`) between a service and a
 * server. Forwarding is byte for byte; the proxy knows no protocol.
 */
export class FaultProxy {
  #mode: FaultMode = { kind: 'pass' };
  readonly #links = new Set<Link>();
  /** Publications to drop, each the next one its test matches (`dropNextPublish`). */
  readonly #drops: Array<{ match: (subject: string) => boolean; dropped: (what: DroppedPublish) => void }> =
    [];

  #target: { readonly host: string; readonly port: number };

  private constructor(
    private readonly server: Server,
    readonly port: number,
    target: { readonly host: string; readonly port: number },
    /** Whether the target speaks NATS and client operations are read whole (`dropNextPublish`). */
    private readonly natsFrames: boolean,
  ) {
    this.#target = target;
  }

  /** Where new connections go (`moveTo`). */
  get target(): { readonly host: string; readonly port: number } {
    return this.#target;
  }

  /**
   * Connections made from now on reach `target`; those open stay where they are: a name moved to
   * another server (a failover's DNS change), which a client follows only when it reconnects.
   */
  moveTo(target: { host?: string; port: number }): void {
    this.#target = { host: target.host ?? '127.0.0.1', port: target.port };
  }

  /**
   * `natsFrames`: the target is a NATS server, and what clients send it is forwarded one whole
   * protocol operation at a time, so that `dropNextPublish` can leave one out.
   */
  static async start(
    target: { host?: string; port: number },
    listenPort = 0,
    options: { natsFrames?: boolean } = {},
  ): Promise<FaultProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('the fault proxy has no port');
    const proxy = new FaultProxy(
      server,
      address.port,
      { host: target.host ?? '127.0.0.1', port: target.port },
      options.natsFrames === true,
    );
    server.on('connection', (client) => proxy.#accept(client));
    return proxy;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** Open client connections (a blackholed one counts). */
  get connections(): number {
    return this.#links.size;
  }

  /** `url('nats')` → `nats://127.0.0.1:<port>`. */
  url(scheme: string, path = ''): string {
    return `${scheme}://127.0.0.1:${this.port}${path}`;
  }

  set(mode: FaultMode): void {
    const leaving = this.#mode.kind;
    this.#mode = mode;
    if (mode.kind === 'drop') {
      for (const link of this.#links) this.#close(link);
    } else if ((leaving === 'half-open' || leaving === 'blackhole') && mode.kind !== leaving) {
      for (const link of this.#links) if (link.broken && !link.frozen) this.#close(link);
    }
  }

  /**
   * Every connection open now stops forwarding either way, for good, and stays open; connections
   * made afterwards pass as the mode says. A NAT or Wi-Fi roam that forgot the flows in hand, or a
   * laptop waking from sleep: the client's sockets look alive and nothing ever arrives on them, and
   * only a client that notices the silence opens new ones. Answers how many were frozen.
   */
  freezeOpen(): number {
    for (const link of this.#links) link.frozen = true;
    return this.#links.size;
  }

  /**
   * The next publication a client sends on a subject `match` accepts is not forwarded, and the link
   * stays up: a message lost on its way (a route that flapped) with nothing to tell either end.
   * Resolves with what was dropped. Only for a proxy started with `natsFrames`.
   */
  dropNextPublish(match: (subject: string) => boolean): Promise<DroppedPublish> {
    if (!this.natsFrames) throw new Error('dropNextPublish needs a proxy started with natsFrames');
    return new Promise((dropped) => this.#drops.push({ match, dropped }));
  }

  async close(): Promise<void> {
    for (const link of this.#links) this.#close(link);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    client.setNoDelay(true);
    const mode = this.#mode;
    if (mode.kind === 'drop') {
      client.destroy();
      return;
    }
    if (mode.kind === 'blackhole') {
      const link: Link = { client, server: undefined, broken: true, frozen: false };
      this.#links.add(link);
      client.on('data', () => undefined);
      client.on('error', () => undefined);
      client.once('close', () => this.#links.delete(link));
      return;
    }
    const server = tcpConnect(this.#target.port, this.#target.host);
    server.setNoDelay(true);
    const frames = this.natsFrames ? new NatsFrames() : undefined;
    const link: Link = { client, server, broken: false, frozen: false };
    this.#links.add(link);
    const up = new DelayLine(server);
    const down = new DelayLine(client);
    client.on('data', (chunk: Buffer) => {
      if (!frames) return this.#forward(link, chunk, up, 'up');
      for (const { frame, subject, payload } of frames.split(chunk)) {
        const drop = subject === undefined ? -1 : this.#drops.findIndex(({ match }) => match(subject));
        if (drop < 0) this.#forward(link, frame, up, 'up');
        else
          this.#drops
            .splice(drop, 1)[0]
            ?.dropped({ subject: subject ?? '', payload: payload?.toString('utf8') ?? '' });
      }
    });
    server.on('data', (chunk: Buffer) => this.#forward(link, chunk, down, 'down'));
    const end = () => {
      up.clear();
      down.clear();
      this.#close(link);
    };
    for (const socket of [client, server]) {
      socket.on('error', () => undefined);
      socket.once('close', end);
    }
  }

  #forward(link: Link, chunk: Buffer, line: DelayLine, direction: 'up' | 'down'): void {
    if (link.frozen) return;
    const mode = this.#mode;
    switch (mode.kind) {
      case 'pass':
        line.write(chunk);
        return;
      case 'delay':
        line.push(chunk, mode.ms);
        return;
      case 'half-open':
        if (mode.direction === 'both' || mode.direction === direction) link.broken = true;
        else line.write(chunk);
        return;
      default:
        // drop and blackhole close or never open the server side; nothing to forward.
        link.broken = true;
    }
  }

  #close(link: Link): void {
    this.#links.delete(link);
    link.client.destroy();
    link.server?.destroy();
  }
}

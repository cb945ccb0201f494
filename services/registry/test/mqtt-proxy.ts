import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/** Which way a packet goes: `command` from the client to the broker, `answer` back. */
export type Direction = 'command' | 'answer';

/**
 * A TCP proxy in front of a broker that reads what passes as MQTT packets, so that one PUBLISH
 * holding a text can be left out (a command lost on its way, or the broker's answer to it) while
 * everything else passes, and every connection can be cut at once (the link lost, the broker up).
 */
export class MqttPacketProxy {
  readonly #drops: Record<Direction, { text: string; dropped: () => void } | undefined> = {
    command: undefined,
    answer: undefined,
  };
  readonly #sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: number): Promise<MqttPacketProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new MqttPacketProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.#link(client, target));
    return proxy;
  }

  /** Leaves out the next PUBLISH going `direction` that holds `text`; resolves once it has. */
  dropNext(direction: Direction, text: string): Promise<void> {
    return new Promise((dropped) => {
      this.#drops[direction] = { text, dropped };
    });
  }

  /** Closes every open connection; new ones are taken as before. */
  cut(): void {
    for (const s of this.#sockets) s.destroy();
  }

  #link(client: Socket, target: number): void {
    const server = tcpConnect(target, '127.0.0.1');
    for (const s of [client, server]) {
      this.#sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        server.destroy();
      });
    }
    this.#forward(client, server, 'command');
    this.#forward(server, client, 'answer');
  }

  #forward(from: Socket, to: Socket, direction: Direction): void {
    let pending = Buffer.alloc(0);
    from.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        // Fixed header: type and flags, then the remaining length (1–4 bytes, 7 bits each).
        let length = 0;
        let at = 1;
        for (let shift = 0; at < pending.length && at < 5; shift += 7) {
          const byte = pending[at++]!;
          length += (byte & 0x7f) << shift;
          if ((byte & 0x80) === 0) break;
          if (at === pending.length) return;
        }
        if (at >= pending.length && length > 0) return;
        if (pending.length < at + length) return;
        const packet = pending.subarray(0, at + length);
        pending = pending.subarray(at + length);
        const drop = this.#drops[direction];
        if (drop && packet[0]! >> 4 === 3 && packet.includes(drop.text)) {
          this.#drops[direction] = undefined;
          drop.dropped();
          continue;
        }
        to.write(packet);
      }
    });
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

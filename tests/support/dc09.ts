import { connect } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TelecareEvent } from '@telecare/contracts';

/** Sends one DC-09 frame on a new TCP connection to `port` and gives the reply's message type. */
export function sendDc09(port: number, frame: Buffer, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no reply'));
    }, timeoutMs);
    let got = '';
    socket.on('data', (chunk) => {
      got += chunk.toString('latin1');
      const reply = /"\*?([A-Z]+)"/.exec(got);
      if (!reply || !got.includes('\r')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply[1] as string);
    });
    socket.on('error', reject);
    socket.once('connect', () => socket.write(frame));
  });
}

/** Every event held in the EVENTS stream `stream`, in order. */
export async function eventsIn(nc: NatsConnection, stream: string): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push(TelecareEvent.parse(m.json()));
  }
  return out;
}

/**
 * A counter's value at the service `url`, summed over its labels; `name` may hold the opening of a
 * label set (`…_total{reason="x"`): then only the lines whose labels hold what follows the `{`.
 */
export async function metricSumAt(url: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const brace = name.indexOf('{');
  const metricName = brace < 0 ? name : name.slice(0, brace);
  const labels = brace < 0 ? '' : name.slice(brace + 1);
  let sum = 0;
  for (const line of text.matchAll(new RegExp(`^${metricName}(?:\\{([^}]*)\\})? (\\d+)$`, 'gm'))) {
    if ((line[1] ?? '').includes(labels)) sum += Number(line[2]);
  }
  return sum;
}

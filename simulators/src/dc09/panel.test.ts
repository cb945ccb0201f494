import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decrypt, dialerKey, frame } from './codec.ts';
import { Dc09Panel } from './panel.ts';

const KEY = '000102030405060708090A0B0C0D0E0F';

/** One sending as the receiver saw it: which connection, its sequence number and decrypted content. */
interface Heard {
  readonly connection: number;
  readonly seq: string;
  readonly content: string;
}

/**
 * A receiver on loopback whose every answer the test decides: `answer` is called for each frame,
 * with the connection, and may write a reply, destroy the connection, or do nothing.
 */
async function receiver(answer: (heard: Heard, socket: Socket, all: Heard[]) => void) {
  const heard: Heard[] = [];
  let connections = 0;
  const server: Server = createServer((socket) => {
    const connection = ++connections;
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let cr = buffer.indexOf('\r'); cr >= 0; cr = buffer.indexOf('\r')) {
        const body = buffer.slice(buffer.indexOf('\n') + 9, cr);
        buffer = buffer.slice(cr + 1);
        const m = /^"\*[A-Z-]+"(\d{4})L0#FA01\[([0-9A-F]+)$/.exec(body);
        if (!m) throw new Error(`not a frame of the panel: ${body}`);
        const one = {
          connection,
          seq: m[1] as string,
          content: decrypt(m[2] as string, dialerKey(KEY, 'hex')),
        };
        heard.push(one);
        answer(one, socket, heard);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  servers.push(server);
  return { port: address.port, heard };
}

const ack = (seq: string) => frame(`"ACK"${seq}L0#FA01[]`);
const servers: Server[] = [];
const panels: Dc09Panel[] = [];

function panel(port: number): Dc09Panel {
  const p = new Dc09Panel({
    host: '127.0.0.1',
    port,
    account: 'FA01',
    key: { value: KEY, encoding: 'hex' },
    answerTimeoutMs: 300,
    resendMs: 50,
    resendMaxMs: 200,
  });
  panels.push(p);
  return p;
}

afterEach(async () => {
  for (const p of panels.splice(0)) p.close();
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

describe('Dc09Panel', () => {
  it('sends a message until ACKed, under its own number, stamped anew each time, dialling again when the line drops', async () => {
    const { port, heard } = await receiver((one, socket, all) => {
      // The first sending: the line drops. The second: no answer. The third: an ACK of another
      // message first (a late one), then its own.
      if (all.length === 1) socket.destroy();
      if (all.length === 3) socket.write(Buffer.concat([ack('0042'), ack(one.seq)]));
    });
    const firstSends: number[] = [];
    const result = await panel(port).sendCid(
      [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
      (seq) => firstSends.push(seq),
    );
    expect(result).toMatchObject({ seq: 1, attempts: 3 });
    expect(firstSends).toEqual([1]);
    expect(heard.map((h) => h.seq)).toEqual(['0001', '0001', '0001']);
    expect(heard.map((h) => h.connection)).toEqual([1, 2, 2]);
    // The same content each time, with the timestamp of its own sending.
    const withoutTime = heard.map((h) => h.content.replace(/_[^_]*$/, ''));
    expect(new Set(withoutTime)).toEqual(new Set(['#FA01|1101 01 001]']));
    expect(heard.every((h) => /_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}$/.test(h.content))).toBe(true);
  });

  it('sends one message at a time, the next numbered after it; close() rejects what it still holds', async () => {
    let answering = true;
    const { port, heard } = await receiver((one, socket) => {
      if (answering) socket.write(ack(one.seq));
    });
    const p = panel(port);
    const poll = p.poll();
    const press = p.sendSia([{ kind: 'sia', code: 'QA', zone: '1' }]);
    expect((await poll).seq).toBe(1);
    expect((await press).seq).toBe(2);
    answering = false;
    const unanswered = p.poll();
    await expect.poll(() => heard.length).toBeGreaterThanOrEqual(4);
    p.close();
    await expect(unanswered).rejects.toThrow(/not acknowledged/);
    expect(heard.slice(2).every((h) => h.seq === '0003')).toBe(true);
  });
});

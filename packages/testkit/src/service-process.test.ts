import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listensOn } from './service-process.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

const listening = (host: string): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer();
    servers.push(server);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });

describe.skipIf(process.platform !== 'linux')('listensOn', () => {
  it('tells whose a listening port is: this process’s, not another’s', async () => {
    const mine = await listening('127.0.0.1');
    const mineV6 = await listening('::1').catch(() => undefined);
    expect(listensOn(process.pid, mine)).toBe(true);
    if (mineV6 !== undefined) expect(listensOn(process.pid, mineV6)).toBe(true);

    // Another process listening: its port is not this process's, and is that one's.
    const other = spawn(
      process.execPath,
      [
        '-e',
        "require('net').createServer().listen(0,'127.0.0.1',function(){console.log(this.address().port)})",
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const port = Number(
        await new Promise<string>((resolve) => other.stdout?.once('data', (d) => resolve(String(d)))),
      );
      expect(listensOn(process.pid, port)).toBe(false);
      expect(listensOn(other.pid as number, port)).toBe(true);
      expect(listensOn(other.pid as number, mine)).toBe(false);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A PBX click-to-call API that answers no request until `release()`: a phone system slower than
 * anything waiting on it. `asked` counts the requests that reached it; `env` points a helpline at it.
 */
export async function heldPbx(timeoutMs: number, reference = 'pbx-9') {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const state = { asked: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      state.asked += 1;
      await held;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: reference }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    get asked() {
      return state.asked;
    },
    release: () => release(),
    env: {
      HELPLINE_TELEPHONY: 'sip-click-to-call',
      HELPLINE_PBX_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/click-to-call`,
      HELPLINE_PBX_TOKEN: 'pbx-token-0123456789abcdef',
      HELPLINE_PBX_TIMEOUT_MS: String(timeoutMs),
    },
    close() {
      release();
      server.close();
    },
  };
}

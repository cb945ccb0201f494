import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, names } from '@telecare/contracts';
import { type GatewayDc09Handle, loadGatewayDc09Config, startGatewayDc09 } from '@telecare/gateway-dc09';
import { dialerKey, encodeDc09Message } from '@telecare/simulators';
import { servers, streamMessages, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsIn, sendDc09 } from '../support/dc09.ts';
import { addDc09Account, addHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * The case the fault suite meets when it kills the DC-09 gateway between storing a panel's press
 * and its ACK: the panel heard nothing and sends the press again, to a gateway that remembers no
 * sending (started again, or another instance). Whether it sends the same bytes or stamps them
 * anew, the press must reach one case.
 */
let platform: RunningPlatform;
let nc: NatsConnection;
let restarted: GatewayDc09Handle | undefined;
const KEY = '2B7E151628AED2A6ABF7158809CF4F3C';

beforeAll(async () => {
  platform = await startPlatform('fltdc09');
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  await restarted?.close();
  await nc?.close();
  await platform?.stop();
});

describe('a DC-09 press resent after the gateway lost its memory of sendings', () => {
  it('reaches one case, resent stamped anew', async () => {
    const serial = `FLT-DC09-${Date.now().toString(36).toUpperCase()}`;
    const residentId = await addHome(platform, serial, 'home-unit');
    await addDc09Account(platform, 'FA77', { serial, residentId }, KEY);
    const press = (at: Date) =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq: 1,
        account: 'FA77',
        events: [{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }],
        at,
        key: dialerKey(KEY, 'hex'),
      });
    const first = new Date();
    // Stored and ACKed; the ACK is lost on the way (the gateway was killed as it wrote it).
    expect(await sendDc09(platform.dc09.tcpPort, press(first))).toBe('ACK');

    restarted = await startGatewayDc09(
      loadGatewayDc09Config({ ...platform.env, GATEWAY_DC09_PORT: '0', DC09_PORT: '0' }),
    );
    const port = restarted.dc09.tcpPort;
    // The panel sends again, stamped anew (a second later), as panels do; then the network's late
    // copy of its first sending comes.
    expect(await sendDc09(port, press(new Date(first.getTime() + 1_000)))).toBe('ACK');
    expect(await sendDc09(port, press(first))).toBe('ACK');

    const n = names(platform.namespace);
    const stored = await waitFor(
      async () => {
        const ids = (await eventsIn(nc, n.streams.events))
          .filter((e) => e.subject === serial && e.type === 'pendant.pressed')
          .map((e) => e.id);
        return ids.length >= 2 ? ids : undefined;
      },
      { what: 'the press stored', timeoutMs: 10_000 },
    );
    // Stamped anew to a gateway that remembers no sending, it is stored again (the gateway's README,
    // "Retransmission or a new event"); the copy after it is its retransmission and stores nothing.
    expect(new Set(stored).size).toBe(2);
    const cases = await waitFor(
      async () => {
        const alerts = (await streamMessages(nc, n.streams.alerts))
          .map((m) => m.json<{ id: string; evidence: string[]; closes?: unknown }>())
          .filter((a) => a.closes === undefined && a.evidence.some((id) => stored.includes(id)));
        const open = (await platform.helplineGet<Case[]>('/api/cases?state=open')).filter(
          (c) => c.residentId === residentId,
        );
        const held = new Set(open.flatMap((c) => c.alertIds));
        // Both presses raised, and every alert of them is in a case.
        const raised = new Set(alerts.flatMap((a) => a.evidence.filter((id) => stored.includes(id))));
        return raised.size === 2 && alerts.every((a) => held.has(a.id)) ? open : undefined;
      },
      { what: 'every alert of the press in a case', timeoutMs: 15_000 },
    );
    expect(cases).toHaveLength(1);
  });
});

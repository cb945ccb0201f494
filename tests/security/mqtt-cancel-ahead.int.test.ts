import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Case, eventIdFor, names } from '@telecare/contracts';
import type { SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * Attack replay: someone holding a pendant's login sends a cancel dated minutes ahead (the gateway
 * keeps a device's time up to 5 minutes ahead, for clocks that run fast), then leaves. The cancel
 * rule pairs an alarm with a cancel whichever arrives second, so the resident's real press minutes
 * later, timed before the cancel, was closed by it as a false alarm the moment it arrived: the case
 * resolved before anyone saw it. One such login, connected once every few minutes (too seldom to be
 * found contested), closed every press of the pendant.
 */

let platform: RunningPlatform;
let nc: NatsConnection;
let device: SimulatedDevice;
let residentId: string;
let resent: SimulatedDevice;
let resentResident: string;
let slow: SimulatedDevice;
let slowResident: string;
const serial = `SEC-CAH-${Date.now().toString(36).toUpperCase()}`;

type Detail = Case & {
  state: string;
  events: Array<{ kind: string; actor: string; data: Record<string, unknown> }>;
};

/**
 * The resident's press case. A cancel's alert that reaches the helpline as the press's does (a lane
 * of its own) may be kept as a closed record of its own while it closes the press's case: not it.
 */
const caseOf = (resident: string, what: string) =>
  waitFor(
    async () =>
      (await platform.helplineGet<Case[]>('/api/cases?state=all')).find(
        (c) => c.residentId === resident && c.type === 'pendant.pressed',
      ),
    { what, timeoutMs: 60_000 },
  );

const settled = () => {
  const n = names(platform.namespace);
  return consumersDrained(nc, [n.streams.events, n.streams.alerts], 'consumers to settle', {
    timeoutMs: 60_000,
  });
};

beforeAll(async () => {
  platform = await startPlatform('seccancelahead');
  nc = await connect({ servers: servers.natsUrl });
  ({ residentId, device } = await addPendantHome(platform, serial));
  ({ residentId: resentResident, device: resent } = await addPendantHome(platform, `${serial}-R`));
  ({ residentId: slowResident, device: slow } = await addPendantHome(platform, `${serial}-S`));
});

afterAll(async () => {
  await device?.close();
  await resent?.close();
  await slow?.close();
  await nc?.close();
  await platform?.stop();
});

describe('a pendant’s login sending a cancel dated ahead of its arrival', () => {
  it('closes no press made after the cancel arrived: the resident’s press stays open for an operator', {
    timeout: 150_000,
  }, async () => {
    // The attacker's cancels, one every 30 s of the next five minutes, each stored at the time it
    // gives itself (a device's time up to 5 minutes ahead is kept): every moment of those minutes
    // is within the pre-alarm window (60 s) before one of them.
    const now = Date.now();
    const cancels = [];
    for (let ahead = 30_000; ahead <= 270_000; ahead += 30_000)
      cancels.push(await device.send('alarm.cancelled', {}, { at: new Date(now + ahead) }));
    // The resident presses a moment later, their pendant's clock right.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await device.send('pendant.pressed');
    const opened = await caseOf(residentId, 'the resident’s press');
    await settled();
    const detail = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
    expect(['queued', 'offered'], JSON.stringify(detail.events.map((e) => e.kind))).toContain(detail.state);
    for (const cancel of cancels)
      expect(JSON.stringify(detail.events)).not.toContain(
        eventIdFor(serial, cancel.id, cancel.at, cancel.type),
      );
  });

  it('closes no press of a pendant whose clock is slow, made after the cancels arrived, though timed between one and its own arrival', {
    timeout: 150_000,
  }, async () => {
    // The pendant's clock is 10 s slow. The cancels are dated every 10 s of the next few minutes;
    // the press made 12 s after they arrived is timed 2 s after that and received 10 s later,
    // with a cancel dated between the two.
    const now = Date.now();
    const cancels = [];
    for (let ahead = 10_000; ahead <= 270_000; ahead += 10_000)
      cancels.push(await slow.send('alarm.cancelled', {}, { at: new Date(now + ahead) }));
    // 12 s after the last of them was stored (however long sending them took).
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    await slow.send('pendant.pressed', {}, { at: new Date(Date.now() - 10_000) });
    const opened = await caseOf(slowResident, 'the slow pendant’s press');
    await settled();
    const detail = await platform.helplineGet<Detail>(`/api/cases/${opened.id}`);
    expect(['queued', 'offered'], JSON.stringify(detail.events.map((e) => e.kind))).toContain(detail.state);
    for (const cancel of cancels)
      expect(JSON.stringify(detail.events)).not.toContain(
        eventIdFor(`${serial}-S`, cancel.id, cancel.at, cancel.type),
      );
  });

  it('still closes a press that arrives after the cancel but was made before the cancel arrived (a resend)', {
    timeout: 150_000,
  }, async () => {
    // The press made 5 s ago, its first sending lost; the cancel the resident pressed after it
    // arrives first, and the press's resend after the cancel.
    const pressedAt = new Date(Date.now() - 5_000);
    await resent.send('alarm.cancelled');
    await resent.send('pendant.pressed', {}, { at: pressedAt });
    const detail = await waitFor(
      async () => {
        const c = await caseOf(resentResident, 'the resent press');
        const d = await platform.helplineGet<Detail>(`/api/cases/${c.id}`);
        return d.state === 'resolved' ? d : undefined;
      },
      { what: 'the resent press closed by the cancel before it', timeoutMs: 60_000 },
    );
    expect(detail).toMatchObject({ outcome: 'false-alarm' });
    expect(detail.events.at(-1)).toMatchObject({ actor: 'helpline', data: { automatic: true } });
  });
});

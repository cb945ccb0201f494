import { describe, expect, it } from 'vitest';
import { type BrokerLogLine, readBrokerLog, TakeoverWatch } from './takeover.ts';

const POLICY = { windowMs: 600_000, takeovers: 3 };
const connected = (clientId: string, address: string, at: number): BrokerLogLine => ({
  kind: 'connected',
  clientId,
  address,
  at,
});

describe("the broker's connection log", () => {
  it('reads connects with their address (no port) and disconnects, with the broker time', () => {
    expect(
      readBrokerLog(
        "1796472297: New client connected from 203.0.113.7:51414 as PND-1 (p2, c1, k60, u'PND-1').",
      ),
    ).toEqual({ kind: 'connected', clientId: 'PND-1', address: '203.0.113.7', at: 1_796_472_297_000 });
    expect(readBrokerLog('New client connected from ::1:51414 as PND-1 (p5, c1, k60).')).toEqual({
      kind: 'connected',
      clientId: 'PND-1',
      address: '::1',
    });
    for (const line of [
      '1796472300: Client PND-1 disconnected.',
      '1796472300: Client PND-1 closed its connection.',
      '1796472300: Client PND-1 has exceeded timeout, disconnecting.',
      '1796472300: Client PND-1 [203.0.113.7:51414] disconnected.',
      '1796472300: Socket error on client PND-1, disconnecting.',
    ])
      expect(readBrokerLog(line), line).toEqual({
        kind: 'disconnected',
        clientId: 'PND-1',
        at: 1_796_472_300_000,
      });
    expect(readBrokerLog('1796472300: New connection from 127.0.0.1:51430 on port 1883.')).toBeUndefined();
    expect(readBrokerLog('1796472300: Client <unknown> closed its connection.')).toBeUndefined();
  });
});

describe('a login taken over', () => {
  it('is contested at the third takeover between two addresses, raised once in the window', () => {
    const watch = new TakeoverWatch(POLICY);
    const seen = [0, 1, 2, 3, 4, 5].map((i) =>
      watch.observe(connected('PND-1', i % 2 === 0 ? '198.51.100.1' : '203.0.113.7', i * 2_000), 0),
    );
    expect(seen.map((o) => o.takeover)).toEqual([false, true, true, true, true, true]);
    expect(seen.map((o) => o.contested?.takeovers)).toEqual([
      undefined,
      undefined,
      undefined,
      3,
      undefined,
      undefined,
    ]);
    expect(seen[3]?.contested).toEqual({ clientId: 'PND-1', takeovers: 3, addresses: 2, at: 6_000 });
    // A window after the raise, still going on: raised again, and then quiet for a window. The
    // login coming back from the address it already had (605 s) is no takeover between places.
    expect(watch.observe(connected('PND-1', '203.0.113.7', 605_000), 0).contested).toBeUndefined();
    expect(watch.observe(connected('PND-1', '198.51.100.1', 606_000), 0).contested?.takeovers).toBe(3);
    expect(watch.observe(connected('PND-1', '203.0.113.7', 607_000), 0).contested).toBeUndefined();
  });

  it('is contested when the copy takes over, publishes and leaves, and the device comes back each time', () => {
    // The copy's client connects, sends what it likes and disconnects (as mosquitto_pub does): the
    // device is thrown off each time and logs in again once the copy has gone, so no takeover is
    // ever the device's, yet the login takes turns between the two places.
    const watch = new TakeoverWatch(POLICY);
    const raised = [];
    watch.observe(connected('PND-8', '198.51.100.1', 0), 0);
    for (let i = 1; i <= 3; i++) {
      const copy = watch.observe(connected('PND-8', '203.0.113.7', i * 10_000), 0);
      expect(copy.takeover).toBe(true);
      if (copy.contested) raised.push(copy.contested);
      watch.observe({ kind: 'disconnected', clientId: 'PND-8', at: i * 10_000 + 100 }, 0);
      expect(watch.observe(connected('PND-8', '198.51.100.1', i * 10_000 + 2_000), 0).takeover).toBe(false);
    }
    expect(raised).toEqual([{ clientId: 'PND-8', takeovers: 3, addresses: 2, at: 30_000 }]);
  });

  it('is not contested when a device on a bad link reconnects again and again from its one address', () => {
    const watch = new TakeoverWatch(POLICY);
    for (let i = 0; i < 50; i++) {
      const seen = watch.observe(connected('PND-2', '198.51.100.1', i * 5_000), 0);
      expect(seen.contested).toBeUndefined();
    }
  });

  it('is not contested when a device on a bad link is given a new address once', () => {
    // Reconnecting before the broker noticed its old connection die, from its one address, and
    // then from the new one its router was given: it never went back to an address it had left.
    const watch = new TakeoverWatch(POLICY);
    const seen = ['198.51.100.1', '198.51.100.1', '198.51.100.1', '203.0.113.9', '203.0.113.9'].map(
      (address, i) => watch.observe(connected('PND-9', address, i * 1_000), 0),
    );
    expect(seen.map((o) => o.takeover)).toEqual([false, true, true, true, true]);
    expect(seen.map((o) => o.contested)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('is not contested when a device on a bad line fails over to mobile once and comes back', () => {
    // Its broadband line drops and it reconnects before the broker noticed (takeovers from its one
    // address), then its hub fails over to the mobile network and back: one place, two links.
    const watch = new TakeoverWatch(POLICY);
    const home = '198.51.100.1';
    const mobile = '100.64.0.9';
    const seen = [home, home, home, home, mobile, home].map((address, i) =>
      watch.observe(connected('PND-10', address, i * 30_000), 0),
    );
    expect(seen.filter((o) => o.takeover)).toHaveLength(5);
    expect(seen.map((o) => o.contested)).toEqual(Array(6).fill(undefined));
  });

  it('is not contested when a device on a mobile link comes back from a new address each time', () => {
    const watch = new TakeoverWatch(POLICY);
    for (let i = 0; i < 20; i++) {
      const seen = watch.observe(connected('PND-7', `100.64.0.${i}`, i * 5_000), 0);
      expect(seen.contested).toBeUndefined();
    }
    // Then the copy comes back from an address it was thrown off from: two places taking turns.
    expect(watch.observe(connected('PND-7', '100.64.0.18', 100_000), 0).contested).toMatchObject({
      takeovers: 20,
    });
  });

  it('is not contested by reconnects after the broker saw the connection go, nor by takeovers a window apart', () => {
    const watch = new TakeoverWatch(POLICY);
    for (let i = 0; i < 10; i++) {
      expect(
        watch.observe(connected('PND-3', i % 2 ? '198.51.100.1' : '203.0.113.7', i * 1_000), 0).takeover,
      ).toBe(false);
      watch.observe({ kind: 'disconnected', clientId: 'PND-3', at: i * 1_000 + 500 }, 0);
    }
    const spaced = new TakeoverWatch(POLICY);
    for (let i = 0; i < 6; i++) {
      const seen = spaced.observe(connected('PND-4', i % 2 ? '198.51.100.1' : '203.0.113.7', i * 400_000), 0);
      expect(seen.contested).toBeUndefined();
    }
  });

  it('keeps logins apart and takes the time of a line without a stamp from the caller', () => {
    const watch = new TakeoverWatch(POLICY);
    for (const [id, address] of [
      ['PND-5', '198.51.100.1'],
      ['PND-6', '203.0.113.7'],
      ['PND-5', '198.51.100.1'],
      ['PND-6', '203.0.113.7'],
    ] as const)
      expect(watch.observe({ kind: 'connected', clientId: id, address }, 1_000).contested).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { protocolFor } from './protocols.ts';

describe('protocols', () => {
  it('a night exit has its own protocol: the home first, then a responder, then the police', () => {
    const exit = protocolFor('door.exit-at-night');
    expect(exit.title).toBe('Left the home at night');
    expect(exit.steps[0]).toContain('home unit');
    expect(exit.steps.findIndex((step) => step.includes('police'))).toBeGreaterThan(
      exit.steps.findIndex((step) => step.includes('first responder')),
    );
  });

  it('a wellbeing alert without a protocol of its own gets the generic one', () => {
    expect(protocolFor('chair.too-long')).toMatchObject({ title: 'chair.too-long' });
  });

  it('a noisy movement sensor is no alarm: the resident called, and an installer sent to see to it', () => {
    const noisy = protocolFor('sensor.noisy');
    expect(noisy.title).toBe('A movement sensor reports far beyond a person');
    expect(noisy.steps[0]).toMatch(/^Not an alarm/);
    expect(noisy.steps.some((step) => step.includes('installer'))).toBe(true);
    // A sensor noisy day after day is no longer closed by its calm: the protocol says so.
    expect(noisy.steps.some((step) => step.includes('noisy 3 times in 7 days: book the installer'))).toBe(
      true,
    );
  });

  it("a device's own fault tells the operator it is the device, not the line, and that a detector may stay silent", () => {
    const fault = protocolFor('device.fault');
    expect(fault.title).toBe('A device reports a fault of its own');
    const steps = fault.steps.join('\n');
    expect(steps).toContain('not of the line');
    expect(steps).toContain('smoke, heat or CO detector');
    expect(steps).toContain('technician');
    expect(protocolFor('line.fault').title).toBe('Technical alert: line.fault');
  });

  it("a device's login in use from two places tells the operator to check the resident and have the secret re-issued", () => {
    const contested = protocolFor('device.login-contested');
    expect(contested.title).toContain('two places');
    expect(contested.steps.some((step) => step.includes('new secret'))).toBe(true);
  });
});

describe('a silence while the whole home is silent', () => {
  const because = (thresholds: Record<string, string | number | boolean>) => [{ thresholds }];

  it('tells the operator the line or power may be down: phone, responders, and a device fault', () => {
    const silent = protocolFor(
      'inactivity.unusual',
      because({ silentForS: 10_800, homeSilentSince: '2026-03-02T10:10:00.000Z', silentHub: 'HUB-7' }),
    );
    expect(silent.title).toContain('whole home silent');
    const steps = silent.steps.join('\n');
    expect(steps).toContain("resident's phone");
    expect(steps).toContain('responders');
    expect(steps).toContain('device fault');
    // The home unit cannot be reached: the protocol does not start by speaking through it.
    expect(silent.steps[0]).not.toMatch(/^Speak .*home unit/);
  });

  it('any alert of the case that says so gives it, for a wake-up or an outing check too', () => {
    for (const type of ['inactivity.no-wake', 'outing.not-returned'] as const)
      expect(
        protocolFor(type, [
          { thresholds: {} },
          { thresholds: { homeSilentSince: '2026-03-02T10:10:00.000Z' } },
        ]).title,
      ).toContain('whole home silent');
  });

  it('without the fact, the protocol of the type as before', () => {
    expect(protocolFor('inactivity.unusual', because({ silentForS: 10_800 }))).toEqual(
      protocolFor('inactivity.unusual'),
    );
    expect(protocolFor('inactivity.unusual').title).not.toContain('whole home silent');
  });
});

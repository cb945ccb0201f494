import type { SupervisorOverview } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { securityEventLine } from './security-line.ts';

type Listed = z.output<typeof SupervisorOverview>['securityEvents'][number];

const listed = (more: Partial<Listed>): Listed => ({
  id: '1',
  at: '2026-12-06T03:00:00.000Z',
  service: 'triage',
  kind: 'cancel-not-taken',
  userId: null,
  caseId: null,
  detail: {},
  ...more,
});

/** The line as a supervisor reads it, without its time (the browser's locale). */
const text = (e: Listed): string => {
  const line = securityEventLine(e);
  return line.slice(line.indexOf(e.kind));
};

describe("the supervisor's line for a security event", () => {
  it('says which device sent cancels with nothing to cancel, for which resident and alert', () => {
    const line = text(
      listed({
        detail: {
          serial: 'PX-1',
          residentId: 'res_1',
          alertId: 'alt_1',
          eventId: 'evt_1',
          ruleId: 'correlation.pre-alarm-cancel',
          orphanCancels: 3,
        },
      }),
    );
    expect(line).toBe(
      'cancel-not-taken from triage, device PX-1: its cancel of alert alt_1 (resident res_1) was not taken, after 3 cancels with no alarm to cancel in the hour',
    );
  });

  it("says whose press in the alert a device's cancel may not close", () => {
    const line = text(
      listed({
        detail: {
          serial: 'PX-2',
          residentId: 'res_1',
          alertId: 'alt_2',
          orphanCancels: 0,
          otherDevice: 'PX-1',
        },
      }),
    );
    expect(line).toBe(
      "cancel-not-taken from triage, device PX-2: its cancel of alert alt_2 (resident res_1) was not taken, the alert holds PX-1's press",
    );
  });

  it("names a gateway's device and escapes what a publisher wrote", () => {
    expect(
      text(
        listed({ service: 'gateway-mqtt', kind: 'device-kind-unexpected', detail: { serial: '<b>X</b>' } }),
      ),
    ).toBe('device-kind-unexpected from gateway-mqtt, device &lt;b&gt;X&lt;/b&gt;');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A silence raised while nothing at all was heard from the home, its hub included (triage marks
// it `homeSilentSince`): the case's protocol is the one for a line or power cut, not the home unit.
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('homesilent');
  await h.start();
});
afterAll(() => h?.close());

describe('a silence while the whole home is silent', () => {
  it("the case's protocol says the line or power may be down: phone, responders, a device fault", async () => {
    await h.publish(
      h.alert({
        residentId: 'res_hs_quiet',
        type: 'inactivity.unusual',
        priority: 2,
        reason:
          'The whole home is silent, hub included, since 10:10 today (Mon 2 Mar): the line or power may be down. Inactivity unusual for this resident: no movement since 10:10',
        thresholds: { silentForS: 10_800, homeSilentSince: '2026-03-02T10:10:00.000Z', silentHub: 'HUB-7' },
      }),
    );
    const c = await h.caseOf('res_hs_quiet');
    const detail = await h.detail(c.id);
    expect(detail.because[0].thresholds.homeSilentSince).toBe('2026-03-02T10:10:00.000Z');
    expect(detail.protocol.title).toContain('whole home silent');
    const steps: string = detail.protocol.steps.join('\n');
    expect(steps).toContain("resident's phone");
    expect(steps).toContain('device fault');
  });

  it('an ordinary silence keeps the protocol of its type', async () => {
    await h.publish(
      h.alert({
        residentId: 'res_hs_beating',
        type: 'inactivity.unusual',
        priority: 2,
        thresholds: { silentForS: 10_800 },
      }),
    );
    const c = await h.caseOf('res_hs_beating');
    expect((await h.detail(c.id)).protocol.title).not.toContain('whole home silent');
  });
});

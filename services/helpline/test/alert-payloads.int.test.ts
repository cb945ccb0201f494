import { jetstream } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// What ALERTS may carry that triage should never send: an alert's size and depth are bounded
// before it becomes part of a case every console receives on every change.
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('payloads');
  await h.start();
});
afterAll(() => h?.close());

const caseBytes = async (id: string) =>
  (
    await fetch(`${h.helpline.url}/api/cases/${id}`, {
      headers: { authorization: `Bearer ${h.adminToken}` },
    }).then((r) => r.text())
  ).length;

describe('an oversized alert', () => {
  it('still rings, with its explanation cut to a size a console can take on every change', async () => {
    const evidence = Array.from({ length: 10_000 }, (_, i) => `evt_huge_${i}_${'e'.repeat(12)}`);
    const alert = h.alert({
      residentId: 'res_pl_huge',
      reason: `Pendant pressed ${'x'.repeat(400_000)}`,
      evidence,
      thresholds: Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`t${i}`, 'y'.repeat(50)])),
    });
    await h.publish(alert);
    const c = await h.caseOf('res_pl_huge');
    expect(c).toMatchObject({ priority: 1, state: expect.stringMatching(/queued|offered/) });
    const detail = await h.detail(c.id);
    const because = detail.because[0];
    expect(because.reason.startsWith('Pendant pressed')).toBe(true);
    expect(because.evidence[0]).toBe(evidence[0]);
    expect(await caseBytes(c.id)).toBeLessThan(64 * 1024);
    // The same alert again (a redelivery) is still the one alert.
    await h.publish(alert);
    await h.drained();
    expect((await h.detail(c.id)).alertIds).toEqual([alert.id]);
  });

  it('dead-letters a deeply nested alert without harm and carries on', async () => {
    let deep = '1';
    for (let i = 0; i < 50_000; i++) deep = `[${deep}]`;
    const a = h.alert({ residentId: 'res_pl_deep' });
    await jetstream(h.nc).publish(
      h.names.subjects.alert(1, 'res_pl_deep'),
      JSON.stringify(a).replace('"thresholds":{}', `"thresholds":{"x":${deep}}`),
    );
    await h.publish(h.alert({ residentId: 'res_pl_after' }));
    await h.caseOf('res_pl_after');
    await waitFor(
      async () =>
        /helpline_alerts_refused_total\{reason="schema"[^}]*\} 1/.test(
          await (await fetch(`${h.helpline.url}/metrics`)).text(),
        ),
      { what: 'the nested alert refused as not an Alert' },
    );
  });
});

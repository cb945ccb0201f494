import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Because } from '@telecare/contracts';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// Which device an alert came from, by kind and serial, on the case's `because` and in its audit
// trail, for the raise and for the restore; and for an alert about no one device, that instead.
// The real helpline on the shared NATS and PostgreSQL, and the console in Chromium.
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const RUN = Date.now().toString(36).toUpperCase();
const SMOKE = `SD-SRC-${RUN}`;
const PIR = `PIR-SRC-${RUN}`;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('alertsource');
  await h.start();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

interface Step {
  kind: string;
  data: Record<string, unknown>;
}
type Detail = { because: Because[]; events: Step[] };

/** A smoke alarm from SMOKE and its restore from the same detector, for `residentId`. */
async function smokeAndRestore(residentId: string): Promise<Detail> {
  const device = { deviceSerial: SMOKE, deviceKind: 'smoke-detector' } as const;
  const smoke = h.alert({ residentId, type: 'smoke.detected', reason: 'Smoke detected', ...device });
  await h.publish(smoke);
  const c = await h.caseOf(residentId);
  await h.publish(
    h.alert({
      residentId,
      type: 'smoke.restored',
      priority: 5,
      reason: 'Smoke cleared',
      closes: { alertId: smoke.id, outcome: 'restored' },
      ...device,
    }),
  );
  await h.drained();
  return (await h.detail(c.id)) as Detail;
}

describe('the device an alert came from', () => {
  it("is on the case's because, and on the audit trail's raise and restore, by serial and kind", async () => {
    const detail = await smokeAndRestore(`res_src_api${RUN.toLowerCase()}`);
    expect(detail.because[0]).toMatchObject({ deviceSerial: SMOKE, deviceKind: 'smoke-detector' });
    expect(detail.because[0]).not.toHaveProperty('about');
    const opened = detail.events.find((e) => e.kind === 'opened');
    expect(opened?.data).toMatchObject({ deviceSerial: SMOKE, deviceKind: 'smoke-detector' });
    const restore = detail.events.find((e) => e.kind === 'alert-joined');
    expect(restore?.data).toMatchObject({
      type: 'smoke.restored',
      by: 'device',
      deviceSerial: SMOKE,
      deviceKind: 'smoke-detector',
    });
  });

  it('is no one device for a silence of the whole home or an area incident, whatever device the alert names', async () => {
    const residentId = `res_src_home${RUN.toLowerCase()}`;
    await h.publish(
      h.alert({
        residentId,
        type: 'inactivity.unusual',
        priority: 2,
        reason: 'Inactivity unusual for this resident: no movement since 10:10 (movement sensor in hall)',
        deviceSerial: PIR,
        deviceKind: 'pir',
      }),
    );
    const home = (await h.detail((await h.caseOf(residentId)).id)) as Detail;
    expect(home.because[0]?.about).toBe('home');
    expect(home.because[0]).not.toHaveProperty('deviceSerial');
    expect(home.events[0]?.data).toMatchObject({ about: 'home' });

    const district = `area:GL${RUN.length}${RUN.slice(-3)}`;
    await h.publish(
      h.alert({
        residentId: district,
        type: 'area.mains-lost',
        priority: 3,
        thresholds: { minResidents: 10, withinS: 300, district: district.slice(5) },
      }),
    );
    const area = (await h.detail((await h.caseOf(district)).id)) as Detail;
    expect(area.because[0]?.about).toBe('area');
  });

  it('is named in words in the console: beside the reason, and on the raise and the restore', async () => {
    const residentId = `res_src_con${RUN.toLowerCase()}`;
    await smokeAndRestore(residentId);
    await h.user('sofia', 'operator');
    const page = await signInConsole(browser, h.helpline.url, 'sofia');
    await page.locator(`.case[data-priority="1"]`).first().click();
    await page.locator('#timeline').waitFor();
    // The smoke case of this resident (the first test's is in the queue too, from the same detector).
    expect(await page.locator('ul.because .source').first().textContent()).toBe(`smoke detector ${SMOKE}`);
    const trail = (await page.locator('#timeline').textContent()) ?? '';
    expect(trail).toContain(`opened from smoke.detected (P1) — smoke detector ${SMOKE}`);
    expect(trail).toContain(`the smoke detector ${SMOKE} reported smoke restored (smoke detected cleared)`);
    expect(trail).not.toContain('smoke-detector');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}console-alert-source.png`, fullPage: true });

    // A silence of the whole home says so, not the movement sensor that saw the resident last.
    await page.locator('.case[data-priority="2"]').first().click();
    await page.locator('ul.because .source', { hasText: 'the whole home, not one device' }).waitFor();
  });
});

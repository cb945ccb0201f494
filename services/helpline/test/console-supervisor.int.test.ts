import { eventIdOfKey, partitionOf, type TelecareEvent } from '@telecare/contracts';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

// The supervisor's view in the console: waiting now and the longest wait, an alarm call past its
// 60 s target said in words, a refused reveal and a DC-09 code nobody mapped. Chromium against the
// real helpline, PostgreSQL and NATS.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('consuper', { TIMER_TICK_MS: '1000' });
  await h.start();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('console: the supervisor view', () => {
  it('shows the queue, a late alarm call in words, a security event and an unmapped code', async () => {
    const op = await h.user('olga', 'operator');
    await h.user('sue', 'supervisor');
    // An alarm raised 90 s ago, still waiting; another case the operator may not reveal on.
    const raisedAt = new Date(Date.now() - 90_000).toISOString();
    await h.publish(h.alert({ residentId: 'res_csv_late', priority: 1, raisedAt }));
    await h.publish(h.alert({ residentId: 'res_csv_other', priority: 2 }));
    const other = await h.caseOf('res_csv_other');
    const refused = await h.api(`/api/cases/${other.id}/reveal`, {
      method: 'POST',
      body: { field: 'keySafe' },
      as: op.cookie,
    });
    expect(refused.status).toBe(403);
    const at = new Date().toISOString();
    const residentId = 'res_csv_panel';
    const unmapped: TelecareEvent = {
      specversion: '1.0',
      id: eventIdOfKey('DC09-CSV', `${h.ns}-unmapped`),
      source: '/gateway-dc09',
      type: 'code.unmapped',
      subject: 'DC09-CSV',
      time: at,
      datacontenttype: 'application/json',
      residentid: residentId,
      devicekind: 'home-unit',
      deviceeventid: `${h.ns}-unmapped`,
      partition: partitionOf(residentId, 8),
      receivedat: at,
      testmode: false,
      sourcecode: 'CID 1998',
      data: { note: 'unmapped code from account CSV: unknown code CID 1998' },
    };
    await h.ensureEvents();
    await h.publishEvent(unmapped);

    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', 'sue');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');
    const panel = page.locator('#overview');
    await panel.waitFor({ state: 'visible', timeout: 15_000 });
    await expect
      .poll(async () => (await page.locator('#overview-waiting').textContent()) ?? '', { timeout: 15_000 })
      .toMatch(/2 waiting now, longest 1 min/);
    await expect
      .poll(
        async () =>
          (await page
            .locator('#overview-breaches')
            .textContent()
            .catch(() => '')) ?? '',
        {
          timeout: 15_000,
        },
      )
      .toContain('not answered in 60 s');
    expect(await page.locator('#overview-security').textContent()).toContain('reveal-refused');
    await expect
      .poll(
        async () =>
          (await page
            .locator('#overview-unmapped')
            .textContent()
            .catch(() => '')) ?? '',
        {
          timeout: 15_000,
        },
      )
      .toContain('unmapped code CID 1998: 1 from DC09-CSV');

    // An operator has no such view.
    const opPage = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await opPage.goto(h.helpline.url);
    await opPage.fill('#username', 'olga');
    await opPage.fill('#password', 'correct horse battery');
    await opPage.click('button[type=submit]');
    await opPage.waitForSelector('#status:text("live")');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await opPage.locator('#overview').isVisible()).toBe(false);
  }, 120_000);
});

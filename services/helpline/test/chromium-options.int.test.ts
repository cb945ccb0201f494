import { chromiumLaunchOptions, PLAYWRIGHT_DISABLED_FEATURES } from '@telecare/testkit';
import { type Browser, chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * The browser tests' Chromium (`chromiumLaunchOptions`). Chromium keeps only the last
 * `--disable-features`, so ours carries playwright-core's list too: this fails when a new
 * playwright-core turns off a feature our copy lacks.
 */
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
});

/** The features the browser process was told to turn off (`--enable-automation` lets CDP say). */
async function disabledFeatures(b: Browser): Promise<string[]> {
  const cdp = await b.newBrowserCDPSession();
  const { arguments: args } = (await cdp.send('Browser.getBrowserCommandLine')) as { arguments: string[] };
  const last = args.filter((arg) => arg.startsWith('--disable-features=')).at(-1);
  return (last?.slice('--disable-features='.length).split(',') ?? []).sort();
}

describe('the browser tests’ Chromium', () => {
  it('keeps every feature playwright-core turns off', async () => {
    const { executablePath } = chromiumLaunchOptions();
    browser = await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--enable-automation'],
    });
    expect([...PLAYWRIGHT_DISABLED_FEATURES].sort()).toEqual(await disabledFeatures(browser));
  });

  it('turns them off with ours, and a context opens no address-bar popup of its own', async () => {
    browser = await chromium.launch(chromiumLaunchOptions(['--enable-automation']));
    const disabled = await disabledFeatures(browser);
    expect(disabled).toEqual(expect.arrayContaining([...PLAYWRIGHT_DISABLED_FEATURES, 'WebUIOmniboxPopup']));
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.setContent('<p>console</p>');
    const cdp = await browser.newBrowserCDPSession();
    const { targetInfos } = (await cdp.send('Target.getTargets')) as {
      targetInfos: { type: string; url: string }[];
    };
    expect(targetInfos.filter((target) => target.url.includes('omnibox'))).toEqual([]);
    expect(targetInfos.some((target) => target.type === 'page')).toBe(true);
  });
});

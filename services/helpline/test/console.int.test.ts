import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@telecare/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const SERIAL = `PEN-CON-${Date.now().toString(36).toUpperCase()}`;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let residentId: string;
let responders: { id: string; name: string }[];

// The real registry, in this test's namespace: the resident, devices, their health, responders
// and the audited reveal all come from it, as deployed.
beforeAll(async () => {
  h = await helplineHarness('console', {
    TIMER_TICK_MS: '200',
    OFFER_TIMEOUT_S: '60',
    PRESENCE_ON_LOGIN: 'available',
  });
  const registry = await h.startRegistry();
  const resident = await h.registryApi('/api/residents', {
    name: 'Edith Example',
    address: '1 Test Lane, Gloucester',
    postcode: 'GL1 1AA',
    phone: '01452 000000',
    livesAlone: true,
    keySafe: '4721',
    medicalSummary: 'Type 2 diabetes; on warfarin',
  });
  residentId = resident.id;
  await h.registryApi(`/api/residents/${residentId}/responders`, {
    name: 'Anne Daughter',
    relationship: 'daughter',
    phone: '07700 900001',
  });
  responders = (
    await h.registryApi(`/api/residents/${residentId}/responders`, {
      name: 'Bob Neighbour',
      relationship: 'keyholder',
      phone: '07700 900002',
    })
  ).responders;
  await h.registryApi('/api/devices', {
    serial: SERIAL,
    residentId,
    kind: 'pendant',
    location: 'worn',
    supervisionIntervalS: 3600,
  });
  // A heartbeat the registry turns into device health, and which the timeline shows.
  await h.deviceEvent(residentId, SERIAL, 'heartbeat', { batteryPercent: 87, mains: true });
  await waitFor(
    async () =>
      (await h.registryApi(`/api/devices/${SERIAL}/health`)).batteryPercent === 87 ? true : undefined,
    { what: 'the registry to record the heartbeat' },
  );
  await h.start(undefined, { REGISTRY_URL: registry.url });
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const signIn = (username: string): Promise<Page> =>
  signInConsole(browser, h.helpline.url, username, { width: 1360, height: 1000 });

describe('operator console in Chromium', () => {
  it('an operator sees a P1 arrive live, accepts it, works the responders, resolves it; a second screen follows', async () => {
    const op1 = await h.user('anna', 'operator');
    await h.user('ben', 'operator');
    const anna = await signIn('anna');
    const ben = await signIn('ben');
    // Signing in made both available (anna first, so she is offered first).
    expect(await anna.locator('#presence').inputValue()).toBe('available');
    await expect
      .poll(async () => (await h.api('/api/me', { as: op1.cookie })).json.presence)
      .toBe('available');

    // The P1 arrives on both screens without a reload, red, and is offered to the available operator.
    await h.publish(
      h.alert({
        residentId,
        priority: 1,
        type: 'fall.detected',
        reason: 'fall detected by the wrist sensor',
      }),
    );
    const annaCase = anna.locator('.case.p1');
    await annaCase.waitFor();
    await ben.locator('.case.p1').waitFor();
    // The queue names the resident from the registry, before anyone opens the case.
    await ben.locator('.case.p1 .meta', { hasText: 'Edith Example' }).waitFor({ timeout: 5_000 });
    // The queue is re-rendered on every change, so the colour is read from whichever card is there now.
    await expect
      .poll(() =>
        annaCase.evaluate(
          (el) =>
            (
              globalThis as unknown as { getComputedStyle(e: unknown): { borderLeftColor: string } }
            ).getComputedStyle(el).borderLeftColor,
        ),
      )
      .toBe('rgb(204, 0, 0)');
    await anna.locator('.case.p1[data-state="offered"]').waitFor();
    expect(Number((await anna.locator('body').getAttribute('data-cue')) ?? '0')).toBeGreaterThan(0);

    // Select it and accept with the keyboard shortcut.
    await annaCase.click();
    await anna.locator('#detail .title').waitFor();
    // The artefact: a live P1 waiting, with its case view open (resident, devices, events loaded).
    await anna.locator('#device-events tr[data-type="heartbeat"]').waitFor();
    await anna.locator('#resident b:text("Edith Example")').waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await anna.screenshot({ path: `${ARTIFACTS}console-p1.png`, fullPage: true });
    await anna.keyboard.press('a');
    await anna.locator('#detail .state.accepted').waitFor();
    await ben.locator('.case.p1[data-state="accepted"]').waitFor();

    // The resident and responder list come from the registry; the protocol for a fall is shown.
    await anna.locator('#resident b:text("Edith Example")').waitFor();
    expect(await anna.locator('ol.protocol').textContent()).toContain('fallen');
    expect(await anna.locator('#resident').textContent()).not.toContain('4721');

    // A double click on "no answer" records one call.
    const [anne, bob] = responders;
    await anna.locator(`tr[data-responder="${anne?.id}"] button[data-result="no-answer"]`).dblclick();
    await anna.locator(`tr[data-responder="${anne?.id}"] td.result:text("no-answer")`).waitFor();
    await anna.locator(`tr[data-responder="${bob?.id}"] button[data-result="accepted"]`).click();
    await anna.locator(`tr[data-responder="${bob?.id}"] td.result:text("accepted")`).waitFor();

    // Device health from the registry, and the last 24 hours of device events from EVENTS.
    await anna.locator(`#devices tr[data-serial="${SERIAL}"] .battery:text("87%")`).waitFor();
    await anna.locator('#device-events tr[data-type="heartbeat"]').waitFor();

    // Revealing the key-safe code is an explicit, audited action.
    await anna.click('#reveal-keySafe');
    await anna.locator('.secret:text("4721")').waitFor();
    await anna.locator('#timeline tr[data-kind="revealed"]').waitFor();
    // The registry recorded the read too, naming the case and the operator as data.
    const audit = await h.registryApi(`/api/residents/${residentId}/audit`);
    expect(audit.reads).toEqual([
      expect.objectContaining({
        field: 'keySafe',
        caseId: expect.stringMatching(/^case_/),
        actor: { id: op1.id, role: 'operator' },
        via: { actor: 'helpline', role: 'helpline-service' },
      }),
    ]);

    await anna.screenshot({ path: `${ARTIFACTS}console.png`, fullPage: true });

    // Resolve with the keyboard: r focuses the outcome.
    await anna.keyboard.press('r');
    await anna.selectOption('#outcome', 'responder-visit');
    await anna.fill('#resolve-reason', 'Bob attended, helped Edith up, no injury');
    await anna.click('#resolve-form button[type=submit]');
    await anna.locator('#detail .state.resolved').waitFor();
    // Gone from both live queues.
    await anna.locator('.case.p1').waitFor({ state: 'detached' });
    await ben.locator('.case.p1').waitFor({ state: 'detached' });

    // The audit trail has every step, each with who did it, and no duplicates.
    const c = await h.caseOf(residentId);
    const events = (await h.detail(c.id)).events as {
      kind: string;
      actor: string;
      data: Record<string, unknown>;
    }[];
    expect(events.map((e) => e.kind)).toEqual([
      'opened',
      'offered',
      'accepted',
      'responder-called',
      'responder-called',
      'revealed',
      'resolved',
    ]);
    expect(events.slice(2).every((e) => e.actor === op1.id)).toBe(true);
    expect(events.find((e) => e.kind === 'revealed')?.data).toMatchObject({
      field: 'keySafe',
      found: true,
      registryAudited: true,
    });
    expect(await anna.locator('#timeline tr').count()).toBe(events.length);
    await anna.context().close();
    await ben.context().close();
    // Two browsers, the registry and a full case on a shared two-core machine: beyond the default.
  }, 90_000);
});

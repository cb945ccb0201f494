import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { waitFor } from '@telecare/testkit';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A registry that takes the connection and never answers (a process hung on a lock, a dead
// upstream behind a proxy that still accepts): the worst kind, because nothing fails fast. A case
// is raised and offered without it, the case view falls back to what the case carries, and one
// lookup waits at most HELPLINE_REGISTRY_TIMEOUT_MS, however many residents it asks about.

/** A TCP server that accepts every connection and reads every request, and never writes a byte. */
async function silentRegistry() {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      for (const line of chunk.toString('latin1').matchAll(/^(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/gm))
        requests.push(`${line[1]} ${line[2]}`);
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const TIMEOUT_MS = 500;
let registry: Awaited<ReturnType<typeof silentRegistry>>;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let slow: Awaited<ReturnType<typeof helplineHarness>> | undefined;
let browser: Browser | undefined;
const tag = Date.now().toString(36);

beforeAll(async () => {
  registry = await silentRegistry();
  h = await helplineHarness('regsilent', {
    REGISTRY_URL: registry.url,
    HELPLINE_REGISTRY_TOKEN: randomBytes(16).toString('hex'),
    HELPLINE_REGISTRY_TIMEOUT_MS: String(TIMEOUT_MS),
    TIMER_TICK_MS: '200',
  });
  await h.start();
});

afterAll(async () => {
  await browser?.close();
  await slow?.close();
  await h?.close();
  await registry?.close();
});

describe('a registry that accepts and never answers', () => {
  it('holds up no case: an alarm is raised and offered, and the case view answers with what the case carries', async () => {
    const op = await h.user('nora', 'operator');
    const desk = await h.openConsole(op.cookie);
    expect(
      (await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie })).status,
    ).toBe(200);
    const residentId = `res_silent${tag}`;
    const serial = `PEN-SILENT-${tag.toUpperCase()}`;
    await h.publish(h.alert({ residentId, deviceSerial: serial, reason: 'Pendant pressed' }));
    const c = await h.caseOf(residentId);
    await waitFor(async () => (await h.detail(c.id)).offeredTo === op.id, { what: 'the offer' });

    const context = await h.api(`/api/cases/${c.id}/context`, { as: op.cookie });
    expect(context.status).toBe(200);
    expect(context.json.available).toBe(false);
    expect(context.json.message).toMatch(/registry did not answer/);
    // What the case carries: its device, by serial, so the operator knows which one raised it.
    expect(context.json.devices).toEqual([expect.objectContaining({ serial, health: null })]);
    const targets = await h.api(`/api/cases/${c.id}/call-targets`, { as: op.cookie });
    expect(targets.status).toBe(200);
    expect(JSON.stringify(targets.json)).toMatch(/999|emergency/);

    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    desk.close();
  });

  it('names each device the case carries by the kind its alerts gave, even one gone from the alert window', async () => {
    const residentId = `res_silentkinds${tag}`;
    const pendant = `PEN-KIND-${tag.toUpperCase()}`;
    const pir = `PIR-KIND-${tag.toUpperCase()}`;
    const hub = `HUB-KIND-${tag.toUpperCase()}`;
    await h.publish(h.alert({ residentId, deviceSerial: pendant, deviceKind: 'pendant' }));
    const c = await h.caseOf(residentId);
    const joined = async (n: number) =>
      waitFor(async () => (await h.detail(c.id)).alertCount === n, { what: `${n} alerts on the case` });
    await h.publish(
      h.alert({ residentId, priority: 4, type: 'sensor.noisy', deviceSerial: pir, deviceKind: 'pir' }),
    );
    await joined(2);
    // More alerts than the window keeps after the movement sensor's, all more urgent: its one
    // alert is no longer among those the case carries with it.
    for (let i = 0; i < 19; i++)
      await h.publish(
        h.alert({ residentId, priority: 3, type: 'mains.lost', deviceSerial: hub, deviceKind: 'home-unit' }),
      );
    await joined(21);
    expect(JSON.stringify((await h.detail(c.id)).because)).not.toContain(pir);

    const context = await h.api(`/api/cases/${c.id}/context`);
    expect(context.status).toBe(200);
    expect(context.json.available).toBe(false);
    expect(context.json.devices).toEqual([
      expect.objectContaining({ serial: pendant, kind: 'pendant', health: null }),
      expect.objectContaining({ serial: pir, kind: 'pir', health: null }),
      expect.objectContaining({ serial: hub, kind: 'home-unit', health: null }),
    ]);

    // The console reads each kind in words.
    await h.user('kim', 'operator');
    browser ??= await launchChromium();
    const page = await signInConsole(browser, h.helpline.url, 'kim');
    await page.click(`#queue .case[data-id="${c.id}"]`);
    const kindOf = (serial: string) => page.locator(`#devices tr[data-serial="${serial}"] td`).first();
    await kindOf(pir).filter({ hasText: 'movement sensor' }).waitFor({ timeout: 10_000 });
    expect(await kindOf(hub).textContent()).toBe('home unit');
    expect(await kindOf(pendant).textContent()).toBe('pendant');
    await page.context().close();
  });

  it('asks about the queue once within the timeout, not once per resident after another', async () => {
    // 40 residents with an open case: names are asked eight at a time, and each round of a silent
    // registry waited for the timeout before the next began.
    for (let i = 0; i < 40; i++)
      await h.publish(h.alert({ residentId: `res_q${i}x${tag}`, priority: 3, type: 'mains.lost' }));
    await waitFor(
      async () =>
        ((await h.api('/api/cases')).json as { residentId: string }[]).filter((x) =>
          x.residentId.endsWith(`x${tag}`),
        ).length === 40,
      { what: 'the 40 cases' },
    );
    const asked = registry.requests.length;
    const names = await h.api('/api/queue/names');
    expect(names.status).toBe(200);
    expect(names.json.complete).toBe(false);
    // The lookup ran out of time after its first round: the rest were not asked for at all.
    expect(registry.requests.length - asked).toBeLessThanOrEqual(8);
    // Not answered is not unknown: they are asked for again at an ask a second later, not 15 s
    // later (a loaded registry that missed one lookup answers the next, and the card shows a name).
    const again = registry.requests.length;
    await waitFor(
      async () => {
        await h.api('/api/queue/names');
        return registry.requests.length > again;
      },
      { what: 'the residents not answered for asked again', timeoutMs: 8_000, intervalMs: 200 },
    );
  });

  it('the console shows an offered case, with its Accept, before the registry has said anything', async () => {
    // A registry timeout far longer than any wait here: whatever the console draws, it drew
    // without the registry.
    slow = await helplineHarness('regsilentui', {
      REGISTRY_URL: registry.url,
      HELPLINE_REGISTRY_TOKEN: randomBytes(16).toString('hex'),
      HELPLINE_REGISTRY_TIMEOUT_MS: '60000',
      TIMER_TICK_MS: '200',
      PRESENCE_ON_LOGIN: 'available',
    });
    await slow.start();
    await slow.user('iris', 'operator');
    browser ??= await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(slow.helpline.url);
    await page.fill('#username', 'iris');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    const residentId = `res_silentui${tag}`;
    await slow.publish(slow.alert({ residentId, reason: 'Pendant pressed' }));
    // The offer opens the case by itself: title, why, the Accept button, and a resident panel that
    // says the registry is being asked.
    await page.locator('#accept').waitFor({ timeout: 10_000 });
    await page.locator('#resident', { hasText: 'Asking the registry' }).waitFor();
    expect(await page.locator('ul.because').textContent()).toContain('Pendant pressed');
    await page.click('#accept');
    const c = await slow.caseOf(residentId);
    await waitFor(async () => (await slow?.detail(c.id))?.state === 'accepted', { what: 'the accept' });
  }, 60_000);
});

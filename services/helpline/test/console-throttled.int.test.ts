import { FaultProxy, waitFor } from '@telecare/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A console in a tab hidden behind the phone system's window for more than five minutes, silent
// for 30 s: Chromium's intensive wake-up throttling then runs the page's timers at most once a
// minute, all that are due together at a wake-up aligned to the minute. Headless Chromium never
// throttles, so the page's setTimeout and setInterval are replaced, before its own script runs, by
// ones that run their callbacks only at such wake-ups, every 60 s (stricter than Chromium, which
// spares a timer that is not part of a chain). `__throttle.wakeNow()` makes a wake-up happen at once:
// the page's timers run next a full minute later. Timers in a worker are not throttled, and this
// script does not reach them.
const WAKE_EVERY_MS = 60_000;
const THROTTLED = {
  content: `(() => {
    const every = ${WAKE_EVERY_MS};
    const nativeSetTimeout = window.setTimeout.bind(window);
    const nativeClearTimeout = window.clearTimeout.bind(window);
    const timers = new Map();
    let lastId = 0;
    let nextWake = performance.now() + every;
    let waking = nativeSetTimeout(wake, every);
    const state = { wakes: 0, streams: [], wakeNow() { nextWake = performance.now(); nativeClearTimeout(waking); wake(); } };
    window.__throttle = state;
    function wake() {
      const now = performance.now();
      const due = [...timers].filter(([, t]) => t.due <= now).sort((a, b) => a[1].due - b[1].due);
      for (const [id, t] of due) {
        if (timers.get(id) !== t) continue;
        if (t.repeat) t.due = now + t.delay;
        else timers.delete(id);
        try { t.fn(...t.args); } catch (err) { reportError(err); }
      }
      state.wakes += 1;
      let next = nextWake + every;
      while (next <= performance.now()) next += every;
      nextWake = next;
      waking = nativeSetTimeout(wake, next - performance.now());
    }
    const add = (repeat) => (fn, delay, ...args) => {
      if (typeof fn !== 'function') throw new TypeError('only function timers are emulated');
      const ms = Math.max(0, Number(delay) || 0);
      const id = ++lastId;
      timers.set(id, { fn, args, repeat, delay: repeat ? Math.max(ms, 1) : ms, due: performance.now() + ms });
      return id;
    };
    window.setTimeout = add(false);
    window.setInterval = add(true);
    window.clearTimeout = window.clearInterval = (id) => { timers.delete(Number(id)); };
    // Each live stream the page opens, and when (the wall clock).
    const NativeEventSource = window.EventSource;
    window.EventSource = class extends NativeEventSource {
      constructor(url, init) {
        super(url, init);
        state.streams.push(Date.now());
      }
    };
  })();`,
};

// Pings every second: a stream silent for 3 s (two pings missed, and a second) is dead.
const PRESENCE_TIMEOUT_S = 3;
const TEST_TIMEOUT_MS = 90_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let proxy: FaultProxy;
let page: Page;

const cue = async (): Promise<number> => Number(await page.evaluate('document.body.dataset.cue ?? 0'));
const streamsOpened = async (): Promise<number> =>
  Number(await page.evaluate('window.__throttle.streams.length'));
/** A wake-up of the page's timers now: the next comes a minute later. */
const wakeNow = () => page.evaluate('window.__throttle.wakeNow()');

beforeAll(async () => {
  h = await helplineHarness('con-throttled', {
    TIMER_TICK_MS: '300',
    PRESENCE_TIMEOUT_S: String(PRESENCE_TIMEOUT_S),
    OFFER_TIMEOUT_S: '600',
    // No rung of the ladder sounds during the test: every tone after the first is a reminder.
    ESCALATE_ALL_OPERATORS_S: '3000',
    ESCALATE_SUPERVISOR_S: '3600',
    ESCALATE_OVERFLOW_S: '4200',
  });
  await h.start();
  await h.user('tess', 'operator');
  // The console reaches the helpline through a proxy that can silence its connections.
  proxy = await FaultProxy.start({ port: Number(new URL(h.helpline.url).port) });
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
  page = await signInConsole(browser, proxy.url('http', '/'), 'tess', undefined, (context) =>
    context.addInitScript(THROTTLED),
  );
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await h?.close();
});

describe('a console whose page timers run once a minute (Chromium, intensive throttling emulated)', () => {
  it('the ticker is a script of the helpline’s own origin: the page’s policy allows it as it is', async () => {
    const script = await fetch(`${h.helpline.url}/console-ticker.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await script.text()).toContain('postMessage');
    const csp = (await fetch(h.helpline.url)).headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/blob:|worker-src|child-src/);
  });

  it(
    'a P1 left waiting sounds its reminder every 10 s, not once a minute',
    async () => {
      const before = await cue();
      await h.publish(h.alert({ residentId: 'res_thr_1', priority: 1, type: 'pendant.pressed' }));
      const arrived = await waitFor(async () => ((await cue()) > before ? cue() : undefined), {
        what: 'the tone of the P1 coming in',
      });
      const arrivedAt = Date.now();
      await wakeNow();
      // Nobody answers it: the reminder sounds 10 s after the last tone, and again 10 s later.
      const reminded = await waitFor(async () => ((await cue()) > arrived ? cue() : undefined), {
        what: 'a reminder tone within 12 s of the last',
        timeoutMs: 12_000,
      });
      expect(Date.now() - arrivedAt).toBeGreaterThanOrEqual(9_000);
      await waitFor(async () => ((await cue()) > reminded ? true : undefined), {
        what: 'the next reminder tone within 12 s of the last',
        timeoutMs: 12_000,
      });
      expect(Date.now() - arrivedAt).toBeLessThan(24_000);
      const c = await h.caseOf('res_thr_1');
      expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a stream gone silent is given up and opened again within seconds, not a minute',
    async () => {
      await page.locator('#status:text("live")').waitFor();
      const opened = await streamsOpened();
      await wakeNow();
      // The network drops every connection open now without a word; new ones pass.
      expect(proxy.freezeOpen()).toBeGreaterThan(0);
      const frozenAt = Date.now();
      // Two pings missed and a second (3 s), then at the next tick: a new stream.
      await waitFor(async () => ((await streamsOpened()) > opened ? true : undefined), {
        what: 'a new live stream within 15 s of the silence',
        timeoutMs: 15_000,
      });
      expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(2_000);
      await page.locator('#status:text("live")').waitFor({ timeout: 10_000 });
      // The new stream carries the queue: a press now shows.
      await h.publish(h.alert({ residentId: 'res_thr_2', priority: 1, type: 'pendant.pressed' }));
      const press = await h.caseOf('res_thr_2');
      await page.locator(`#queue .case[data-id="${press.id}"]`).waitFor({ timeout: 10_000 });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a stream the helpline refused is asked for again within seconds, not a minute',
    async () => {
      await page.locator('#status:text("live")').waitFor();
      const opened = await streamsOpened();
      await wakeNow();
      // The browser's own reconnect meets a helpline that refuses the stream once (a restart in
      // hand): the browser gives the stream up, and the console asks for a new one itself.
      let refused = 0;
      await page.route(
        '**/api/stream',
        (route) => {
          refused += 1;
          return route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: '{"error":"starting"}',
          });
        },
        { times: 1 },
      );
      proxy.set({ kind: 'drop' });
      proxy.set({ kind: 'pass' });
      const cutAt = Date.now();
      await waitFor(async () => (refused > 0 ? true : undefined), {
        what: 'the browser asking for the stream again',
        timeoutMs: 15_000,
      });
      await waitFor(async () => ((await streamsOpened()) > opened ? true : undefined), {
        what: 'a new live stream within 15 s of the refusal',
        timeoutMs: 15_000,
      });
      expect(Date.now() - cutAt).toBeLessThan(20_000);
      await page.locator('#status:text("live")').waitFor({ timeout: 10_000 });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a supervisor’s list of who is there is read again every few seconds, not once a minute',
    async () => {
      await h.user('sid', 'supervisor');
      const wes = await h.user('wes', 'operator');
      const supervisor = await signInConsole(browser, h.helpline.url, 'sid', undefined, (context) =>
        context.addInitScript(THROTTLED),
      );
      const presence = supervisor.locator(`#people-list tr[data-user-id="${wes.id}"] .presence`);
      await presence.waitFor();
      const shown = await presence.textContent();
      await supervisor.evaluate('window.__throttle.wakeNow()');
      // Wes sets himself away: nothing on the stream says so; the supervisor's list is read again.
      expect(
        (await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: wes.cookie })).status,
      ).toBe(200);
      await supervisor
        .locator(`#people-list tr[data-user-id="${wes.id}"] .presence:text("away")`)
        .waitFor({ timeout: 15_000 });
      expect(shown).not.toContain('away');
      await supervisor.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'where the ticker’s worker cannot start, the page’s own timer ticks: clocks run and the reminder sounds',
    async () => {
      await h.user('uma', 'operator');
      let asked = 0;
      const other = await signInConsole(browser, h.helpline.url, 'uma', undefined, (context) =>
        context.route('**/console-ticker.js', (route) => {
          asked += 1;
          return route.abort();
        }),
      );
      expect(asked).toBeGreaterThan(0);
      const cueOf = async () => Number(await other.evaluate('document.body.dataset.cue ?? 0'));
      await h.publish(h.alert({ residentId: 'res_thr_3', priority: 1, type: 'pendant.pressed' }));
      const press = await h.caseOf('res_thr_3');
      const clock = other.locator(`#queue .case[data-id="${press.id}"] .wait`);
      const shown = await clock.textContent();
      await waitFor(async () => ((await clock.textContent()) !== shown ? true : undefined), {
        what: 'the wait clock ticking',
        timeoutMs: 3_000,
      });
      const sounded = await waitFor(async () => ((await cueOf()) > 0 ? cueOf() : undefined), {
        what: 'the tone of the P1 coming in',
      });
      // Nobody answers it: it sounds again.
      await waitFor(async () => ((await cueOf()) > sounded ? true : undefined), {
        what: 'a reminder tone within 12 s',
        timeoutMs: 12_000,
      });
      await other.context().close();
    },
    TEST_TIMEOUT_MS,
  );
});

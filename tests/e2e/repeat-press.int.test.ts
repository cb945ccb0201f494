import type { Case } from '@telecare/contracts';
import type { SimulatedDevice } from '@telecare/simulators';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPendantHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * Every press reaches a person. Presses of one pendant within five minutes merge into one alert in
 * triage, which cannot know that an operator has resolved its case: each merged press still
 * reaches the helpline as a repeat, counted on the open case or opening a new one.
 */
let platform: RunningPlatform;
const devices: SimulatedDevice[] = [];
const stamp = Date.now().toString(36).toUpperCase();

type Detail = Case & {
  presses: number;
  lastPressAt: string | null;
  events: Array<{ kind: string; actor: string; at: string; data: Record<string, unknown> }>;
};

async function home(serial: string): Promise<{ residentId: string; device: SimulatedDevice }> {
  const pendant = await addPendantHome(platform, serial);
  devices.push(pendant.device);
  return pendant;
}

async function post(path: string, body: unknown = {}): Promise<Response> {
  return fetch(new URL(path, platform.helpline.url), {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const casesOf = async (residentId: string, state: 'open' | 'all') =>
  (await platform.helplineGet<Case[]>(`/api/cases?state=${state}`)).filter(
    (c) => c.residentId === residentId,
  );

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  platform = await startPlatform('e2erepeat');
});

afterAll(async () => {
  for (const device of devices) await device.close();
  await platform?.stop();
});

describe('a pendant pressed again', () => {
  it('after the operator resolved its case as a false alarm, within the merge window, opens a new case', async () => {
    const { residentId, device } = await home(`E2E-RPA-${stamp}`);
    const pressedAt = Date.now();
    await device.send('pendant.pressed');
    const first = await waitFor(async () => (await casesOf(residentId, 'open'))[0], {
      what: 'the case of the first press',
      timeoutMs: 15_000,
    });
    expect((await post(`/api/cases/${first.id}/accept`)).status).toBe(200);
    const resolved = await post(`/api/cases/${first.id}/resolve`, {
      outcome: 'false-alarm',
      reason: 'pressed by mistake, resident fine',
    });
    expect(resolved.status).toBe(200);
    expect(await casesOf(residentId, 'open')).toEqual([]);

    // A second after the resolution, well inside the five-minute merge window of the first press
    // (triage merges it into the first press's alert, as a repeat). Any time in the window shows
    // it: no longer wait is needed.
    await sleep(1_000);
    expect(Date.now() - pressedAt).toBeLessThan(240_000);
    await device.send('pendant.pressed');
    const second = await waitFor(async () => (await casesOf(residentId, 'open'))[0], {
      what: 'a new case for the press after the resolution',
      timeoutMs: 15_000,
    });
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ type: 'pendant.pressed', priority: 1, state: expect.any(String) });
    const detail = await platform.helplineGet<Detail>(`/api/cases/${second.id}`);
    expect(detail.presses).toBe(1);
    // The new case says it follows the resolved one, so the operator sees the resident pressed again.
    expect(detail.events[0]).toMatchObject({
      kind: 'opened',
      data: { repeats: first.alertIds[0], afterCase: first.id },
    });
    const old = await platform.helplineGet<Detail>(`/api/cases/${first.id}`);
    expect(old).toMatchObject({ state: 'resolved', outcome: 'false-alarm', presses: 1 });
  }, 90_000);

  it('three times on a waiting case counts three presses with the last time, and the case shows each', async () => {
    const { residentId, device } = await home(`E2E-RPW-${stamp}`);
    await device.send('pendant.pressed');
    const waiting = await waitFor(async () => (await casesOf(residentId, 'open'))[0], {
      what: 'the case of the first press',
      timeoutMs: 15_000,
    });
    await sleep(1_000);
    await device.send('pendant.pressed');
    await sleep(1_000);
    await device.send('pendant.pressed');
    const detail = await waitFor(
      async () => {
        const d = await platform.helplineGet<Detail>(`/api/cases/${waiting.id}`);
        return d.presses === 3 ? d : undefined;
      },
      { what: 'three presses on the waiting case', timeoutMs: 15_000 },
    );
    expect(await casesOf(residentId, 'all')).toHaveLength(1);
    expect(detail).toMatchObject({ state: 'queued', priority: 1, presses: 3 });
    const repeats = detail.events.filter((e) => e.kind === 'alert-joined' && e.data.repeat === true);
    expect(repeats.map((e) => e.data.presses)).toEqual([2, 3]);
    for (const e of repeats) expect(e.data.repeats).toBe(waiting.alertIds[0]);
    // The last press's time, as triage raised it, is the newest of the case's alerts.
    const raised = detail.because.length;
    expect(raised).toBe(3);
    expect(detail.lastPressAt).not.toBeNull();
    expect(Date.parse(detail.lastPressAt ?? '')).toBeGreaterThan(Date.parse(detail.raisedAt));
    const listed = (await casesOf(residentId, 'open'))[0] as Case & { presses?: number };
    expect(listed.presses).toBe(3);
  }, 90_000);
});

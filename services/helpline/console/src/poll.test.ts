import { describe, expect, it } from 'vitest';
import { OVERVIEW_EVERY_MS, PEOPLE_EVERY_MS, politePoll } from './poll.ts';

describe("the console's repeated reads", () => {
  it('stay inside the per-person bounds (their defaults) with three tabs open', () => {
    const perMinute = (everyMs: number) => Math.ceil(60_000 / everyMs);
    // STAFF_LIST_PER_MINUTE and OVERVIEW_PER_MINUTE default to 120 and 60 (src/config.ts).
    expect(3 * perMinute(PEOPLE_EVERY_MS)).toBeLessThanOrEqual(120);
    expect(3 * perMinute(OVERVIEW_EVERY_MS)).toBeLessThanOrEqual(60);
  });

  it("asks nothing until a refusal's Retry-After has passed; other failures wait for no one", async () => {
    let now = 0;
    const answers: unknown[] = [{ status: 429, retryAfterS: 20 }, { status: 503 }, undefined];
    let asked = 0;
    const poll = politePoll(
      async () => {
        asked += 1;
        const answer = answers.shift();
        if (answer) throw answer;
      },
      () => now,
    );
    await poll();
    expect(asked).toBe(1);
    for (now = 3_000; now < 20_000; now += 3_000) await poll();
    expect(asked).toBe(1);
    now = 20_000;
    await poll();
    expect(asked).toBe(2);
    now = 23_000;
    await poll();
    expect(asked).toBe(3);
  });
});

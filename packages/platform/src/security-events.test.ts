import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errors as natsErrors } from '@nats-io/transport-node';
import type { SecurityEvent, SecurityEventKind } from '@telecare/contracts';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { type HeldSecurityEvent, SecurityEventOutbox } from './security-events.ts';
import { SECURITY_SPOOL_FILE } from './security-spool.ts';
import { STATE_LOCK_FILE } from './state-lock.ts';

const event = (i: number, kind: SecurityEventKind = 'dc09-frame-forged'): SecurityEvent => ({
  id: null,
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  service: 'gateway-dc09',
  kind,
  userId: null,
  caseId: null,
  detail: { i },
});

const numberOf = (held: HeldSecurityEvent): number =>
  (JSON.parse(held.body) as SecurityEvent).detail.i as number;

/** A logger whose lines are kept, parsed. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('security-outbox-test', 'info', {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { logger, lines };
}

/** A send that answers when the test says: each try waits on a promise of its own. */
function manualSend() {
  const tries: Array<{ event: HeldSecurityEvent; resolve: () => void; reject: (err: Error) => void }> = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const send = (held: HeldSecurityEvent) =>
    new Promise<void>((resolve, reject) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      const done = () => inFlight--;
      tries.push({
        event: held,
        resolve: () => {
          done();
          resolve();
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
    });
  return { send, tries, mostInFlight: () => mostInFlight };
}

const until = async (condition: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

const counted = async (registry: Registry, kind: string, reason: string): Promise<number> => {
  const metric = await registry.getSingleMetric('telecare_security_outbox_dropped_total')?.get();
  return metric?.values.find((v) => v.labels.kind === kind && v.labels.reason === reason)?.value ?? 0;
};

const fast = { initialMs: 1, maxMs: 4 };

/** A connection's status iterator the test drives: `tell('reconnect')`; `stopped` once stopped. */
function statuses() {
  const queue: Array<{ type: string }> = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  const iterable = {
    stop() {
      stopped = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      while (!stopped) {
        const next = queue.shift();
        if (next) yield next;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  return {
    iterable,
    tell(type: string) {
      queue.push({ type });
      wake?.();
    },
    get stopped() {
      return stopped;
    },
  };
}

/** A wait between tries longer than any test: only a wake ends it. */
const long = { initialMs: 60_000, maxMs: 60_000 };

describe('SecurityEventOutbox', () => {
  it('tries one event at a time, in the order raised, under the same id on every try', async () => {
    const { send, tries, mostInFlight } = manualSend();
    const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), { retry: fast });
    outbox.raise(event(0));
    outbox.raise(event(1));
    outbox.raise(event(2));
    expect(outbox.held).toBe(3);
    for (let failed = 0; failed < 3; failed++) {
      await until(() => tries.length === failed + 1);
      tries[failed]?.reject(new natsErrors.TimeoutError());
    }
    for (let i = 3; i < 6; i++) {
      await until(() => tries.length === i + 1);
      tries[i]?.resolve();
    }
    await until(() => outbox.held === 0);
    expect(tries.map((t) => numberOf(t.event))).toEqual([0, 0, 0, 0, 1, 2]);
    expect(new Set(tries.slice(0, 4).map((t) => t.event.msgID)).size).toBe(1);
    expect(new Set(tries.map((t) => t.event.msgID)).size).toBe(3);
    expect(mostInFlight()).toBe(1);
  });

  it('sends an event under the id it was raised with, when given one', async () => {
    const { send, tries } = manualSend();
    const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), { retry: fast });
    outbox.raise(event(0), 'sec_0123456789abcdef0123456789abcdef');
    outbox.raise(event(1));
    await until(() => tries.length === 1);
    tries[0]?.resolve();
    await until(() => tries.length === 2);
    tries[1]?.resolve();
    await until(() => outbox.held === 0);
    expect(tries[0]?.event.msgID).toBe('sec_0123456789abcdef0123456789abcdef');
    expect(tries[1]?.event.msgID).toMatch(/^sec_[0-9a-f]{32}$/);
  });

  it('waits longer after each failed try, up to the cap', async () => {
    const at: number[] = [];
    let failures = 5;
    const outbox = new SecurityEventOutbox(
      async () => {
        at.push(performance.now());
        if (failures-- > 0) throw new natsErrors.NoRespondersError('x');
      },
      createLogger('t', 'silent'),
      { retry: { initialMs: 20, maxMs: 60 } },
    );
    outbox.raise(event(0));
    await until(() => outbox.held === 0);
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    expect(gaps).toHaveLength(5);
    // 20, 40, then 60 each: lower bounds only (a loaded machine may wait longer).
    [20, 40, 60, 60, 60].forEach((least, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(least - 2);
    });
  });

  it('past its bound drops the oldest event waiting, logs it with its kind and counts it', async () => {
    const { send, tries } = manualSend();
    const { logger, lines } = capture();
    const metrics = new Registry();
    const outbox = new SecurityEventOutbox(send, logger, { retry: fast, maxHeld: 3, metrics });
    outbox.raise(event(0));
    await until(() => tries.length === 1);
    outbox.raise(event(1, 'device-kind-unexpected'));
    outbox.raise(event(2));
    outbox.raise(event(3));
    outbox.raise(event(4));
    expect(outbox.held).toBe(3);
    expect(await counted(metrics, 'device-kind-unexpected', 'full')).toBe(1);
    expect(await counted(metrics, 'dc09-frame-forged', 'full')).toBe(1);
    expect(await counted(metrics, 'reveal-refused', 'full')).toBe(0);
    const drops = lines.filter((l) => l.reason === 'full');
    expect(drops.map((l) => [l.level, l.securityEvent])).toEqual([
      [50, 'device-kind-unexpected'],
      [50, 'dc09-frame-forged'],
    ]);
    expect((await metrics.getSingleMetric('telecare_security_outbox_events')?.get())?.values[0]?.value).toBe(
      3,
    );

    tries[0]?.resolve();
    for (let i = 1; i < 3; i++) {
      await until(() => tries.length === i + 1);
      tries[i]?.resolve();
    }
    await until(() => outbox.held === 0);
    expect(tries.map((t) => numberOf(t.event))).toEqual([0, 3, 4]);
    expect((await metrics.getSingleMetric('telecare_security_outbox_events')?.get())?.values[0]?.value).toBe(
      0,
    );
  });

  it('drops an event NATS can never take, and goes on with the next', async () => {
    const { send, tries } = manualSend();
    const metrics = new Registry();
    const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), { retry: fast, metrics });
    outbox.raise(event(0));
    outbox.raise(event(1));
    await until(() => tries.length === 1);
    tries[0]?.reject(new natsErrors.InvalidArgumentError('payload too large'));
    await until(() => tries.length === 2);
    tries[1]?.resolve();
    await until(() => outbox.held === 0);
    expect(tries.map((t) => numberOf(t.event))).toEqual([0, 1]);
    expect(await counted(metrics, 'dc09-frame-forged', 'refused')).toBe(1);
  });

  it('at close tries again at once, stores what it can within its time, and logs what is left', async () => {
    let reachable = false;
    const sent: number[] = [];
    const { logger, lines } = capture();
    const outbox = new SecurityEventOutbox(
      async (held) => {
        if (!reachable) throw new natsErrors.TimeoutError();
        sent.push(numberOf(held));
      },
      logger,
      // A wait between tries longer than the test: only the close's wake tries again.
      { retry: { initialMs: 60_000, maxMs: 60_000 }, drainMs: 5_000 },
    );
    outbox.raise(event(0));
    outbox.raise(event(1));
    await until(() => lines.some((l) => l.msg?.toString().startsWith('security event not stored yet')));
    reachable = true;
    await outbox.close();
    expect(sent).toEqual([0, 1]);
    expect(outbox.held).toBe(0);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });

  it('stops trying after its drain time, and logs what it could not store', async () => {
    const { logger, lines } = capture();
    const metrics = new Registry();
    let tries = 0;
    const outbox = new SecurityEventOutbox(
      async () => {
        tries++;
        throw new natsErrors.TimeoutError();
      },
      logger,
      { retry: fast, drainMs: 50, metrics },
    );
    outbox.raise(event(0));
    outbox.raise(event(1, 'device-kind-unexpected'));
    outbox.raise(event(2));
    await outbox.close();
    const left = lines.find((l) => l.msg === 'security events not stored before the service stopped');
    expect(left).toMatchObject({
      level: 50,
      left: 3,
      kinds: { 'dc09-frame-forged': 2, 'device-kind-unexpected': 1 },
    });
    expect(await counted(metrics, 'dc09-frame-forged', 'stopped')).toBe(2);
    expect(outbox.held).toBe(0);

    const after = tries;
    outbox.raise(event(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tries).toBe(after);
    expect(await counted(metrics, 'dc09-frame-forged', 'stopped')).toBe(3);
  });

  describe('when the connection comes back', () => {
    it('ends the wait between tries and tries the oldest at once, one try at a time', async () => {
      const { send, tries, mostInFlight } = manualSend();
      const link = statuses();
      const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), {
        retry: long,
        statuses: link.iterable,
      });
      try {
        outbox.raise(event(0));
        outbox.raise(event(1));
        await until(() => tries.length === 1);
        tries[0]?.reject(new natsErrors.TimeoutError());
        link.tell('disconnect');
        // Waiting 60 s: the connection coming back ends it.
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(tries).toHaveLength(1);
        link.tell('reconnect');
        await until(() => tries.length === 2);
        tries[1]?.resolve();
        await until(() => tries.length === 3);
        tries[2]?.resolve();
        await until(() => outbox.held === 0);
        expect(tries.map((t) => numberOf(t.event))).toEqual([0, 0, 1]);
        expect(tries[1]?.event.msgID).toBe(tries[0]?.event.msgID);
        expect(mostInFlight()).toBe(1);
      } finally {
        await outbox.close();
      }
    });

    it('does not wait for a try sent while it was down, and tries that event again under its id', async () => {
      const { send, tries } = manualSend();
      const link = statuses();
      const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), {
        retry: long,
        statuses: link.iterable,
      });
      try {
        link.tell('disconnect');
        await new Promise((resolve) => setTimeout(resolve, 5));
        outbox.raise(event(0));
        outbox.raise(event(1));
        await until(() => tries.length === 1);
        link.tell('reconnect');
        await until(() => tries.length === 2);
        expect(tries[1]?.event.msgID).toBe(tries[0]?.event.msgID);
        tries[1]?.resolve();
        await until(() => tries.length === 3);
        // The dropped try's late end changes nothing.
        tries[0]?.reject(new natsErrors.TimeoutError());
        tries[2]?.resolve();
        await until(() => outbox.held === 0);
        expect(tries.map((t) => numberOf(t.event))).toEqual([0, 0, 1]);
      } finally {
        await outbox.close();
      }
    });

    it('waits for a try sent while it was up, then tries again without a wait', async () => {
      const { send, tries, mostInFlight } = manualSend();
      const link = statuses();
      const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), {
        retry: long,
        statuses: link.iterable,
      });
      try {
        outbox.raise(event(0));
        await until(() => tries.length === 1);
        link.tell('disconnect');
        link.tell('reconnect');
        await new Promise((resolve) => setTimeout(resolve, 20));
        // It may yet be answered: not tried twice at once.
        expect(tries).toHaveLength(1);
        tries[0]?.reject(new natsErrors.TimeoutError());
        await until(() => tries.length === 2);
        tries[1]?.resolve();
        await until(() => outbox.held === 0);
        expect(mostInFlight()).toBe(1);
      } finally {
        await outbox.close();
      }
    });

    it('starts the backoff again from its first step', async () => {
      const { send, tries } = manualSend();
      const link = statuses();
      // 5 ms after the first failed try, 60 s after the second.
      const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), {
        retry: { initialMs: 5, maxMs: 60_000, factor: 12_000 },
        statuses: link.iterable,
      });
      try {
        outbox.raise(event(0));
        await until(() => tries.length === 1);
        tries[0]?.reject(new natsErrors.TimeoutError());
        await until(() => tries.length === 2);
        tries[1]?.reject(new natsErrors.TimeoutError());
        link.tell('reconnect');
        await until(() => tries.length === 3);
        // A server just started may refuse the first try: the next comes after the first step.
        tries[2]?.reject(new natsErrors.NoRespondersError('x'));
        await until(() => tries.length === 4);
        tries[3]?.resolve();
        await until(() => outbox.held === 0);
      } finally {
        await outbox.close();
      }
    });

    it('stops following the connection at close', async () => {
      const link = statuses();
      const outbox = new SecurityEventOutbox(async () => {}, createLogger('t', 'silent'), {
        statuses: link.iterable,
      });
      await outbox.close();
      expect(link.stopped).toBe(true);
    });
  });

  describe('with a state folder', () => {
    let dir: string;
    const spoolLines = () =>
      readFileSync(path.join(dir, SECURITY_SPOOL_FILE), 'utf8').split('\n').filter(Boolean);
    /** The folder as a process killed holding it leaves it: its lock names a pid no process has. */
    const died = () => {
      const pid = spawnSync(process.execPath, ['-e', '']).pid;
      writeFileSync(path.join(dir, STATE_LOCK_FILE), JSON.stringify({ pid, token: 'killed' }));
    };

    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'telecare-outbox-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('sends what an outbox held when its process died, under the same ids, past a torn last line', async () => {
      const first = manualSend();
      const crashed = new SecurityEventOutbox(first.send, createLogger('t', 'silent'), { stateDir: dir });
      crashed.raise(event(0));
      crashed.raise(event(1));
      crashed.raise(event(2));
      await until(() => first.tries.length === 1);
      const ids = first.tries[0]?.event.msgID;
      // A crash in the middle of writing the next line.
      appendFileSync(path.join(dir, SECURITY_SPOOL_FILE), '{"kind":"dc09-frame-forged","at":"2026-01-01T00:');
      died();

      const { logger, lines } = capture();
      const { send, tries } = manualSend();
      const outbox = new SecurityEventOutbox(send, logger, { retry: fast, stateDir: dir });
      try {
        expect(outbox.held).toBe(3);
        for (let i = 0; i < 3; i++) {
          await until(() => tries.length === i + 1);
          tries[i]?.resolve();
        }
        await until(() => outbox.held === 0);
        expect(tries.map((t) => numberOf(t.event))).toEqual([0, 1, 2]);
        expect(tries[0]?.event.msgID).toBe(ids);
        expect(lines.find((l) => l.skipped === 1)).toMatchObject({ level: 40 });
        // All sent: nothing kept.
        expect(spoolLines()).toEqual([]);
      } finally {
        await outbox.close();
      }
    });

    it('keeps no more than its bound: the oldest waiting dropped and counted, on disk too', async () => {
      const metrics = new Registry();
      const first = manualSend();
      const crashed = new SecurityEventOutbox(first.send, createLogger('t', 'silent'), {
        maxHeld: 3,
        drainMs: 50,
        stateDir: dir,
        metrics,
      });
      crashed.raise(event(0));
      await until(() => first.tries.length === 1);
      for (let i = 1; i < 5; i++) crashed.raise(event(i));
      expect(await counted(metrics, 'dc09-frame-forged', 'full')).toBe(2);
      died();

      const { send, tries } = manualSend();
      const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), {
        retry: fast,
        maxHeld: 3,
        drainMs: 50,
        stateDir: dir,
      });
      try {
        expect(outbox.held).toBe(3);
        await until(() => tries.length === 1);
        expect(numberOf(tries[0]?.event as HeldSecurityEvent)).toBe(0);
      } finally {
        await outbox.close();
      }
    });

    it('writes its file again while events come and go, so it stays within twice its bound', async () => {
      const { send, tries } = manualSend();
      const outbox = new SecurityEventOutbox(send, createLogger('t', 'silent'), {
        maxHeld: 3,
        drainMs: 50,
        stateDir: dir,
      });
      try {
        outbox.raise(event(0));
        let most = 0;
        // Never empty: one stored as the next is raised.
        for (let i = 0; i < 20; i++) {
          await until(() => tries.length === i + 1);
          outbox.raise(event(i + 1));
          tries[i]?.resolve();
          await until(() => outbox.held === 1);
          most = Math.max(most, spoolLines().length);
        }
        expect(most).toBeLessThanOrEqual(2 * 3 + 2);
        // What it still holds, as a restart would read it.
        const held = new Map<string, number>();
        for (const line of spoolLines()) {
          const parsed = JSON.parse(line) as { done?: string } & Partial<HeldSecurityEvent>;
          if (parsed.done) held.delete(parsed.done);
          else held.set(parsed.msgID as string, numberOf(parsed as HeldSecurityEvent));
        }
        expect([...held.values()]).toEqual([20]);
      } finally {
        await outbox.close();
      }
    });

    it('at close leaves what it could not store in the folder for the next start, not counted as dropped', async () => {
      const metrics = new Registry();
      const { logger, lines } = capture();
      const outbox = new SecurityEventOutbox(
        async () => {
          throw new natsErrors.TimeoutError();
        },
        logger,
        { retry: fast, drainMs: 50, stateDir: dir, metrics },
      );
      outbox.raise(event(0));
      outbox.raise(event(1));
      await outbox.close();
      expect(await counted(metrics, 'dc09-frame-forged', 'stopped')).toBe(0);
      expect(lines.find((l) => l.left === 2)).toMatchObject({ level: 40 });

      const next = new SecurityEventOutbox(async () => {}, createLogger('t', 'silent'), { stateDir: dir });
      try {
        expect(next.held).toBe(2);
        await until(() => next.held === 0);
        expect(spoolLines()).toEqual([]);
      } finally {
        await next.close();
      }
    });
  });
});

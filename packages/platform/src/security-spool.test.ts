import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECURITY_SPOOL_FILE, SecuritySpool, type SpooledSecurityEvent } from './security-spool.ts';
import { STATE_LOCK_FILE, STATE_LOCK_STALE_MS } from './state-lock.ts';

const held = (i: number): SpooledSecurityEvent => ({
  kind: 'dc09-frame-forged',
  at: '2026-01-01T00:00:00.000Z',
  body: JSON.stringify({ i }),
  msgID: `sec_${i.toString(16).padStart(32, '0')}`,
});

/** A pid no process has: one that ran and exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid as number;

describe('SecuritySpool', () => {
  let dir: string;
  const lines = () => readFileSync(path.join(dir, SECURITY_SPOOL_FILE), 'utf8').split('\n').filter(Boolean);
  const open: SecuritySpool[] = [];
  const spool = (options: Partial<ConstructorParameters<typeof SecuritySpool>[1]> = {}) => {
    const s = new SecuritySpool(dir, { compactAfter: 100, ...options });
    open.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'telecare-spool-'));
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('one instance per folder', () => {
    it('refuses a second opening of a folder in use, naming the folder and the process holding it', () => {
      spool().open();
      expect(() => spool().open()).toThrow(
        expect.objectContaining({
          name: 'StateFolderInUseError',
          folder: dir,
          pid: process.pid,
          message: expect.stringContaining(`${dir} is in use by another instance (process ${process.pid}`),
        }),
      );
    });

    it('takes a folder over from a process that died holding it, and keeps what it held', () => {
      const first = spool();
      first.open();
      first.add(held(1));
      // As a process killed with SIGKILL leaves it: its lock and its events in place.
      writeFileSync(path.join(dir, STATE_LOCK_FILE), JSON.stringify({ pid: deadPid(), token: 'dead' }));
      const next = spool();
      expect(next.open().events).toEqual([held(1)]);
    });

    it('takes a folder over from a pid of this process left by a predecessor (a container restarted)', () => {
      writeFileSync(path.join(dir, STATE_LOCK_FILE), JSON.stringify({ pid: process.pid, token: 'before' }));
      expect(spool().open().events).toEqual([]);
    });

    it("judges another process's lock by its pid and start time: a pid now another process's is taken over", () => {
      const pid = process.ppid;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const lock = path.join(dir, STATE_LOCK_FILE);
      writeFileSync(lock, JSON.stringify({ pid, token: 'live', start }));
      expect(() => spool().open()).toThrow(`(process ${pid},`);
      writeFileSync(lock, JSON.stringify({ pid, token: 'reused', start: `${start}0` }));
      expect(spool().open().events).toEqual([]);
    });

    it('judges a lock from another host (another container) by its age: touched, it holds; 30 s untouched, it is taken over', () => {
      const lock = path.join(dir, STATE_LOCK_FILE);
      writeFileSync(lock, JSON.stringify({ pid: 1, token: 'elsewhere', host: 'another-container' }));
      expect(() => spool().open()).toThrow('(process 1 on host another-container,');
      const old = new Date(Date.now() - STATE_LOCK_STALE_MS - 1_000);
      utimesSync(lock, old, old);
      expect(spool().open().events).toEqual([]);
    });

    it('can be taken again once closed', () => {
      const first = spool();
      first.open();
      first.close();
      expect(spool().open().events).toEqual([]);
    });
  });

  describe('events added', () => {
    /** A spool whose syncs wait until the test lets each one end. */
    const heldSyncs = () => {
      const ends: Array<() => void> = [];
      const s = spool({ fdatasync: (_fd, done) => ends.push(() => done(null)) });
      return { s, ends };
    };
    const settled = async (promise: Promise<unknown>): Promise<boolean> => {
      let done = false;
      void promise.then(() => {
        done = true;
      });
      // Microtasks and one turn: a promise due to resolve has.
      await new Promise((resolve) => setImmediate(resolve));
      return done;
    };

    it('are in the file when add returns, answered once synced off the event loop, a burst in one sync', async () => {
      const { s, ends } = heldSyncs();
      s.open();
      const added = Array.from({ length: 10 }, (_, i) => s.add(held(i)));
      expect(lines()).toHaveLength(10);
      expect(await settled(Promise.any(added))).toBe(false);
      expect(ends).toHaveLength(1);
      ends.shift()?.();
      expect(await settled(Promise.all(added))).toBe(true);
    });

    it('one added while a sync runs is answered only by the next', async () => {
      const { s, ends } = heldSyncs();
      s.open();
      const first = s.add(held(0));
      await settled(first);
      const second = s.add(held(1));
      ends.shift()?.();
      expect(await settled(first)).toBe(true);
      expect(await settled(second)).toBe(false);
      expect(ends).toHaveLength(1);
      ends.shift()?.();
      expect(await settled(second)).toBe(true);
    });

    it('are answered when the file is written again whole, or closed synced', async () => {
      const { s } = heldSyncs();
      s.open();
      const added = s.add(held(0));
      // Every event gone but one: compacted past the bound, written again with what is held.
      for (let i = 1; i <= 101; i++) s.add(held(i));
      for (let i = 1; i <= 101; i++) s.done(held(i).msgID, 1, () => [held(0)]);
      expect(await settled(added)).toBe(true);
      expect(lines()).toEqual([JSON.stringify(held(0))]);
      const last = s.add(held(200));
      s.close();
      expect(await settled(last)).toBe(true);
    });
  });

  describe('done lines', () => {
    it('are in the file when done returns, and a burst of them is synced once', async () => {
      let syncs = 0;
      const s = spool({
        fdatasync: (_fd, done) => {
          syncs++;
          done(null);
        },
      });
      s.open();
      await Promise.all(Array.from({ length: 10 }, (_, i) => s.add(held(i))));
      const addSyncs = syncs;
      for (let i = 0; i < 9; i++) s.done(held(i).msgID, 9 - i, () => []);
      expect(lines().filter((l) => l.startsWith('{"done"'))).toHaveLength(9);
      await s.synced();
      expect(syncs - addSyncs).toBe(1);
    });

    it('a torn done line leaves its event held: sent again, not lost', () => {
      const first = spool();
      first.open();
      first.add(held(0));
      first.add(held(1));
      first.close();
      appendFileSync(path.join(dir, SECURITY_SPOOL_FILE), `{"done":"${held(0).msgID.slice(0, 10)}`);
      expect(spool().open()).toEqual({ events: [held(0), held(1)], skipped: 1 });
      // Written again without the torn line: what is appended next starts a line of its own.
      expect(lines()).toEqual([JSON.stringify(held(0)), JSON.stringify(held(1))]);
    });
  });
});

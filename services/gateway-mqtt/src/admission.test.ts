import { describe, expect, it } from 'vitest';
import { AdmissionQueue, admission, isSheddable } from './admission.ts';

describe('AdmissionQueue', () => {
  it('starts the most urgent job first, then the earliest', () => {
    const q = new AdmissionQueue<string>();
    for (let i = 0; i < 5; i++) q.push({ key: `hub-${i}`, priority: 3, item: `mains-${i}` });
    q.push({ key: 'pendant', priority: 1, item: 'press' });
    expect(q.take()?.item).toBe('press');
    expect(q.take()?.item).toBe('mains-0');
    expect(q.take()?.item).toBe('mains-1');
  });

  it("keeps one device's messages in order, one at a time", () => {
    const q = new AdmissionQueue<string>();
    q.push({ key: 'dev', priority: 5, item: 'heartbeat' });
    q.push({ key: 'dev', priority: 1, item: 'press' });
    q.push({ key: 'other', priority: 3, item: 'mains' });
    // The press pulls its own device's earlier heartbeat ahead of the other device's report.
    const first = q.take();
    expect(first?.item).toBe('heartbeat');
    // 'dev' is busy: its press waits for its heartbeat; another device goes meanwhile.
    expect(q.take()?.item).toBe('mains');
    expect(q.take()).toBeUndefined();
    q.done('dev');
    expect(q.take()?.item).toBe('press');
    expect(q.size).toBe(0);
    expect(q.running).toBe(2);
  });

  it('orders as the reference does: most urgent waiting job of an idle device, then its head job first', () => {
    // The reference: scan every device (what the queue did before it kept a heap).
    const reference = (waiting: Map<string, Array<{ p: number; seq: number }>>, busy: Set<string>) => {
      let best: string | undefined;
      let bestP = Number.POSITIVE_INFINITY;
      let bestSeq = Number.POSITIVE_INFINITY;
      for (const [key, list] of waiting) {
        if (busy.has(key) || list.length === 0) continue;
        const p = Math.min(...list.map((j) => j.p));
        const seq = list[0]?.seq ?? Number.POSITIVE_INFINITY;
        if (p < bestP || (p === bestP && seq < bestSeq)) [best, bestP, bestSeq] = [key, p, seq];
      }
      return best;
    };
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const q = new AdmissionQueue<number>();
    const waiting = new Map<string, Array<{ p: number; seq: number }>>();
    const busy = new Set<string>();
    let seq = 0;
    for (let step = 0; step < 5_000; step++) {
      const r = random();
      if (r < 0.5) {
        const key = `dev-${Math.floor(random() * 20)}`;
        const p = 1 + Math.floor(random() * 5);
        q.push({ key, priority: p, item: seq });
        waiting.set(key, [...(waiting.get(key) ?? []), { p, seq }]);
        seq++;
      } else if (r < 0.8) {
        const expected = reference(waiting, busy);
        const job = q.take();
        expect(job?.key).toBe(expected);
        if (job && expected) {
          const list = waiting.get(expected) ?? [];
          expect(job.item).toBe(list[0]?.seq);
          list.shift();
          busy.add(expected);
        }
      } else if (busy.size > 0) {
        const key = [...busy][Math.floor(random() * busy.size)] as string;
        busy.delete(key);
        q.done(key);
      }
    }
  });

  it('tells the priority of the job it would start next', () => {
    const q = new AdmissionQueue<string>();
    expect(q.peekPriority()).toBeUndefined();
    q.push({ key: 'hub', priority: 5, item: 'heartbeat' });
    expect(q.peekPriority()).toBe(5);
    q.push({ key: 'pendant', priority: 1, item: 'press' });
    expect(q.peekPriority()).toBe(1);
    expect(q.take()?.item).toBe('press');
    expect(q.peekPriority()).toBe(5);
    // A device busy with one message cannot start its next: nothing to start.
    q.push({ key: 'pendant', priority: 1, item: 'second press' });
    expect(q.take()?.item).toBe('heartbeat');
    expect(q.peekPriority()).toBeUndefined();
    q.done('pendant');
    expect(q.peekPriority()).toBe(1);
  });

  it('takes in time that does not grow with the backlog (20,000 waiting over 10,000 devices)', () => {
    // Scanning every device per take made a backlog of 20,000 cost milliseconds per message: the
    // gateway stored less the more it was offered. Here it drains in well under a second.
    const q = new AdmissionQueue<number>();
    for (let i = 0; i < 20_000; i++)
      q.push({ key: `dev-${i % 10_000}`, priority: i % 50 === 0 ? 3 : 5, item: i });
    const running: string[] = [];
    let taken = 0;
    const started = performance.now();
    for (;;) {
      while (running.length < 32) {
        const job = q.take();
        if (!job) break;
        running.push(job.key);
      }
      const key = running.shift();
      if (key === undefined) break;
      q.done(key);
      taken++;
    }
    expect(taken).toBe(20_000);
    // Generous for a loaded machine: the scan took minutes here, the heap takes tens of milliseconds.
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 60_000);
});

describe('admission', () => {
  const base = { sheddable: true, waiting: 0, admitted: 0, shedAt: 100, maxPending: 1000 };

  it('sheds a sheddable event once the queue is past its shedding point', () => {
    expect(admission({ ...base, waiting: 99, admitted: 131 })).toBe('admit');
    expect(admission({ ...base, waiting: 100, admitted: 132 })).toBe('shed');
  });

  it('never sheds the rest; past the bound it holds the broker back instead', () => {
    expect(admission({ ...base, sheddable: false, waiting: 500, admitted: 532 })).toBe('admit');
    expect(admission({ ...base, sheddable: false, waiting: 990, admitted: 1000 })).toBe('hold');
  });

  it('sheds chatter and maintenance, never alarms, urgent reports, restores or cancels', () => {
    for (const type of [
      'heartbeat',
      'motion',
      'door.opened',
      'bed.vacated',
      'temperature',
      'battery.low',
    ] as const)
      expect(isSheddable(type)).toBe(true);
    for (const type of [
      'pendant.pressed',
      'fall.detected',
      'smoke.detected',
      'flood.detected',
      'mains.lost',
      'mains.restored',
      'alarm.cancelled',
    ] as const)
      expect(isSheddable(type)).toBe(false);
  });
});

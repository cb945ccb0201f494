import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from './admission.ts';

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
});

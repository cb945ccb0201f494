import { names } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { AREA_LEASE, laneWork, partitionLease } from './leases.ts';
import { areaLanes, type Lane, type LaneWorkers, partitionLanes } from './partitions.ts';

const n = names('unit');

/** Lane workers that only record which lanes run; a stop resolves when `drain` is called. */
function recordingWorkers() {
  const running = new Set<string>();
  const stopped: string[][] = [];
  let drains: Array<() => void> = [];
  const stop = (lanes: readonly Lane[]) =>
    new Promise<void>((resolve) => {
      stopped.push(lanes.map((lane) => lane.name));
      for (const lane of lanes) running.delete(lane.name);
      drains.push(resolve);
    });
  const workers: LaneWorkers = {
    start: (lanes) => {
      for (const lane of lanes) running.add(lane.name);
    },
    stop,
    abandon: stop,
    stopAll: async () => running.clear(),
    healthy: true,
  };
  const drain = () => {
    for (const resolve of drains) resolve();
    drains = [];
  };
  return { workers, running, stopped, drain };
}

describe('the area lanes of the area lease', () => {
  it('start with the current set, not the start-up one', async () => {
    const { workers, running, drain } = recordingWorkers();
    const work = laneWork(workers, partitionLanes(n, 1, []), areaLanes(n, ['mains.lost']));
    const changed = work.setAreaLanes(areaLanes(n, ['line.fault']));
    drain();
    expect((await changed).map((lane) => lane.type)).toEqual(['mains.lost']);
    expect([...running]).toEqual([]);
    work.start(AREA_LEASE);
    work.start(partitionLease(0));
    expect([...running]).toEqual(['triage-area-line-fault', 'triage-p0']);
    expect(work.areaTypes()).toEqual(['line.fault']);
  });

  it('follow a change while the lease is held, and a handover waits for a lane still draining', async () => {
    const { workers, running, stopped, drain } = recordingWorkers();
    const work = laneWork(workers, [], areaLanes(n, ['mains.lost']));
    work.start(AREA_LEASE);
    const changed = work.setAreaLanes(areaLanes(n, ['line.fault']));
    expect([...running]).toEqual(['triage-area-line-fault']);
    // The handover stops the new lane and waits for the one the change is still draining.
    const handover = work.stop(AREA_LEASE);
    expect(stopped).toEqual([
      ['triage-area-mains-lost'],
      ['triage-area-line-fault', 'triage-area-mains-lost'],
    ]);
    expect(work.areaTypes()).toEqual([]);
    drain();
    await Promise.all([changed, handover]);
    expect([...running]).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { adjacency, type DistrictDemand, p90, suggestClusters } from './demand.ts';

const d = (district: string, alerts: number, attendanceP90: number | null = 30): DistrictDemand => ({
  district,
  residents: 100,
  alerts,
  visits: 10,
  ambulances: 0,
  attendanceP90,
});

describe('demand by district and suggested clusters', () => {
  it('takes the 90th centile by nearest rank', () => {
    expect(p90([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])).toBe(90);
    expect(p90([5])).toBe(5);
    expect(p90([])).toBeNull();
  });

  it('links districts of one area with consecutive numbers, or as configured', () => {
    const auto = adjacency(['GL1', 'GL2', 'GL4', 'BS1']);
    expect([...(auto.get('GL1') ?? [])]).toEqual(['GL2']);
    expect([...(auto.get('GL4') ?? [])]).toEqual([]);
    const configured = adjacency(['GL1', 'GL4'], 'GL1: GL4, BS1');
    expect([...(configured.get('GL4') ?? [])]).toEqual(['GL1']);
  });

  it('grows clusters from the busiest district within the capacity, and leaves a slow district alone', () => {
    const demand = [d('GL1', 120), d('GL2', 60), d('GL3', 50), d('GL4', 40), d('GL5', 30, 70), d('GL6', 20)];
    const clusters = suggestClusters(demand, adjacency(demand.map((x) => x.district)), 200);
    // GL1 (120) + GL2 (60) = 180; GL3 would make 230. GL3 + GL4 = 90; GL5 misses 45 min; GL6 alone
    // (its only neighbour GL5 is placed).
    expect(clusters.map((c) => [c.districts, c.alerts])).toEqual([
      [['GL1', 'GL2'], 180],
      [['GL3', 'GL4'], 90],
      [['GL5'], 30],
      [['GL6'], 20],
    ]);
    expect(clusters[2]?.why).toMatch(/over 45/);
  });
});

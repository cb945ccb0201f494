import { attendanceCount, type CaseRow, hadAmbulance, type Rows } from './figures.ts';
import { type Group, MEDIAN_AT_LEAST, publishGroup } from './suppress.ts';

/** Demand in one district, before suppression. */
export interface DistrictDemand {
  readonly district: string;
  readonly residents: number;
  readonly alerts: number;
  readonly visits: number;
  readonly ambulances: number;
  /** Minutes to on-site within which 90 % of this district's responder visits arrived; null without visits. */
  readonly attendanceP90: number | null;
}

export const UNPLACED = '(unknown)';

/** The 90th centile (nearest rank) of some minutes. */
export function p90(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round((sorted[Math.ceil(0.9 * sorted.length) - 1] as number) * 10) / 10;
}

export function demandByDistrict(rows: Rows): DistrictDemand[] {
  const districts = new Set<string>();
  const key = (d: string | null) => {
    const k = d ?? UNPLACED;
    districts.add(k);
    return k;
  };
  const residents = new Map<string, Set<string>>();
  for (const a of rows.activity) {
    const k = key(a.district);
    residents.set(k, (residents.get(k) ?? new Set()).add(a.residentId));
  }
  const alerts = new Map<string, number>();
  for (const a of rows.alerts) alerts.set(key(a.district), (alerts.get(key(a.district)) ?? 0) + 1);
  const cases = new Map<string, CaseRow[]>();
  for (const c of rows.cases) {
    const k = key(c.district);
    const its = cases.get(k);
    // Pushed, not copied: a copy per case is quadratic in a district's calls.
    if (its) its.push(c);
    else cases.set(k, [c]);
  }
  return [...districts].sort().map((district) => {
    const its = cases.get(district) ?? [];
    const attendance = attendanceCount(its);
    return {
      district,
      residents: residents.get(district)?.size ?? 0,
      alerts: alerts.get(district) ?? 0,
      visits: attendance.visits,
      ambulances: its.filter(hadAmbulance).length,
      attendanceP90: p90(attendance.minutes),
    };
  });
}

/** The attendance target a cluster is built around: 90 % on site within 45 minutes. */
export const CLUSTER_MINUTES = 45;

/**
 * Which districts touch which. From configuration when given (`GL1:GL2 GL3; GL2:GL4`, made
 * symmetric); otherwise districts of one postcode area with consecutive numbers (GL1–GL2), a
 * stand-in to be replaced by a real adjacency list.
 */
export function adjacency(districts: readonly string[], configured?: string): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>(districts.map((d) => [d, new Set<string>()]));
  const link = (a: string, b: string) => {
    if (a === b) return;
    map.set(a, (map.get(a) ?? new Set()).add(b));
    map.set(b, (map.get(b) ?? new Set()).add(a));
  };
  if (configured?.trim()) {
    for (const entry of configured.split(';')) {
      const [from, to = ''] = entry.split(':');
      for (const n of to.split(/[\s,]+/).filter(Boolean))
        link((from ?? '').trim().toUpperCase(), n.toUpperCase());
    }
    return map;
  }
  const parse = (d: string) => /^([A-Z]{1,2})(\d+)$/.exec(d);
  for (const a of districts)
    for (const b of districts) {
      const x = parse(a);
      const y = parse(b);
      if (x && y && x[1] === y[1] && Math.abs(Number(x[2]) - Number(y[2])) === 1) link(a, b);
    }
  return map;
}

export interface Cluster {
  readonly districts: readonly string[];
  /** Alerts in the cluster (suppressed like any count). */
  readonly alerts: Group['total'];
  /** Why this cluster is as it is, in words. */
  readonly why: string;
}

/**
 * Suggested clusters: starting from the busiest district not yet placed, add adjacent districts
 * (busiest first) whose responders meet the 45-minute target (90th centile of attendance within
 * it, or no visits to judge by) while the cluster's alerts stay within `capacity`. A district whose
 * attendance misses the target stands alone: one provider there is not meeting it now.
 */
export function suggestClusters(
  demand: readonly DistrictDemand[],
  links: Map<string, Set<string>>,
  capacity: number,
): Cluster[] {
  const byName = new Map(demand.filter((d) => d.district !== UNPLACED).map((d) => [d.district, d]));
  const meets = (d: DistrictDemand) => d.attendanceP90 === null || d.attendanceP90 <= CLUSTER_MINUTES;
  const placed = new Set<string>();
  const clusters: Cluster[] = [];
  const busiest = [...byName.values()].sort(
    (a, b) => b.alerts - a.alerts || a.district.localeCompare(b.district),
  );
  for (const seed of busiest) {
    if (placed.has(seed.district)) continue;
    placed.add(seed.district);
    if (!meets(seed)) {
      clusters.push({
        districts: [seed.district],
        alerts: publishGroup({ a: seed.alerts }).total,
        // The centile itself only over enough visits, as in the table: over fewer it is someone's.
        why: `90 % of visits took ${
          seed.visits >= MEDIAN_AT_LEAST ? `up to ${seed.attendanceP90} min` : 'longer'
        } here, over ${CLUSTER_MINUTES}: a provider based nearer is needed`,
      });
      continue;
    }
    const members = [seed];
    let load = seed.alerts;
    const frontier = [...(links.get(seed.district) ?? [])];
    while (frontier.length > 0) {
      frontier.sort(
        (a, b) => (byName.get(b)?.alerts ?? 0) - (byName.get(a)?.alerts ?? 0) || a.localeCompare(b),
      );
      const next = byName.get(frontier.shift() as string);
      if (!next || placed.has(next.district) || !meets(next) || load + next.alerts > capacity) continue;
      placed.add(next.district);
      members.push(next);
      load += next.alerts;
      frontier.push(...(links.get(next.district) ?? []));
    }
    clusters.push({
      districts: members.map((m) => m.district).sort(),
      alerts: publishGroup(Object.fromEntries(members.map((m) => [m.district, m.alerts]))).total,
      why:
        members.length === 1
          ? 'no adjacent district could join within the attendance target and the capacity'
          : `adjacent districts whose visits meet ${CLUSTER_MINUTES} min for 90 %, up to ${capacity} alerts in the period`,
    });
  }
  return clusters;
}

export interface DemandReport {
  readonly districts: readonly string[];
  readonly residents: Group;
  readonly alerts: Group;
  readonly visits: Group;
  readonly ambulances: Group;
  /** Shown only where the district had at least `MEDIAN_AT_LEAST` visits. */
  readonly attendanceP90: Record<string, number | null>;
  readonly clusters: readonly Cluster[];
  readonly clusterCapacity: number;
}

export function demandReport(
  demand: readonly DistrictDemand[],
  options: { adjacency?: string; capacity: number },
): DemandReport {
  const column = (pick: (d: DistrictDemand) => number) =>
    publishGroup(Object.fromEntries(demand.map((d) => [d.district, pick(d)])));
  return {
    districts: demand.map((d) => d.district),
    residents: column((d) => d.residents),
    alerts: column((d) => d.alerts),
    visits: column((d) => d.visits),
    ambulances: column((d) => d.ambulances),
    attendanceP90: Object.fromEntries(
      demand.map((d) => [d.district, d.visits >= MEDIAN_AT_LEAST ? d.attendanceP90 : null]),
    ),
    clusters: suggestClusters(
      demand,
      adjacency(
        demand.map((d) => d.district),
        options.adjacency,
      ),
      options.capacity,
    ),
    clusterCapacity: options.capacity,
  };
}

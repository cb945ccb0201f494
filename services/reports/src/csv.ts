import { type CsvValue, csvRow } from '@telecare/contracts';
import type { BedDaysFigure, CareHoursFigure, MeanChange } from './cohort.ts';
import type { Summary, TargetFigure } from './summary.ts';
import type { Count, Group } from './suppress.ts';

/** One chart's numbers as a table: what the dashboard draws and the CSV holds. */
export interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly CsvValue[])[];
}

const groupTable = (key: string, group: Group): Table => ({
  columns: [key, 'count'],
  rows: [
    ...Object.entries(group.cells).sort(([a], [b]) => a.localeCompare(b)),
    ['total', group.total] as [string, Count],
  ],
});

/** A group counted by device kind: its kinds' ids, as ever, then each kind in words. */
const kindTable = (group: Group, words: Readonly<Record<string, string>>): Table => {
  const table = groupTable('device_kind', group);
  return {
    columns: [...table.columns, 'device_kind_label'],
    rows: table.rows.map((row) => [...row, row[0] === 'total' ? null : (words[String(row[0])] ?? null)]),
  };
};

const targetRow = (name: string, t: TargetFigure) => [
  name,
  t.target,
  t.of,
  t.met,
  t.missed,
  t.percent,
  t.achieved,
];
const TARGET_COLUMNS = ['target', 'target_percent', 'of', 'met', 'missed', 'percent', 'achieved'];

/** Every chart of a summary, by name. */
export function summaryTables(s: Summary): Record<string, Table> {
  return {
    technology: kindTable(s.residents.technology, s.deviceKinds),
    'alerts-by-type': groupTable('type', s.alerts.byType),
    'alerts-by-priority': groupTable('priority', s.alerts.byPriority),
    answer: {
      columns: TARGET_COLUMNS,
      rows: [
        targetRow('answered within 60 s', s.answer.within60s),
        targetRow('answered within 180 s', s.answer.within180s),
      ],
    },
    attendance: {
      columns: TARGET_COLUMNS,
      rows: [
        targetRow('on site within 45 min', s.attendance.within45m),
        targetRow('on site within 60 min', s.attendance.within60m),
      ],
    },
    outcomes: groupTable('outcome', s.outcomes),
    falls: groupTable('ambulance', s.falls.byAmbulance),
    'time-on-floor': groupTable('time_on_floor', s.falls.timeOnFloor),
    faults: groupTable('type', s.faults.byType),
    'supervision-losses-by-kind': kindTable(s.faults.supervisionLossesByKind, s.deviceKinds),
    demand: {
      columns: [
        'district',
        'residents',
        'alerts',
        'responder_visits',
        'ambulances',
        'attendance_p90_minutes',
      ],
      rows: [
        ...s.demand.districts.map((d) => [
          d,
          s.demand.residents.cells[d] ?? null,
          s.demand.alerts.cells[d] ?? null,
          s.demand.visits.cells[d] ?? null,
          s.demand.ambulances.cells[d] ?? null,
          s.demand.attendanceP90[d] ?? null,
        ]),
        [
          'total',
          s.demand.residents.total,
          s.demand.alerts.total,
          s.demand.visits.total,
          s.demand.ambulances.total,
          null,
        ],
      ],
    },
    clusters: {
      columns: ['cluster', 'districts', 'alerts', 'why'],
      rows: s.demand.clusters.map((c, i) => [i + 1, c.districts.join(' '), c.alerts, c.why]),
    },
    trend: {
      columns: [
        'month',
        'active_residents',
        'alerts',
        'alerts_per_1000',
        'answered_within_60s_percent',
        'falls',
        'ambulances',
      ],
      rows: s.trend.months.map((m, i) => [
        m,
        s.trend.activeResidents[i] ?? null,
        s.trend.alerts.cells[m] ?? null,
        s.trend.alertsPer1000[i] ?? null,
        s.trend.within60sPercent[i] ?? null,
        s.trend.falls.cells[m] ?? null,
        s.trend.ambulances.cells[m] ?? null,
      ]),
    },
    // Only when switched on: its inputs, assumptions and results, labelled as modelled.
    ...(s.modelled
      ? {
          modelled: {
            columns: ['what', 'value', 'kind'],
            rows: [
              ['long lies', s.modelled.inputs.longLies, 'measured input'],
              ['long lie minutes', s.modelled.inputs.longLieMinutes, 'definition'],
              ['extra bed days per long lie', s.modelled.assumptions.extraBedDaysPerLongLie, 'assumption'],
              ['cost per bed day', s.modelled.assumptions.costPerBedDay, 'assumption'],
              ['bed days', s.modelled.bedDays, 'modelled'],
              ['cost', s.modelled.cost, 'modelled'],
            ],
          },
        }
      : {}),
  };
}

export const toCsv = (table: Table): string =>
  `${[table.columns, ...table.rows].map(csvRow).join('\r\n')}\r\n`;

/** Every chart in one CSV, one value per line: chart, row label, column, value. */
export function exportCsv(s: Summary): string {
  const rows: CsvValue[][] = [];
  for (const [chart, table] of Object.entries(summaryTables(s)))
    for (const row of table.rows)
      for (let i = 1; i < table.columns.length; i++)
        rows.push([chart, row[0] ?? null, table.columns[i] ?? '', row[i] ?? null]);
  return toCsv({ columns: ['chart', 'row', 'column', 'value'], rows });
}

/**
 * A before/after figure (bed days, care hours) as a table: per window, the installed residents
 * (from their install), and when there is a comparison group the residents referred and still
 * waiting, the installed from their referral, and the difference in differences; a value not
 * shown is an empty cell.
 */
export function beforeAfterTable<F extends BedDaysFigure | CareHoursFigure>(
  windows: readonly F[],
  before: keyof F,
  after: keyof F,
): Table {
  const interval = (m: MeanChange | null) => [m?.mean ?? null, m?.low ?? null, m?.high ?? null];
  const rows: (string | number | null)[][] = [];
  for (const w of windows) {
    // As at which day the cohort was counted, and the bases its figures are rounded to.
    const basis = [w.asOf.slice(0, 10), w.roundedTo.residents, w.roundedTo.total];
    rows.push([
      w.months,
      'installed',
      w.residents,
      w[before] as number | null,
      w[after] as number | null,
      w.meanBefore,
      w.meanAfter,
      ...interval(w.meanChange),
      ...basis,
    ]);
    const c = w.comparison;
    if (!c) continue;
    rows.push([
      w.months,
      'referred-not-yet-installed',
      c.residents,
      c.before,
      c.after,
      c.meanBefore,
      c.meanAfter,
      ...interval(c.meanChange),
      ...basis,
    ]);
    rows.push([
      w.months,
      'difference-in-differences',
      null,
      null,
      null,
      null,
      null,
      ...interval(c.difference),
      ...basis,
    ]);
  }
  return {
    columns: [
      'months',
      'group',
      'residents',
      'before',
      'after',
      'mean_before',
      'mean_after',
      'mean_change',
      'change_low_95',
      'change_high_95',
      'as_of',
      'residents_rounded_to',
      'total_rounded_to',
    ],
    rows,
  };
}

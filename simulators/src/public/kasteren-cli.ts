import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Annotation,
  annotations,
  assumedAway,
  doingAt,
  HOUSE_A_ACTIVITIES,
  HOUSE_A_SENSORS,
  kasterenToImport,
  parseKasteren,
  sensorEvidence,
  untilAnnotated,
} from './kasteren.ts';
import { sensorMapFromNames } from './named-sensors.ts';

const USAGE = `usage: pnpm kasteren convert --sensors <houseA.sensors> --activities <houseA.activities> --out <dir> [--resident res_vk_a] [--whole-log]
       pnpm kasteren explain --alerts <replay.jsonl> --activities <dir>/activities.jsonl
       pnpm kasteren convert-named --sensors <houseD.sensors> --sensor-names <houseD.sensor_names> --front-door <id> --out <dir> --resident <id> [--serial-prefix MIT-1-]

convert writes <dir>/events.jsonl (for pnpm replay --import), <dir>/activities.jsonl (the
annotations) and <dir>/away.jsonl (for --away: the periods he would have declared away, ASSUMED
from each "leave house" still going on at 03:00, from the hour he left to the hour after he came
back; the set holds no declarations), and prints which sensors fire within each annotated activity (the check of the
sensor map). The firings after the day of the last annotated activity are left out (nobody
recorded what the person did then) unless --whole-log. explain reads the output of pnpm replay --import … --json and prints each alert with
what the annotations say the person was doing then. convert-named converts another home's log in
the same form whose sensors are named in a .sensor_names file (id, tab, Room,Name), the front door
given by its id; it writes <dir>/events.jsonl only (no annotations are read).`;

function convert(
  sensorsFile: string,
  activitiesFile: string,
  dir: string,
  residentId: string,
  wholeLog: boolean,
): void {
  const all = parseKasteren(readFileSync(sensorsFile, 'utf8'));
  const activities = parseKasteren(readFileSync(activitiesFile, 'utf8'));
  const sensors = wholeLog ? all : untilAnnotated(all, activities);
  if (sensors.length < all.length)
    console.log(
      `left out ${all.length - sensors.length} firings after the day of the last annotated activity`,
    );
  const lines = kasterenToImport(sensors, { residentId });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'events.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const notes = annotations(activities, residentId);
  writeFileSync(join(dir, 'activities.jsonl'), `${notes.map((a) => JSON.stringify(a)).join('\n')}\n`);
  const away = assumedAway(activities, residentId);
  writeFileSync(join(dir, 'away.jsonl'), `${away.map((a) => JSON.stringify(a)).join('\n')}\n`);
  console.log(
    `wrote ${lines.length} events from ${sensors.length} firings, ${notes.length} annotated activities and ${away.length} assumed away periods to ${dir}`,
  );
  for (const a of away) console.log(`  assumed declared away: ${a.from} to ${a.until}`);
  console.log('sensors firing within each annotated activity (count):');
  for (const [activity, counts] of [...sensorEvidence(sensors, activities)].sort((a, b) => a[0] - b[0])) {
    const top = [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([id, n]) => `${HOUSE_A_SENSORS[id]?.name ?? id} ${n}`);
    console.log(`  ${(HOUSE_A_ACTIVITIES[activity] ?? String(activity)).padEnd(18)} ${top.join(', ')}`);
  }
  console.log(`next: pnpm replay --import ${join(dir, 'events.jsonl')} --learn-days 7 --json`);
  console.log(`  with the assumed declarations: … --away ${join(dir, 'away.jsonl')}`);
}

function convertNamed(
  sensorsFile: string,
  namesFile: string,
  frontDoor: number,
  dir: string,
  residentId: string,
  serialPrefix: string,
): void {
  const sensors = sensorMapFromNames(readFileSync(namesFile, 'utf8'), frontDoor);
  const firings = parseKasteren(readFileSync(sensorsFile, 'utf8'));
  const lines = kasterenToImport(firings, { residentId, sensors, serialPrefix });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'events.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const days = new Set(firings.map((f) => Math.floor(f.start / 86_400))).size;
  const doors = firings.filter((f) => f.id === frontDoor).length;
  console.log(
    `wrote ${lines.length} events from ${firings.length} firings on ${days} days (${doors} of the front door) to ${dir}`,
  );
  console.log(`next: pnpm replay --import ${join(dir, 'events.jsonl')} --learn-days 7`);
}

interface ReplayAlertLine {
  readonly rule?: string;
  readonly resident?: string;
  readonly time?: string;
  readonly type?: string;
  readonly priority?: number;
  readonly reason?: string;
  readonly summary?: unknown;
}

function explain(alertsFile: string, activitiesFile: string): void {
  const notes = readFileSync(activitiesFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Annotation);
  for (const raw of readFileSync(alertsFile, 'utf8').split('\n')) {
    if (!raw.trim().startsWith('{')) continue;
    const line = JSON.parse(raw) as ReplayAlertLine;
    if (line.summary) {
      console.log(`summary: ${JSON.stringify(line.summary)}`);
      continue;
    }
    if (!line.time || !line.resident) continue;
    console.log(`${line.time} P${line.priority} ${line.type} (${line.rule})`);
    console.log(`  reason: ${line.reason}`);
    console.log(`  annotated: ${doingAt(notes, line.resident, Date.parse(line.time))}`);
  }
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sensors: { type: 'string' },
    activities: { type: 'string' },
    out: { type: 'string' },
    alerts: { type: 'string' },
    resident: { type: 'string', default: 'res_vk_a' },
    'whole-log': { type: 'boolean', default: false },
    'sensor-names': { type: 'string' },
    'front-door': { type: 'string' },
    'serial-prefix': { type: 'string', default: 'MIT-1-' },
  },
});
const [command] = positionals;
if (command === 'convert' && values.sensors && values.activities && values.out)
  convert(values.sensors, values.activities, values.out, values.resident, values['whole-log']);
else if (
  command === 'convert-named' &&
  values.sensors &&
  values['sensor-names'] &&
  values['front-door'] &&
  values.out &&
  Number.isInteger(Number(values['front-door']))
)
  convertNamed(
    values.sensors,
    values['sensor-names'],
    Number(values['front-door']),
    values.out,
    values.resident,
    values['serial-prefix'],
  );
else if (command === 'explain' && values.alerts && values.activities)
  explain(values.alerts, values.activities);
else {
  console.error(USAGE);
  process.exit(2);
}

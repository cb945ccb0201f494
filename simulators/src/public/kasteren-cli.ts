import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { casasAnnotations, casasToImport, parseCasas } from './casas.ts';
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
       pnpm kasteren convert-casas --log <aruba/data> --front-door D001,D002,D004 --out <dir> --resident <id> [--time-zone America/Los_Angeles] [--places <file>] [--serial-prefix CASAS-]

convert writes <dir>/events.jsonl (for pnpm replay --import), <dir>/activities.jsonl (the
annotations) and <dir>/away.jsonl (for --away: the periods he would have declared away, ASSUMED
from each "leave house" still going on at 03:00, from the hour he left to the hour after he came
back; the set holds no declarations), and prints which sensors fire within each annotated activity (the check of the
sensor map). The firings after the day of the last annotated activity are left out (nobody
recorded what the person did then) unless --whole-log. explain reads the output of pnpm replay --import … --json and prints each alert with
what the annotations say the person was doing then. convert-named converts another home's log in
the same form whose sensors are named in a .sensor_names file (id, tab, Room,Name), the front door
given by its id; it writes <dir>/events.jsonl only (no annotations are read). convert-casas converts a CASAS
smart-home log (date, time, sensor, value, and an annotation or the later sets' sensor type): the
doors given as the home's ways out are door contacts, every movement sensor turning on and every
other door, switch, button or item the person there; readings are left out and counted. The times
are the home's clock in --time-zone (taken as UTC without it; give the replay the same zone).
--places names where each sensor is (sensor, tab, place a line; otherwise "sensor M003"). It writes
<dir>/events.jsonl and, where the log is annotated, <dir>/activities.jsonl (for explain).`;

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

function convertCasas(options: {
  log: string;
  frontDoors: string[];
  dir: string;
  residentId: string;
  timeZone: string | undefined;
  placesFile: string | undefined;
  serialPrefix: string;
}): void {
  const parsed = parseCasas(readFileSync(options.log, 'utf8'));
  const places = options.placesFile ? placesFrom(readFileSync(options.placesFile, 'utf8')) : undefined;
  const unknownDoors = options.frontDoors.filter((door) => !parsed.lines.some((l) => l.sensor === door));
  if (unknownDoors.length > 0) {
    console.error(`no line of the log is from ${unknownDoors.join(', ')}: check --front-door`);
    process.exit(2);
  }
  if (options.timeZone) {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: options.timeZone });
    } catch {
      console.error(
        `--time-zone ${options.timeZone}: not a time zone this machine knows (IANA, e.g. America/Los_Angeles)`,
      );
      process.exit(2);
    }
  }
  const converted = casasToImport(parsed.lines, {
    residentId: options.residentId,
    frontDoors: options.frontDoors,
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
    ...(places ? { places } : {}),
    serialPrefix: options.serialPrefix,
  });
  mkdirSync(options.dir, { recursive: true });
  writeFileSync(
    join(options.dir, 'events.jsonl'),
    `${converted.lines.map((l) => JSON.stringify(l)).join('\n')}\n`,
  );
  const notes = casasAnnotations(parsed.lines, options.residentId, options.timeZone);
  if (notes.length > 0)
    writeFileSync(
      join(options.dir, 'activities.jsonl'),
      `${notes.map((a) => JSON.stringify(a)).join('\n')}\n`,
    );
  const days = new Set(converted.lines.map((l) => l.event.at.slice(0, 10))).size;
  const doors = converted.lines.filter((l) => l.event.type === 'door.opened').length;
  console.log(
    `wrote ${converted.lines.length} events from ${parsed.lines.length} lines on ${days} days (${doors} openings of ${options.frontDoors.join(', ')}) and ${notes.length} annotated activities to ${options.dir}`,
  );
  const leftOut = Object.entries(converted.leftOut).sort((a, b) => b[1] - a[1]);
  if (leftOut.length > 0)
    console.log(
      `left out (not activity: off, readings, other sensors): ${leftOut.map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
  if (parsed.unreadableCount > 0)
    console.log(
      `${parsed.unreadableCount} lines are not "date time sensor value …" and were not read: lines ${parsed.unreadable.join(', ')}${parsed.unreadableCount > parsed.unreadable.length ? ', …' : ''}`,
    );
  console.log(
    `next: pnpm replay --import ${join(options.dir, 'events.jsonl')} --learn-days 7 --json${options.timeZone ? ` --time-zone ${options.timeZone}` : ' --time-zone UTC'}`,
  );
}

/** `M003\tbedroom` a line: where each sensor is. */
function placesFrom(text: string): Record<string, string> {
  const places: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const match = /^(\S+)\s+(.+)$/.exec(line);
    if (!match) {
      console.error(`--places line ${i + 1}: expected "sensor<TAB>place", got "${line}"`);
      process.exit(2);
    }
    places[match[1] as string] = (match[2] as string).trim();
  });
  return places;
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
    resident: { type: 'string' },
    'whole-log': { type: 'boolean', default: false },
    'sensor-names': { type: 'string' },
    'front-door': { type: 'string' },
    'serial-prefix': { type: 'string' },
    log: { type: 'string' },
    'time-zone': { type: 'string' },
    places: { type: 'string' },
  },
});
const [command] = positionals;
if (command === 'convert' && values.sensors && values.activities && values.out)
  convert(values.sensors, values.activities, values.out, values.resident ?? 'res_vk_a', values['whole-log']);
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
    values.resident ?? 'res_vk_a',
    values['serial-prefix'] ?? 'MIT-1-',
  );
else if (command === 'convert-casas' && values.log && values['front-door'] && values.out && values.resident)
  convertCasas({
    log: values.log,
    frontDoors: values['front-door']
      .split(',')
      .map((door) => door.trim())
      .filter(Boolean),
    dir: values.out,
    residentId: values.resident,
    timeZone: values['time-zone'],
    placesFile: values.places,
    serialPrefix: values['serial-prefix'] ?? 'CASAS-',
  });
else if (command === 'explain' && values.alerts && values.activities)
  explain(values.alerts, values.activities);
else {
  console.error(USAGE);
  process.exit(2);
}

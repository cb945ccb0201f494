import { buildScenario, SCENARIOS } from '@telecare/simulators';

const [name, home, from, to, filter] = process.argv.slice(2) as [string, string, string, string, string?];
const b = buildScenario(SCENARIOS[name]!);
for (const e of b.events) {
  const iso = new Date(e.at).toISOString();
  if (e.home === home && iso >= from && iso <= to && (!filter || `${e.device} ${e.type}`.includes(filter)))
    console.log(iso, e.device, e.type, e.actor, e.incident ?? '', JSON.stringify(e.data ?? {}));
}

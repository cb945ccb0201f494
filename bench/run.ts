import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * `pnpm bench <name>` runs bench/<name>.ts. Each benchmark measures its baseline in the same run,
 * prints a readable report, and ends with one JSON line of its figures. Benchmarks never fail on
 * timing; they report.
 */
export interface Benchmark {
  readonly description: string;
  run(log: (line: string) => void): Promise<Record<string, number | string>>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.ts') && !['run.ts'].includes(file) && !file.endsWith('.test.ts'))
  .map((file) => file.slice(0, -3));

const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: pnpm bench <name>\navailable: ${available.join(', ')}`);
  process.exit(2);
}

const { default: benchmark } = (await import(`./${name}.ts`)) as { default: Benchmark };
console.log(`# ${name}: ${benchmark.description}`);
const figures = await benchmark.run((line) => console.log(line));
console.log(JSON.stringify({ benchmark: name, ...figures }));
process.exit(0);

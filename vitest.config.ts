import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that run a whole stack of their own (every service, in the test's process or as child
 * processes, and servers of their own beside the shared ones). Two of them side by side each took
 * twice to three times as long as alone; one at a time after the other files, they left most of a
 * core idle (about 1.15 of the 2 busy for their 200 s). So they run among the other integration
 * files, spread through the queue so that no two meet (`SpreadSequencer`).
 */
const WHOLE_STACK = /^tests\/(scenarios|faults)\/[^/]+\.int\.test\.ts$/;

/**
 * At most this many files run between two whole-stack files: the integration workers take about
 * 0.4 files a second, and a whole-stack file beside other files takes up to about 140 s.
 */
const WHOLE_STACK_GAP = 60;

/**
 * vitest's order (by each project, then the longest file first, or the largest where no run's
 * times are cached), with the whole-stack files taken out and put back evenly apart through the
 * integration files, from their start, in that order: each runs beside other files, never
 * beside another whole stack.
 */
class SpreadSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const wholeStack = (spec: TestSpecification) =>
      spec.project.name === 'integration' &&
      WHOLE_STACK.test(path.relative(this.ctx.config.root, spec.moduleId));
    const heavy = sorted.filter(wholeStack);
    const rest = sorted.filter((spec) => !wholeStack(spec));
    const first = rest.findIndex((spec) => spec.project.name === 'integration');
    if (heavy.length === 0 || first === -1) return sorted;
    const out = rest.slice(0, first);
    const integration = rest.slice(first);
    // Spread over the whole queue, the last well before its end.
    const gap = Math.max(1, Math.min(WHOLE_STACK_GAP, Math.floor(integration.length / heavy.length)));
    for (const [i, spec] of integration.entries()) {
      if (i % gap === 0 && heavy.length > 0) out.push(heavy.shift() as TestSpecification);
      out.push(spec);
    }
    return [...out, ...heavy];
  }
}

/** The property tests' seed, from `PROPERTY_SEED` (see the file). */
const setupFiles = ['packages/testkit/src/property-seed.ts'];

/**
 * `expect.poll` waits for a condition on real servers, a browser or a service under load: vitest's
 * default (1 s) failed an accept that took a little longer on a loaded run. A wait that fails means
 * the condition did not come in 10 s; each poll of a page or an API costs CPU, so not every 50 ms.
 */
const expectServers = { poll: { timeout: 10_000, interval: 100 } };

// One vitest setup, two projects: `unit` is pure and fast; `integration` talks to the real
// Mosquitto, NATS, Redis and PostgreSQL on loopback (see infra/servers.sh), the whole-stack files
// among its others (`SpreadSequencer`).
// A test file's modules are loaded once per worker, not once per file (`isolate: false`): every
// file starts its services afresh (per-service metric registries, a namespace per file), and
// importing them anew for each of 300 files took about 400 s of the workers' time in a run.
export default defineConfig({
  test: {
    sequence: { sequencer: SpreadSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{packages,services,simulators}/**/src/**/*.test.ts', 'bench/*.test.ts'],
          environment: 'node',
          setupFiles,
          isolate: false,
          // Pure, but some are property tests of hundreds of generated streams: on two cores other
          // test files share, one may take several times its quiet-machine time.
          testTimeout: 30_000,
          // Pure CPU, and alone on the machine while it runs (the other projects wait for it):
          // vitest's default on two cores is one worker, which left a core idle for its 40 s.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/test/**/*.int.test.ts', 'tests/**/*.test.ts'],
          environment: 'node',
          setupFiles,
          isolate: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          expect: expectServers,
          // Files share two cores and four servers; a unique namespace per file keeps them apart.
          // Most files spend their time waiting on the servers or a browser: three at a time keep the
          // two cores about 1.65 busy on average. Four at a time took 2 % less time and starved some
          // files' waits (a triage lane left 30 s behind).
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

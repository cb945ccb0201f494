import { defineConfig } from 'vitest/config';

/**
 * Files that run a whole stack of their own (every service, in the test's process or as child
 * processes, and servers of their own beside the shared ones) and keep both cores busy by
 * themselves. Two of them side by side each took twice to three times as long as alone, and
 * with no timings cached (a fresh clone) vitest runs small files last, so they met at the end.
 */
const WHOLE_STACK = ['tests/scenarios/*.int.test.ts', 'tests/faults/*.int.test.ts'];

/** The property tests' seed, from `PROPERTY_SEED` (see the file). */
const setupFiles = ['packages/testkit/src/property-seed.ts'];

/**
 * `expect.poll` waits for a condition on real servers, a browser or a service under load: vitest's
 * default (1 s) failed an accept that took a little longer on a loaded run. A wait that fails means
 * the condition did not come in 10 s; each poll of a page or an API costs CPU, so not every 50 ms.
 */
const expectServers = { poll: { timeout: 10_000, interval: 100 } };

// One vitest setup, three projects: `unit` is pure and fast; `integration` talks to the real
// Mosquitto, NATS, Redis and PostgreSQL on loopback (see infra/servers.sh); `whole-stack` runs
// the files above one at a time once `integration` is done.
// A test file's modules are loaded once per worker, not once per file (`isolate: false`): every
// file starts its services afresh (per-service metric registries, a namespace per file), and
// importing them anew for each of 300 files took about 400 s of the workers' time in a run.
export default defineConfig({
  test: {
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
          exclude: ['**/node_modules/**', ...WHOLE_STACK],
          environment: 'node',
          setupFiles,
          isolate: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          expect: expectServers,
          // Files share two cores and four servers; a unique namespace per file keeps them apart.
          // Most files spend their time waiting on the servers, so three at a time keep both cores
          // busy without starving any file's timers.
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'whole-stack',
          include: WHOLE_STACK,
          environment: 'node',
          setupFiles,
          isolate: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
          expect: expectServers,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});

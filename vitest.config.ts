import { defineConfig } from 'vitest/config';

// One vitest setup, two projects: `unit` is pure and fast; `integration` talks to the real
// Mosquitto, NATS, Redis and PostgreSQL on loopback (see infra/servers.sh).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{packages,services,simulators}/**/src/**/*.test.ts'],
          environment: 'node',
          // Pure, but some are property tests of hundreds of generated streams: on two cores other
          // test files share, one may take several times its quiet-machine time.
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/test/**/*.int.test.ts', 'tests/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // Files share two cores and four servers; a unique namespace per file keeps them apart.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

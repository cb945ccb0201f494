// Prints `N passed, N failed, N skipped` from a vitest JSON report (Jest-compatible fields).
// A missing or unreadable report means vitest crashed: `0 passed, 1 failed, 0 skipped`, exit 1.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
const count = (value) => (Number.isInteger(value) && value >= 0 ? value : 0);

let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`ci: no usable vitest report at ${file}: ${err instanceof Error ? err.message : err}`);
}

if (report === null || typeof report !== 'object' || typeof report.numPassedTests !== 'number') {
  console.log(`0 passed, ${1 + count(Number(process.env.STATIC_FAILED ?? 0))} failed, 0 skipped`);
  process.exit(1);
}

const passed = count(report.numPassedTests);
// A test file that fails to load, or whose set-up fails (its tests then read as skipped), has no
// failed test in it but must still fail the summary.
const brokenSuites = Array.isArray(report.testResults)
  ? report.testResults.filter(
      (suite) =>
        suite?.status === 'failed' &&
        !(suite.assertionResults ?? []).some((test) => test?.status === 'failed'),
    ).length
  : 0;
// Failed static checks (typecheck, lint) reported by .ci/run.
const staticFailed = count(Number(process.env.STATIC_FAILED ?? 0));
const failed = count(report.numFailedTests) + brokenSuites + staticFailed;
const skipped = count(report.numPendingTests) + count(report.numTodoTests);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);

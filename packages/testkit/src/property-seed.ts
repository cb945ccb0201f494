import fc from 'fast-check';

/**
 * vitest setup: the property tests' seed. `PROPERTY_SEED` (a number, or hex digits such as a commit
 * id's first eight, which `pnpm test` passes) makes every run of one commit generate the same cases,
 * so a failure CI meets is met again on that commit; `random` (or unset, as under a bare `vitest`)
 * leaves fast-check a new seed each run. A failure prints the seed and the path to replay it either
 * way. A test that sets its own seed keeps it.
 */
const given = process.env.PROPERTY_SEED?.trim();
if (given && given !== 'random') {
  const seed = /^\d+$/.test(given) ? Number(given) : Number.parseInt(given, 16);
  if (!Number.isSafeInteger(seed))
    throw new Error(`PROPERTY_SEED must be a number, hex digits or "random": ${given}`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: seed | 0 });
}

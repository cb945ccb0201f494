import { parseArgs } from 'node:util';
import { names } from '@telecare/contracts';
import { createLogger, createPool, migrate } from '@telecare/platform';
import type { ReportsConfig } from './config.ts';
import { readRegistryCohort } from './registry.ts';
import { applySeed, DEMO_DISTRICTS, type SeedOptions } from './seed.ts';
import { MIGRATIONS } from './service.ts';
import { ReportsStore } from './store.ts';

/** The calendar months before this one: [first day of `months` ago, first day of this month). */
export function lastMonths(now: Date, months: number): { from: Date; to: Date } {
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - months, 1));
  return { from, to };
}

/**
 * The registry's residents installed before `to`, by id and district, to simulate activity for;
 * the registry is read with the reports service's own token.
 */
async function registryPeople(config: ReportsConfig, to: Date): Promise<SeedOptions['people']> {
  const { REGISTRY_URL: url, REPORTS_REGISTRY_TOKEN: token } = config;
  if (!url || !token)
    throw new Error('--people registry needs REGISTRY_URL and REPORTS_REGISTRY_TOKEN: the registry is read');
  const { residents } = await readRegistryCohort(url, token);
  return residents
    .filter((r) => r.firstInstalledAt !== null && new Date(r.firstInstalledAt) < to)
    .map((r) => ({ residentId: r.residentId, district: r.postcodeDistrict }));
}

/**
 * `reports seed [--months 2] [--residents 600] [--seed 1] [--people registry]`: simulated activity
 * for the last whole months across the demonstration's twelve districts, written into the read
 * model and recorded so a rebuild writes it again (see seed.ts). `--people registry`: for the
 * registry's installed residents instead of made-up ones.
 */
export async function seedCommand(
  config: ReportsConfig,
  args: readonly string[],
): Promise<{ from: Date; to: Date }> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      months: { type: 'string', default: '2' },
      residents: { type: 'string', default: '600' },
      seed: { type: 'string', default: '1' },
      people: { type: 'string' },
    },
  });
  if (values.people !== undefined && values.people !== 'registry')
    throw new Error(`--people: only "registry" is known, not ${JSON.stringify(values.people)}`);
  const months = Math.min(24, Math.max(1, Number(values.months) || 2));
  const residents = Math.min(20_000, Math.max(10, Number(values.residents) || 600));
  const period = lastMonths(new Date(), months);
  const logger = createLogger('reports', config.LOG_LEVEL);
  const schema = names(config.TELECARE_NAMESPACE).schema('reports');
  await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger, tls: config.TELECARE_TLS_CA });
  const pool = createPool({
    url: config.DATABASE_URL,
    logger,
    name: 'reports-seed',
    tls: config.TELECARE_TLS_CA,
  });
  // Simulated data a crash may lose: no waiting for the disk at each of its thousands of commits.
  pool.on('connect', (client) => void client.query('set synchronous_commit = off').catch(() => undefined));
  try {
    const people = values.people === 'registry' ? await registryPeople(config, period.to) : undefined;
    const messages = await applySeed(
      new ReportsStore(pool, schema),
      {
        ...period,
        residents: people?.length || residents,
        districts: DEMO_DISTRICTS,
        seed: Number(values.seed) || 1,
        ...(people?.length ? { people } : {}),
      },
      new Date(),
    );
    logger.info(
      {
        people: people?.length ? 'registry' : 'made up',
        from: period.from.toISOString(),
        to: period.to.toISOString(),
        events: messages.events.length,
        alerts: messages.alerts.length,
        caseSteps: messages.steps.length,
      },
      'simulated activity written to the reports read model',
    );
    return period;
  } finally {
    await pool.end();
  }
}

import { fileURLToPath } from 'node:url';
import { names, type SecurityEvent } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upgradeSchema } from '../src/schema-upgrade.ts';
import { SecurityEvents } from '../src/security.ts';

// The `at` of another service's security event is whatever its publisher wrote. A publisher holding
// NATS credentials must not pass the hourly cap by dating its events an hour apart, nor far ahead
// or far behind: the cap counts what the helpline stored in the last hour by the database's clock.

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const logger = createLogger('seccap-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ns = uniqueNamespace('seccap');
const schema = names(ns).schema('helpline');
const HOUR = 3_600_000;
let pool: pg.Pool;
let security: SecurityEvents;
let counter = 0;

const event = (service: string, at: Date): [SecurityEvent, string] => {
  counter += 1;
  return [
    {
      id: null,
      at: at.toISOString(),
      service,
      kind: 'dc09-frame-forged',
      userId: null,
      caseId: null,
      detail: { serial: `DC09-CAP${counter}` },
    },
    `sec_cap_${counter}`,
  ];
};

beforeAll(async () => {
  await upgradeSchema({ url: servers.databaseUrl, schema, dir: MIGRATIONS, logger });
  pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 2 });
  security = new SecurityEvents(pool, schema, logger);
});

afterAll(async () => {
  await pool?.end();
  await cleanupNamespace(ns);
});

describe("the hourly cap on another service's security events", () => {
  it('counts them by when they were stored, whatever time their publisher wrote', async () => {
    const now = Date.now();
    // One an hour apart in the publisher's time, the next ones a year ahead and fifty years behind.
    const dated = [
      new Date(now),
      new Date(now - HOUR),
      new Date(now - 2 * HOUR),
      new Date(now + 365 * 24 * HOUR),
      new Date(0),
      new Date(now + 5 * HOUR),
    ];
    const outcomes = [];
    for (const at of dated) outcomes.push(await security.store(...event('gateway-dc09', at), 2));
    expect(outcomes).toEqual(['stored', 'stored', 'capped', 'capped', 'capped', 'capped']);
    // Every unknown name shares one cap, counted the same way.
    const rogue = [];
    for (const [i, at] of [new Date(0), new Date(now + 24 * HOUR), new Date(now - 3 * HOUR)].entries())
      rogue.push(await security.store(...event(`rogue-${i}`, at), 2));
    expect(rogue).toEqual(['stored', 'stored', 'capped']);
    // A known service's cap is its own: another gateway still has its two.
    expect(await security.store(...event('gateway-mqtt', new Date(now + 9 * HOUR)), 2)).toBe('stored');
    // A stored event keeps the time its publisher gave it, for the list.
    const listed = await security.list(50);
    expect(listed.filter((e) => e.service === 'gateway-dc09').map((e) => e.at)).toEqual(
      expect.arrayContaining([new Date(now).toISOString(), new Date(now - HOUR).toISOString()]),
    );
    expect(listed.filter((e) => e.service.startsWith('rogue-')).map((e) => e.at)).toEqual(
      expect.arrayContaining([new Date(0).toISOString(), new Date(now + 24 * HOUR).toISOString()]),
    );
  });

  it('lists the newest stored first, so events dated far ahead cannot hold the top of the list', async () => {
    await security.store(...event('gateway-mqtt', new Date(Date.now() - 10 * 24 * HOUR)), 600);
    const [first] = await security.list(1);
    expect(first?.detail).toEqual({ serial: `DC09-CAP${counter}` });
  });
});

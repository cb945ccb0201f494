import { ambiguousTimeReason, type TelecareEvent } from '@telecare/contracts';
import { createLogger, createRedis, ManualClock, type Redis } from '@telecare/platform';
import { parseRuleSet } from '@telecare/rules';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTriage, type TriageHandle } from '../src/index.ts';
import {
  chairRule,
  drained,
  dropTriageNamespace,
  makeEvent,
  publishEvent,
  readAlerts,
  T0,
  triageTestbed,
} from './support.ts';

/**
 * An event whose time could mean another instant too (`alttime`) starts a timed check; triage is
 * restarted before the check is due, so the resident's state is read back from Redis, and the
 * alert the check decides still says the time is uncertain.
 */
const PARTITIONS = 1;
const logger = createLogger('uncertain-time-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const { n, config, connect } = triageTestbed('uncertaintime', PARTITIONS, logger);
const clock = new ManualClock(T0);
const RULES = parseRuleSet({ version: 1, rules: [chairRule(600)] });
const start = () => startTriage(config, { logger, clock, ruleSet: RULES });

let conn: Awaited<ReturnType<typeof connect>>;
let redis: Redis;
let triage: TriageHandle | undefined;

beforeAll(async () => {
  conn = await connect();
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'uncertain-time-test' });
  triage = await start();
});

afterAll(async () => {
  await triage?.close();
  await dropTriageNamespace(conn.nc, n);
  await redis?.quit();
  await conn?.nc.close();
});

const sat = (residentId: string, alttime?: string): TelecareEvent => ({
  ...makeEvent({
    residentId,
    type: 'chair.occupied',
    deviceEventId: `chair-${residentId}`,
    partitions: PARTITIONS,
    serial: `CS-${residentId}`,
    devicekind: 'chair-sensor',
  }),
  ...(alttime ? { alttime } : {}),
});

describe('an uncertain event time across a triage restart', () => {
  it('the alert a timer decides after the state was read back from Redis says the time is uncertain', async () => {
    const alttime = new Date(T0 - 3_601_000).toISOString();
    const unsure = sat('res_alt_unsure', alttime);
    const sure = sat('res_alt_sure');
    for (const event of [unsure, sure]) await publishEvent(conn.js, n, event);
    await drained(conn.jsm, n, PARTITIONS);
    // Stored with the state in Redis, not only held in memory.
    const rows = await redis.lrange(`${n.redisPrefix}triage:state:v4:res_alt_unsure`, 0, -1);
    expect(rows.some((row) => row.includes(alttime))).toBe(true);

    await triage?.close();
    triage = undefined;
    clock.advance(15 * 60_000);
    triage = await start();

    const alerts = await waitFor(
      async () => {
        const raised = (await readAlerts(conn.jsm, n)).filter((a) => a.alert.type === 'chair.too-long');
        return raised.length >= 2 ? raised : undefined;
      },
      { what: 'both chair checks to fire after the restart', timeoutMs: 15_000 },
    );
    const reasonOf = (event: TelecareEvent) =>
      alerts.find((a) => a.alert.evidence.includes(event.id))?.alert.reason;
    expect(reasonOf(unsure)).toContain(ambiguousTimeReason(alttime));
    expect(reasonOf(sure)).toBeDefined();
    expect(reasonOf(sure)).not.toContain('time uncertain');
  });
});

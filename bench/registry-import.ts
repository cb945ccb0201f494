import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { names } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import { loadRegistryConfig, startRegistry } from '@telecare/registry';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  servers,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
} from '@telecare/testkit';
import pg from 'pg';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 20_000);
/** Devices per resident: each device is paired, so each has a device-map entry to publish. */
const PER_RESIDENT = 4;
/** The windowed run's `REGISTRY_PUBLISH_WINDOW` (the registry's default unless told). */
const WINDOW = process.env.BENCH_PUBLISH_WINDOW;
/** `off`: no broker credentials (only the device map follows the commit). */
const BROKER = process.env.BENCH_BROKER !== 'off' && DYNSEC_PLUGIN !== undefined;

/** The two files of one import: `DEVICES` pendants, `PER_RESIDENT` to a resident. */
function files(tag: string): { residents: string; devices: string } {
  const residents = ['ref,name,address,postcode'];
  const devices = ['serial,kind,resident'];
  for (let r = 0; r < Math.ceil(DEVICES / PER_RESIDENT); r++)
    residents.push(`R${tag}${r},Resident ${r},${r} Road,GL${(r % 9) + 1} 2AB`);
  for (let d = 0; d < DEVICES; d++)
    devices.push(`PND-${tag}${d},pendant,R${tag}${Math.floor(d / PER_RESIDENT)}`);
  return { residents: `${residents.join('\n')}\n`, devices: `${devices.join('\n')}\n` };
}

/**
 * Seconds from `t0` until the import's devices are visible in PostgreSQL (its commit), watched
 * from a connection of its own every 100 ms while the request runs; undefined if the answer came
 * first (a refused import).
 */
async function committedAfter(
  schema: string,
  t0: number,
  answered: () => boolean,
): Promise<number | undefined> {
  const db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  try {
    while (!answered()) {
      const { rows } = await db
        .query<{ n: number }>(`select count(*)::int as n from "${schema}".devices`)
        .catch(() => ({ rows: [{ n: 0 }] }));
      if ((rows[0]?.n ?? 0) >= DEVICES) return (performance.now() - t0) / 1000;
      await sleep(100);
    }
    return undefined;
  } finally {
    await db.end();
  }
}

/**
 * One `POST /api/import` of `BENCH_DEVICES` (20,000) paired pendants into a registry of its own
 * namespace, with broker credentials on (a dynamic-security Mosquitto of its own) unless
 * `BENCH_BROKER=off`: the request's time from send to answer, which takes in the commit, the
 * broker's clients and every device-map entry; and, watched from PostgreSQL, from send to the
 * commit (the check, the write transaction and, with credentials, the broker logins), the rest
 * being the publishing after it. The baseline is the same import with one device at a time
 * (`REGISTRY_PUBLISH_WINDOW=1`, `REGISTRY_BROKER_BATCH=1`), same run.
 */
const benchmark: Benchmark = {
  description: `a ${DEVICES}-device import, broker credentials ${BROKER ? 'on' : 'off'}: one device at a time against the windowed, batched publish (s)`,
  async run(log) {
    const logger = createLogger('bench-registry-import', 'silent');
    const once = async (label: string, extra: Record<string, string>) => {
      const ns = uniqueNamespace('benchimport');
      let broker: DynsecMosquitto | undefined;
      if (BROKER)
        broker = await startDynsecMosquitto({ adminPassword: 'bench-admin-secret', label: 'benchimp' });
      const env = serviceEnv(ns, {
        REGISTRY_PORT: '0',
        REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
        ...(broker ? { MQTT_ADMIN_URL: broker.adminUrl } : {}),
        ...extra,
      });
      const registry = await startRegistry(loadRegistryConfig(env), { logger });
      try {
        const body = JSON.stringify(files(label.slice(0, 1).toUpperCase()));
        const t0 = performance.now();
        let answered = false;
        const committed = committedAfter(names(ns).schema('registry'), t0, () => answered);
        const res = await fetch(`${registry.url}/api/import`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}`,
            'content-type': 'application/json',
          },
          body,
        });
        const answer = (await res.json()) as { devices?: unknown[]; credentials?: unknown[] };
        const seconds = (performance.now() - t0) / 1000;
        answered = true;
        const commitS = (await committed) ?? seconds;
        if (res.status !== 200 || answer.devices?.length !== DEVICES)
          throw new Error(`${label}: import answered ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
        const metrics = await (await fetch(`${registry.url}/metrics`)).text();
        const written = /registry_device_map_puts_total\{[^}]*outcome="written"[^}]*\} (\d+)/.exec(
          metrics,
        )?.[1];
        log(
          `${label}: ${round(seconds, 1)} s (${round((seconds * 1000) / DEVICES, 2)} ms a device), ` +
            `committed after ${round(commitS, 1)} s, published in ${round(seconds - commitS, 1)} s after it; ` +
            `${written ?? '?'} device-map entries written, ${answer.credentials?.length ?? 0} broker logins`,
        );
        return { seconds, commitS };
      } finally {
        await registry.close();
        broker?.stop();
        await cleanupNamespace(ns).catch(() => undefined);
      }
    };
    const baseline = await once('one at a time', {
      REGISTRY_PUBLISH_WINDOW: '1',
      REGISTRY_BROKER_BATCH: '1',
    });
    const windowed = await once('windowed', WINDOW === undefined ? {} : { REGISTRY_PUBLISH_WINDOW: WINDOW });
    const ratio = baseline.seconds / windowed.seconds;
    log(`one at a time / windowed: ${round(ratio, 2)}x`);
    return {
      devices: DEVICES,
      broker: BROKER ? 'on' : 'off',
      one_at_a_time_s: round(baseline.seconds, 2),
      windowed_s: round(windowed.seconds, 2),
      one_at_a_time_commit_s: round(baseline.commitS, 2),
      windowed_commit_s: round(windowed.commitS, 2),
      one_at_a_time_vs_windowed_ratio: round(ratio, 2),
    };
  },
};

export default benchmark;

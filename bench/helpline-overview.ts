import { eventIdOfKey, names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import { loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { connectNats, createLogger, ensureStreams, jetstream, jetstreamManager } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const BACKLOG = Number(process.env.BENCH_UNMAPPED ?? 20_000);
const SCREENS = Number(process.env.BENCH_SCREENS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

/**
 * The supervisor's overview (`GET /api/supervisor/overview`, every 5 s per supervisor screen) with
 * `BENCH_UNMAPPED` (20,000) unmapped DC-09 codes on EVENTS in its window: one screen polling, then
 * `BENCH_SCREENS` (8) polling at once. The baseline is the same poll with EVENTS empty, same run.
 */
const benchmark: Benchmark = {
  description: `supervisor overview polls with ${BACKLOG} unmapped codes on EVENTS, 1 and ${SCREENS} screens at once (ms)`,
  async run(log) {
    const ns = uniqueNamespace('benchoverview');
    const n = names(ns);
    const env = serviceEnv(ns, { HELPLINE_PORT: '0', LOG_LEVEL: 'silent' });
    const logger = createLogger('bench-overview', 'silent');
    const nc = await connectNats({ url: servers.natsUrl, name: 'bench-overview', logger });
    const js = jetstream(nc);
    await ensureStreams(await jetstreamManager(nc), n, ['events']);
    const helpline = await startHelpline(loadHelplineConfig(env), { logger });
    const poll = async () => {
      const t0 = performance.now();
      const r = await fetch(`${helpline.url}/api/supervisor/overview`, {
        headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
      });
      const body = (await r.json()) as { unmappedCodes: { byCode: { count: number }[] } };
      const read = body.unmappedCodes.byCode.reduce((sum, c) => sum + c.count, 0);
      return { ms: performance.now() - t0, read };
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    const measure = async (label: string) => {
      const one: number[] = [];
      let read = 0;
      for (let i = 0; i < ROUNDS; i++) {
        const p = await poll();
        one.push(p.ms);
        read = p.read;
      }
      const many: number[] = [];
      const walls: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const t0 = performance.now();
        const polls = await Promise.all(Array.from({ length: SCREENS }, poll));
        walls.push(performance.now() - t0);
        many.push(...polls.map((p) => p.ms));
      }
      log(
        `${label}: first poll ${round(one[0] ?? Number.NaN, 1)} ms; one screen ${round(median(one), 1)} ms a poll (codes counted ${read}); ` +
          `${SCREENS} at once ${round(median(many), 1)} ms a poll, ${round(median(walls), 1)} ms for all`,
      );
      return { first: one[0] ?? Number.NaN, one: median(one), many: median(many), wall: median(walls) };
    };
    try {
      const empty = await measure('EVENTS empty');
      let published = 0;
      const t0 = performance.now();
      while (published < BACKLOG) {
        const batch: Promise<unknown>[] = [];
        for (let i = 0; i < 500 && published < BACKLOG; i++, published++) {
          const residentId = `res_bench_${published % 400}`;
          const serial = `DC09-B${published % 400}`;
          const at = new Date().toISOString();
          const event: TelecareEvent = {
            specversion: '1.0',
            id: eventIdOfKey(serial, `${ns}-${published}`),
            source: '/gateway-dc09',
            type: 'code.unmapped',
            subject: serial,
            time: at,
            datacontenttype: 'application/json',
            residentid: residentId,
            devicekind: 'home-unit',
            deviceeventid: `${ns}-${published}`,
            partition: partitionOf(residentId, 8),
            receivedat: at,
            testmode: false,
            sourcecode: `CID 1${published % 50}`,
            data: { note: `unmapped code from account B${published % 400}` },
          };
          batch.push(
            js.publish(n.subjects.event(event.partition, event.type), JSON.stringify(event), {
              msgID: event.id,
            }),
          );
        }
        await Promise.all(batch);
      }
      log(`published ${BACKLOG} unmapped codes in ${round((performance.now() - t0) / 1000, 1)} s`);
      const full = await measure(`${BACKLOG} on EVENTS`);
      log(`one screen, full / empty: ${round(full.one / empty.one, 1)}`);
      log(`${SCREENS} screens at once, all polls / one screen's poll: ${round(full.wall / full.one, 2)}`);
      return {
        emptyPollMs: round(empty.one, 1),
        fullFirstPollMs: round(full.first, 1),
        fullPollMs: round(full.one, 1),
        fullConcurrentPollMs: round(full.many, 1),
        fullConcurrentWallMs: round(full.wall, 1),
        fullOverEmpty: round(full.one / empty.one, 1),
        concurrentWallOverOne: round(full.wall / full.one, 2),
      };
    } finally {
      await helpline.close();
      await nc.close();
      await cleanupNamespace(ns);
    }
  },
};

export default benchmark;

import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { eventIdOfKey, type TelecareEvent } from '@telecare/contracts';
import { createLogger, createRedis, type Redis } from '@telecare/platform';
import {
  DEFAULT_RULE_SET,
  encodeStateChange,
  encodeStateList,
  evaluate,
  initialState,
  type ResidentState,
  type StoredLayout,
} from '@telecare/rules';
import { StateStore } from '@telecare/triage';
import { type Home, mixEvent, pickMix } from './lib/load.ts';
import { machineLine, sampleProcess } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: {
    homes: { type: 'string' },
    events: { type: 'string' },
    rounds: { type: 'string' },
  },
  strict: true,
});

/** Each device of a bench home: its kind and where it is (as `bench triage` sends them). */
const DEVICES: Record<string, { kind: string; location: string }> = {
  hub: { kind: 'home-unit', location: 'hall' },
  pir: { kind: 'pir', location: 'lounge' },
  door: { kind: 'door-contact', location: 'front door' },
  bed: { kind: 'bed-sensor', location: 'bedroom' },
  chair: { kind: 'chair-sensor', location: 'lounge' },
  temp: { kind: 'temperature-sensor', location: 'lounge' },
};
/** Saves in flight at once, each of another resident (as a partition lane holds 16 events). */
const IN_FLIGHT = 16;

interface Save {
  readonly before: ResidentState;
  readonly after: ResidentState;
}

/** The states the rules core gives for `bench triage`'s mix, event by event (each save's before and after). */
function saves(homeCount: number, perHome: number): Save[] {
  const states = new Map<string, ResidentState>();
  const toggled = new Set<string>();
  const out: Save[] = [];
  const t0 = Date.now() - homeCount * perHome * 10;
  for (let i = 0; i < homeCount * perHome; i++) {
    const h = i % homeCount;
    const residentId = `res_save${h}`;
    const { device } = pickMix(((i * 7919) % 10_007) / 10_007);
    const serial = `SAVE${h}-${device}`;
    const { type, data = {} } = mixEvent(device as keyof Home, serial, toggled);
    const at = t0 + i * 10;
    const time = new Date(at).toISOString();
    const event = {
      specversion: '1.0',
      id: eventIdOfKey(serial, `d${i}`),
      source: '/bench',
      type,
      subject: serial,
      time,
      datacontenttype: 'application/json',
      residentid: residentId,
      devicekind: DEVICES[device]?.kind,
      location: DEVICES[device]?.location,
      deviceeventid: `d${i}`,
      partition: 0,
      receivedat: time,
      testmode: false,
      postcodedistrict: 'GL1',
      data,
    } as TelecareEvent;
    const before = states.get(residentId) ?? initialState(residentId);
    const after = evaluate(before, { kind: 'event', event, now: at + 5 }, DEFAULT_RULE_SET).state;
    if (after === before) continue;
    states.set(residentId, after);
    out.push({ before, after });
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const probe = await createRedis({
      url: `redis://127.0.0.1:${port}`,
      logger: createLogger('bench-triage-save', 'silent'),
      name: 'probe',
    }).catch(() => undefined);
    if (probe) {
      probe.disconnect();
      return child;
    }
  }
  child.kill();
  throw new Error('own redis-server did not start');
}

/** Each save as triage makes it: in a pipeline of its own, the script's answer handed back. */
async function saveAll(
  redis: Redis,
  store: StateStore,
  batch: readonly Save[],
  whole: boolean,
): Promise<void> {
  for (let i = 0; i < batch.length; i += IN_FLIGHT)
    await Promise.all(
      batch.slice(i, i + IN_FLIGHT).map(async ({ before, after }) => {
        const pipeline = redis.pipeline();
        const then = store.saveIn(pipeline, whole ? undefined : before, after);
        const replies = await pipeline.exec();
        await then(replies?.[0] ?? [null, null]);
      }),
    );
}

/**
 * The encode alone of the same saves (no Redis): each home's list written whole once, then each
 * save's change (or the whole list where a change cannot be written). CPU seconds of this process.
 */
function encodeOnly(warm: readonly Save[], measured: readonly Save[]): number {
  const layouts = new Map<string, StoredLayout>();
  const encode = ({ before, after }: Save) => {
    const layout = layouts.get(after.residentId);
    const change = layout === undefined ? undefined : encodeStateChange(layout, before, after);
    layouts.set(after.residentId, (change ?? encodeStateList(after)).layout);
  };
  for (const save of warm) encode(save);
  const started = process.cpuUsage();
  for (const save of measured) encode(save);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1e6;
}

/**
 * The state's save alone, as triage makes it (`StateStore.saveIn` in a pipeline, 16 residents in
 * flight) against a Redis of its own, for `bench triage`'s mix: `--homes` (50) homes of `--events`
 * (800) events each, evaluated by the rules core first (not timed). Measured: the saves of states
 * whose `recent` is full, CPU per save of this process and of Redis, and the change's encode alone.
 * Baseline in the same run: the same saves written whole, in alternated blocks.
 */
const benchmark: Benchmark = {
  description:
    "the state's save with a resident's recent list full: CPU per save (Node and Redis), against writing the same states whole",
  async run(log) {
    const homeCount = Number(args.homes ?? 50);
    const perHome = Number(args.events ?? 800);
    const rounds = Number(args.rounds ?? 4);
    log(machineLine());
    const all = saves(homeCount, perHome);
    const keep = DEFAULT_RULE_SET.settings.keepEvents;
    // Measured: every save once each home's `recent` has reached its bound (it stays there, give or
    // take a heartbeat pruned).
    const filled = new Set<string>();
    let fillUntil = -1;
    for (let i = 0; i < all.length && filled.size < homeCount; i++) {
      const { before } = all[i] as Save;
      if (before.recent.length >= keep) filled.add(before.residentId);
      fillUntil = i + 1;
    }
    if (filled.size < homeCount) throw new Error('a home never filled its recent list: more events a home');
    const warm = all.slice(0, fillUntil);
    const measured = all.slice(fillUntil);
    if (measured.length === 0) throw new Error('nothing left to measure: more events a home');
    const meanRecent = measured.reduce((sum, { before }) => sum + before.recent.length, 0) / measured.length;
    log(
      `${all.length} saves; ${warm.length} to fill every home's recent list, ${measured.length} measured (recent ${round(meanRecent, 1)} events on average)`,
    );

    const port = await freePort();
    const server = await startRedis(port);
    const logger = createLogger('bench-triage-save', 'silent');
    const redis = await createRedis({ url: `redis://127.0.0.1:${port}`, logger, name: 'bench-triage-save' });
    try {
      const changes = new StateStore(redis, 'change:', logger);
      const wholes = new StateStore(redis, 'whole:', logger);
      await saveAll(redis, changes, warm, false);
      await saveAll(redis, wholes, warm, true);
      const blockSize = Math.ceil(measured.length / rounds);
      const totals = {
        change: { node: 0, redis: 0, bytes: 0, saves: 0 },
        whole: { node: 0, redis: 0, bytes: 0, saves: 0 },
      };
      const redisCpu = () => sampleProcess(server.pid as number)?.cpuS ?? Number.NaN;
      const received = async () =>
        Number(/total_net_input_bytes:(\d+)/.exec(await redis.info('stats'))?.[1] ?? Number.NaN);
      for (let r = 0; r < rounds; r++) {
        const block = measured.slice(r * blockSize, (r + 1) * blockSize);
        for (const mode of r % 2 === 0 ? (['change', 'whole'] as const) : (['whole', 'change'] as const)) {
          const bytesBefore = await received();
          const redisBefore = redisCpu();
          const nodeBefore = process.cpuUsage();
          await saveAll(redis, mode === 'change' ? changes : wholes, block, mode === 'whole');
          const node = process.cpuUsage(nodeBefore);
          const total = totals[mode];
          total.node += (node.user + node.system) / 1e6;
          total.redis += redisCpu() - redisBefore;
          total.saves += block.length;
          total.bytes += (await received()) - bytesBefore;
        }
      }
      // The encode alone, as many rounds as the saves had.
      let encodeS = 0;
      for (let r = 0; r < rounds; r++) encodeS += encodeOnly(warm, measured);
      const encodeUs = (encodeS / (rounds * measured.length)) * 1e6;
      const bytes = await redis.memory('USAGE', changes.key('res_save0'));
      const perSave = (mode: 'change' | 'whole') => {
        const t = totals[mode];
        const node = (t.node / t.saves) * 1e6;
        const inRedis = (t.redis / t.saves) * 1e6;
        return { node, redis: inRedis, total: node + inRedis, bytes: t.bytes / t.saves };
      };
      const change = perSave('change');
      const whole = perSave('whole');
      log(
        `change: ${round(change.total, 1)} µs CPU a save (Node ${round(change.node, 1)}, Redis ${round(change.redis, 1)}), ${Math.round(change.bytes)} B sent`,
      );
      log(
        `whole:  ${round(whole.total, 1)} µs CPU a save (Node ${round(whole.node, 1)}, Redis ${round(whole.redis, 1)}), ${Math.round(whole.bytes)} B sent`,
      );
      log(`change / whole: ${round(change.total / whole.total, 3)}; a home's list in Redis ${bytes} B`);
      log(`the change's encode alone (no Redis): ${round(encodeUs, 1)} µs CPU a save`);
      return {
        saves_measured: measured.length,
        change_us_per_save: round(change.total, 1),
        change_node_us_per_save: round(change.node, 1),
        change_redis_us_per_save: round(change.redis, 1),
        change_bytes_per_save: Math.round(change.bytes),
        whole_us_per_save: round(whole.total, 1),
        whole_node_us_per_save: round(whole.node, 1),
        whole_redis_us_per_save: round(whole.redis, 1),
        whole_bytes_per_save: Math.round(whole.bytes),
        change_vs_whole_ratio: round(change.total / whole.total, 3),
        change_encode_us_per_save: round(encodeUs, 1),
        list_bytes: Number(bytes ?? 0),
      };
    } finally {
      redis.disconnect();
      server.kill();
    }
  },
};

export default benchmark;

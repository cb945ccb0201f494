import { eventIdOfKey, partitionOf, type TelecareEvent } from '@telecare/contracts';
import { Counter, createLogger, jetstream, jetstreamManager } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnmappedCodesReader } from '../src/unmapped.ts';
import { helplineHarness } from './harness.ts';

// Every supervisor screen polls the overview every 5 s, and each poll read the window's unmapped
// DC-09 codes from EVENTS afresh (up to 20,000 messages). N screens must cost about one read.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let sup: { id: string; cookie: string };
let n = 0;

beforeAll(async () => {
  h = await helplineHarness('ovunmapped');
  await h.start();
  await h.ensureEvents();
  sup = await h.user('sup', 'supervisor');
});
afterAll(() => h?.close());

async function unmapped(count: number) {
  const sent: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    n += 1;
    const residentId = `res_ov_${n % 7}`;
    const serial = `DC09-OV${n % 7}`;
    const at = new Date().toISOString();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdOfKey(serial, `${h.ns}-${n}`),
      source: '/gateway-dc09',
      type: 'code.unmapped',
      subject: serial,
      time: at,
      datacontenttype: 'application/json',
      residentid: residentId,
      devicekind: 'home-unit',
      deviceeventid: `${h.ns}-${n}`,
      partition: partitionOf(residentId, 8),
      receivedat: at,
      testmode: false,
      sourcecode: `CID 1${n % 3}`,
      data: { note: `unknown code ${n}` },
    };
    sent.push(h.publishEvent(event));
  }
  await Promise.all(sent);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const counter = async (name: string) => {
  const text = await (await fetch(new URL('/metrics', h.helpline.url))).text();
  // Default labels (service, instance) may follow the name.
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
};

type Overview = { unmappedCodes: { byCode: { count: number }[]; events: unknown[]; complete: boolean } };
const polls = (screens: number) =>
  Promise.all(
    Array.from({ length: screens }, async () => {
      const r = await h.api('/api/supervisor/overview', { as: sup.cookie });
      expect(r.status).toBe(200);
      const codes = (r.json as Overview).unmappedCodes;
      return { total: codes.byCode.reduce((sum, c) => sum + c.count, 0), codes };
    }),
  );

describe("the supervisor overview's unmapped codes", () => {
  it('N screens polling at once read EVENTS once, and later polls read only what is new', async () => {
    await unmapped(300);
    // Other events on EVENTS are never read for it.
    await h.deviceEvent('res_ov_1', 'DC09-OV1', 'heartbeat');
    const reads0 = await counter('helpline_unmapped_reads_total');
    const messages0 = await counter('helpline_unmapped_messages_read_total');

    const first = await polls(8);
    expect(first.map((p) => p.total)).toEqual(Array(8).fill(300));
    expect(first[0]?.codes.events).toHaveLength(100);
    expect(first[0]?.codes.complete).toBe(true);
    expect((await counter('helpline_unmapped_reads_total')) - reads0).toBe(1);
    expect((await counter('helpline_unmapped_messages_read_total')) - messages0).toBe(300);

    // The next round of polls, as 5 s later (a read answers the polls within a second of it).
    await unmapped(5);
    await pause(1_100);
    const second = await polls(8);
    expect(second.map((p) => p.total)).toEqual(Array(8).fill(305));
    // The newest first: the code just published heads the list.
    expect(second[0]?.codes.events[0]).toMatchObject({ note: `unknown code ${n}` });
    expect((await counter('helpline_unmapped_reads_total')) - reads0).toBe(2);
    expect((await counter('helpline_unmapped_messages_read_total')) - messages0).toBe(305);

    // A screen alone with nothing new reads nothing more from EVENTS.
    await pause(1_100);
    const third = await polls(1);
    expect(third[0]?.total).toBe(305);
    expect((await counter('helpline_unmapped_reads_total')) - reads0).toBe(3);
    expect((await counter('helpline_unmapped_messages_read_total')) - messages0).toBe(305);
  });

  it('an overview asked a moment before the read it shares is answered as of that read, complete', async () => {
    // Each overview takes its time before its sign-in and rate checks; under load a later one can
    // start the read that an earlier one then shares, whose window began a few ms before the read's.
    const counters = {
      reads: new Counter({ name: 'reads', help: 'reads', registers: [] }),
      messages: new Counter({ name: 'messages', help: 'messages', registers: [] }),
    };
    const reader = new UnmappedCodesReader(
      jetstream(h.nc),
      h.names,
      createLogger('unmapped-test', 'silent'),
      counters,
    );
    const now = Date.now();
    const [later, earlier] = await Promise.all([
      reader.read(new Date(now + 50), 24),
      reader.read(new Date(now), 24),
    ]);
    expect(later.complete).toBe(true);
    expect(earlier.complete).toBe(true);
    expect(earlier.byCode).toEqual(later.byCode);
  });

  it('starts over when EVENTS is deleted and made again under it (its sequence starts again from 1)', async () => {
    const before = await polls(1);
    expect(before[0]?.total).toBeGreaterThan(4);
    const jsm = await jetstreamManager(h.nc);
    await jsm.streams.delete(h.names.streams.events);
    await h.ensureEvents();
    // Fewer codes than before: the new stream's sequences stay below the last one read.
    await unmapped(4);
    await pause(1_100);
    const after = await polls(1);
    expect(after[0]?.total).toBe(4);
    expect(after[0]?.codes.events).toHaveLength(4);
    expect(after[0]?.codes.events[0]).toMatchObject({ note: `unknown code ${n}` });
    expect(after[0]?.codes.complete).toBe(true);
    // And it goes on from there: a code stored later is read.
    await unmapped(1);
    await pause(1_100);
    expect((await polls(1))[0]?.total).toBe(5);
  });
});

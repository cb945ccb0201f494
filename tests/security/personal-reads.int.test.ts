import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Who read whose name, address and phone number through the helpline. The registry logs each read
// of a resident's record with the calling token, and the helpline reads with its own: every
// operator's look at a case's resident (name, address, phone, responders, the numbers to call, the
// queue's names) was one anonymous "helpline" read. An operator paging through every case's context
// to copy addresses left no trace of who they were.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secreads', {}, { logLevel: 'info' });
});

afterAll(async () => {
  await p?.close();
});

const PERSONAL = ['Winifred Readlog', '1 Test Row, Gloucester', '01452 000000'];
const lines = () => p.logs.map((line) => JSON.parse(line) as Record<string, unknown>);

describe("reads of a resident's personal data at the helpline", () => {
  it('are logged with the person, the case and the resident, and never the data', async () => {
    const residentId = await p.resident('Winifred Readlog', '2468');
    const caseId = await p.caseFor(residentId);
    const operator = await p.user('reader@example.org', 'operator');

    const context = await p.helplineCall('GET', `/api/cases/${caseId}/context`, { as: operator.cookie });
    expect(context.status).toBe(200);
    expect(JSON.stringify(context.json)).toContain('Winifred Readlog');
    expect(
      (await p.helplineCall('GET', `/api/cases/${caseId}/call-targets`, { as: operator.cookie })).status,
    ).toBe(200);
    const names = await p.helplineCall('GET', '/api/queue/names', { as: operator.cookie });
    expect(names.json.names[residentId]).toBe('Winifred Readlog');

    const reads = lines().filter((l) => l.event === 'personal-data-read' && l.userId === operator.id);
    expect(reads).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          what: 'case-context',
          caseId,
          residentIds: [residentId],
          role: 'operator',
        }),
        expect.objectContaining({ what: 'call-targets', caseId, residentIds: [residentId] }),
        expect.objectContaining({ what: 'queue-names', residentIds: expect.arrayContaining([residentId]) }),
      ]),
    );
    for (const line of p.logs) for (const value of PERSONAL) expect(line).not.toContain(value);
  });

  it("log a case view outside the reader's own work (notes, responders called) and a device events read", async () => {
    const residentId = await p.resident('Winifred Viewlog', '1357');
    const caseId = await p.caseFor(residentId);
    const holder = await p.user('view.holder@example.org', 'operator');
    const reader = await p.user('view.reader@example.org', 'operator');
    expect(
      (await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: holder.cookie, body: {} })).status,
    ).toBe(200);
    expect(
      (
        await p.helplineCall('POST', `/api/cases/${caseId}/notes`, {
          as: holder.cookie,
          body: { text: 'her son Sam has the spare key' },
        })
      ).status,
    ).toBe(201);
    // The holder's own look at their case is their work: never limited, and logged all the same.
    expect((await p.helplineCall('GET', `/api/cases/${caseId}`, { as: holder.cookie })).status).toBe(200);
    const view = await p.helplineCall('GET', `/api/cases/${caseId}`, { as: reader.cookie });
    expect(view.status).toBe(200);
    expect(JSON.stringify(view.json)).toContain('spare key');
    expect((await p.helplineCall('GET', `/api/cases/${caseId}/timeline`, { as: reader.cookie })).status).toBe(
      200,
    );

    const readsBy = (userId: string) =>
      lines().filter((l) => l.event === 'personal-data-read' && l.userId === userId);
    expect(readsBy(reader.id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          what: 'case-view',
          caseId,
          residentIds: [residentId],
          role: 'operator',
          ground: 'outside',
        }),
        expect.objectContaining({ what: 'device-events', caseId, residentIds: [residentId] }),
      ]),
    );
    expect(readsBy(holder.id).filter((l) => l.what === 'case-view')).toEqual([
      expect.objectContaining({ caseId, residentIds: [residentId], ground: 'in-hand' }),
    ]);
    for (const line of p.logs) expect(line).not.toContain('spare key');
  });

  // The limit on reads outside one's own work spares the console's real work (the queue, a
  // supervisor's oversight of every open case): those reads used to leave no line at all, so a
  // supervisor could read every open case's notes and the responders called, unrecorded.
  it("log the reads the hourly limit spares: a case in the queue, a supervisor's look at any open case", async () => {
    const residentId = await p.resident('Winifred Oversight', '8642');
    const caseId = await p.caseFor(residentId);
    const operator = await p.user('queue.reader@example.org', 'operator');
    const supervisor = await p.user('oversight@example.org', 'supervisor');

    for (const as of [operator.cookie, supervisor.cookie]) {
      expect((await p.helplineCall('GET', `/api/cases/${caseId}`, { as })).status).toBe(200);
      expect((await p.helplineCall('GET', `/api/cases/${caseId}/notes`, { as })).status).toBe(200);
    }
    const accepted = await p.helplineCall('POST', `/api/cases/${caseId}/accept`, {
      as: operator.cookie,
      body: {},
    });
    expect(accepted.status).toBe(200);
    expect((await p.helplineCall('GET', `/api/cases/${caseId}`, { as: supervisor.cookie })).status).toBe(200);

    const readsBy = (userId: string) =>
      lines()
        .filter((l) => l.event === 'personal-data-read' && l.userId === userId && l.caseId === caseId)
        .map(({ what, ground, residentIds, role }) => ({ what, ground, residentIds, role }));
    expect(readsBy(operator.id)).toEqual([
      { what: 'case-view', ground: 'queue', residentIds: [residentId], role: 'operator' },
      { what: 'case-notes', ground: 'queue', residentIds: [residentId], role: 'operator' },
    ]);
    expect(readsBy(supervisor.id)).toEqual([
      { what: 'case-view', ground: 'queue', residentIds: [residentId], role: 'supervisor' },
      { what: 'case-notes', ground: 'queue', residentIds: [residentId], role: 'supervisor' },
      { what: 'case-view', ground: 'oversight', residentIds: [residentId], role: 'supervisor' },
    ]);
  });

  // The live stream sent every console each step of every open case as it was written, the
  // operators' notes and the responders called by name included: any signed-in person (or a
  // stolen session) kept a stream open and read every note of the floor, with no line of who read
  // what. The steps typed by a person now reach the case view only, which is logged.
  it('never carry the words of a note, a call record or a hold on the live stream', async () => {
    const residentId = await p.resident('Winifred Streamed', '9753');
    const caseId = await p.caseFor(residentId);
    const holder = await p.user('stream.holder@example.org', 'operator');
    const watcher = await p.user('stream.watcher@example.org', 'operator');
    const abort = new AbortController();
    const response = await fetch(`${p.helpline.url}/api/stream`, {
      headers: { cookie: watcher.cookie.slice('cookie:'.length) },
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    let received = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body as ReadableStream<Uint8Array>)
          received += decoder.decode(chunk, { stream: true });
      } catch {
        // the test ended the stream
      }
    })();
    try {
      await waitFor(() => received.includes('event: snapshot'), { what: 'the snapshot' });
      const write = (path: string, body: unknown) =>
        p.helplineCall('POST', `/api/cases/${caseId}/${path}`, { as: holder.cookie, body });
      expect((await write('accept', {})).status).toBe(200);
      expect((await write('notes', { text: 'spare key under the blue pot' })).status).toBe(201);
      expect(
        (
          await write('responder-calls', {
            responderId: 'rsp_streamed',
            name: 'Sam Streamed',
            result: 'accepted',
            note: 'coming over from Stroud',
          })
        ).status,
      ).toBe(201);
      // A call's end carries the operator's words about it too.
      const call = await write('calls', { party: 'resident' });
      expect(call.status).toBe(201);
      expect(
        (
          await write(`calls/${call.json.callId}/end`, {
            outcome: 'answered',
            note: 'she says the back door sticks',
          })
        ).status,
      ).toBe(201);
      expect(
        (
          await write('hold', {
            until: new Date(Date.now() + 600_000).toISOString(),
            reason: 'waiting for Sam',
          })
        ).status,
      ).toBe(200);
      const frames = () =>
        received
          .split('\n\n')
          .filter((f) => f.includes('event: case') && f.includes(`"id":"${caseId}"`))
          .map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { lastEvent?: { kind: string } });
      await waitFor(() => frames().some((c) => c.lastEvent?.kind === 'held'), { what: 'the hold streamed' });
      expect(frames().map((c) => c.lastEvent?.kind)).toEqual(
        expect.arrayContaining(['accepted', 'note', 'responder-called', 'call-ended', 'held']),
      );
    } finally {
      abort.abort();
      await reading;
    }
    for (const words of ['spare key', 'Sam Streamed', 'Stroud', 'back door sticks', 'waiting for Sam'])
      expect(received).not.toContain(words);
    // Nor in the case list; the case view (logged) has them.
    const list = await p.helplineCall('GET', '/api/cases?state=open', { as: watcher.cookie });
    expect(JSON.stringify(list.json)).toContain(caseId);
    expect(JSON.stringify(list.json)).not.toContain('waiting for Sam');
    const view = await p.helplineCall('GET', `/api/cases/${caseId}`, { as: watcher.cookie });
    expect(view.json.hold.reason).toBe('waiting for Sam');
    expect(JSON.stringify(view.json)).toContain('Sam Streamed');
  });

  // Starting a call answers with the number dialled (the resident's, a responder's): a supervisor
  // could call from any accepted case and be shown the number without reading the call targets,
  // and no line said who was shown whose number.
  it('log the number a started call shows', async () => {
    const residentId = await p.resident('Winifred Dialled', '1122');
    const caseId = await p.caseFor(residentId);
    const holder = await p.user('dial.holder@example.org', 'operator');
    const supervisor = await p.user('dial.supervisor@example.org', 'supervisor');
    expect(
      (await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: holder.cookie, body: {} })).status,
    ).toBe(200);
    const started = await p.helplineCall('POST', `/api/cases/${caseId}/calls`, {
      as: supervisor.cookie,
      body: { party: 'resident' },
    });
    expect(started.status).toBe(201);
    expect(started.json.uri).toMatch(/^tel:/);
    expect(lines().filter((l) => l.event === 'personal-data-read' && l.userId === supervisor.id)).toEqual([
      expect.objectContaining({
        what: 'call-number',
        caseId,
        residentIds: [residentId],
        role: 'supervisor',
        ground: 'oversight',
      }),
    ]);
  });
});

import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  activeTraceparent,
  inSpan,
  SpanKind,
  startTracing,
  type Tracing,
  traceIdOf,
} from '@telecare/platform';
import { Dc09Dialler, SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDc09Account, addHome } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let platform: RunningPlatform;
let device: SimulatedDevice;
let residentId: string;
let closeConsole: () => void = () => {};
const serial = `E2E-TRC-${Date.now().toString(36).toUpperCase()}`;

interface HelplineCaseView {
  readonly id: string;
  readonly residentId: string;
  readonly state: string;
  readonly offeredTo: string | null;
  readonly traceId: string | null;
}

/** A request to the helpline as `auth` (a header set: bearer or session cookie). */
async function helpline(path: string, auth: Record<string, string>, body?: unknown): Promise<Response> {
  return fetch(new URL(path, platform.helpline.url), {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/**
 * An operator signed in with a console open (the live stream, answered with one heartbeat), so the
 * helpline offers them the next case.
 */
async function operatorAtConsole(): Promise<{ id: string; auth: Record<string, string> }> {
  const admin = { authorization: `Bearer ${platform.token}` };
  const username = `op${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  const password = 'correct horse battery';
  const created = await helpline('/api/users', admin, {
    username,
    name: 'Trace Operator',
    role: 'operator',
    password,
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const login = await helpline('/api/login', {}, { username, password });
  const auth = { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '' };
  const abort = new AbortController();
  const stream = await fetch(new URL('/api/stream', platform.helpline.url), {
    headers: auth,
    signal: abort.signal,
  });
  expect(stream.status).toBe(200);
  closeConsole = () => abort.abort();
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  let hello: RegExpExecArray | null = null;
  while (!hello) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended before its hello');
    text += new TextDecoder().decode(value);
    hello = /event: hello\ndata: (.*)\n/.exec(text);
  }
  const { console: consoleId } = JSON.parse(hello[1] ?? '{}') as { console: string };
  const beat = await helpline('/api/presence/heartbeat', auth, { console: consoleId });
  expect(beat.status).toBe(200);
  void reader.closed.catch(() => undefined);
  return { id, auth };
}

beforeAll(async () => {
  // Before the services start, as a process's runService does: every service's spans go here.
  tracing = await startTracing({ serviceName: 'e2e', exporter });
  platform = await startPlatform('trace');
  residentId = await addHome(platform, serial);
  device = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    resendMs: 3_000,
  });
  await device.connect();
});

afterAll(async () => {
  closeConsole();
  await device?.close();
  await platform?.stop();
  await tracing?.shutdown();
});

const named = (spans: readonly ReadableSpan[], name: string, traceId: string) =>
  spans.filter((s) => s.name === name && s.spanContext().traceId === traceId);

const parentOf = (span: ReadableSpan | undefined) => span?.parentSpanContext?.spanId;

describe('the trace of one pendant press', () => {
  it('shows every hop, device to accept, each the child of the one before, and the case shows its trace id', async () => {
    const operator = await operatorAtConsole();
    let deviceTrace = '';
    await inSpan('device', 'device publish', { kind: SpanKind.PRODUCER }, async () => {
      deviceTrace = activeTraceparent() ?? '';
      await device.send('pendant.pressed', {}, { traceparent: deviceTrace });
    });
    const traceId = traceIdOf(deviceTrace) ?? '';
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const offered = await waitFor(
      async () => {
        const cases = await (await helpline('/api/cases?state=open', operator.auth)).json();
        const mine = (cases as HelplineCaseView[]).find((c) => c.residentId === residentId);
        return mine?.state === 'offered' ? mine : undefined;
      },
      { what: 'the case offered to the operator', timeoutMs: 15_000, intervalMs: 20 },
    );
    expect(offered.offeredTo).toBe(operator.id);
    expect(offered.traceId).toBe(traceId);
    const accepted = await helpline(`/api/cases/${offered.id}/accept`, operator.auth, {});
    expect(accepted.status).toBe(200);

    await waitFor(() => named(exporter.getFinishedSpans(), 'accept', traceId).length === 1, {
      what: 'the accept span',
    });
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const one = (name: string) => {
      const found = named(spans, name, traceId);
      expect(found.length, `${name} spans`).toBeGreaterThanOrEqual(1);
      return found[0] as ReadableSpan;
    };
    const press = one('device publish');
    const store = one('gateway store');
    const commit = one('case commit');
    const publish = named(spans, 'alert publish', traceId);
    expect(publish).toHaveLength(1);
    const alertPublish = publish[0];
    // An alarm is read by its own lane and by its partition's lane: both evaluate it, one raises it.
    const evaluations = named(spans, 'triage evaluate', traceId);
    const raising = evaluations.find((e) => e.spanContext().spanId === parentOf(alertPublish));

    expect(parentOf(press)).toBeUndefined();
    expect(parentOf(store)).toBe(press.spanContext().spanId);
    for (const e of evaluations) expect(parentOf(e)).toBe(store.spanContext().spanId);
    expect(raising).toBeDefined();
    expect(parentOf(commit)).toBe(alertPublish?.spanContext().spanId);
    expect(parentOf(one('offer'))).toBe(commit.spanContext().spanId);
    expect(parentOf(one('accept'))).toBe(commit.spanContext().spanId);

    expect(store.instrumentationScope.name).toBe('gateway-mqtt');
    expect(raising?.instrumentationScope.name).toBe('triage');
    expect(commit.instrumentationScope.name).toBe('helpline');
    expect(store.kind).toBe(SpanKind.PRODUCER);
    expect(commit.kind).toBe(SpanKind.CONSUMER);
    for (const span of spans) {
      const ms = (span.duration[0] * 1e9 + span.duration[1]) / 1e6;
      expect(ms, span.name).toBeGreaterThanOrEqual(0);
    }
    console.log(
      [...spans]
        .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
        .map(
          (s) =>
            `${s.instrumentationScope.name} ${s.name} ${((s.duration[0] * 1e9 + s.duration[1]) / 1e6).toFixed(2)} ms`,
        )
        .join('\n'),
    );
  });

  it('starts the trace at the gateway when the device sends none', async () => {
    const before = new Set(exporter.getFinishedSpans().map((s) => s.spanContext().spanId));
    await device.send('heartbeat');
    const stores = await waitFor(
      () => {
        const fresh = exporter
          .getFinishedSpans()
          .filter((s) => s.name === 'gateway store' && !before.has(s.spanContext().spanId));
        return fresh.length > 0 ? fresh : undefined;
      },
      { what: 'the store span of the heartbeat' },
    );
    const root = stores[0] as ReadableSpan;
    expect(parentOf(root)).toBeUndefined();
    await waitFor(
      () =>
        exporter
          .getFinishedSpans()
          .some((s) => s.name === 'triage evaluate' && parentOf(s) === root.spanContext().spanId),
      { what: 'triage to continue the trace the gateway started' },
    );
  });
});

describe('the trace of a DC-09 frame', () => {
  it('starts at the frame (a root span) and reaches the case, which shows its trace id', async () => {
    const account = 'C7A1';
    const dcSerial = `${serial}-DC`;
    const home = { serial: dcSerial, residentId: await addHome(platform, dcSerial, 'home-unit') };
    await addDc09Account(platform, account, home);
    const dialler = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
    });
    await dialler.connect();
    try {
      const sent = await dialler.sendCid([{ kind: 'cid', qualifier: 1, code: '100', zone: '002' }]);
      expect(sent.reply).toBe('ACK');
    } finally {
      await dialler.close();
    }
    const frames = exporter.getFinishedSpans().filter((s) => s.name === 'dc09 frame');
    const frame = frames.at(-1) as ReadableSpan;
    expect(parentOf(frame)).toBeUndefined();
    expect(frame.instrumentationScope.name).toBe('gateway-dc09');
    const traceId = frame.spanContext().traceId;
    await waitFor(() => named(exporter.getFinishedSpans(), 'case commit', traceId).length > 0, {
      what: 'the case commit in the trace of the frame',
      timeoutMs: 15_000,
    });
    const evaluate = named(exporter.getFinishedSpans(), 'triage evaluate', traceId)[0];
    expect(parentOf(evaluate)).toBe(frame.spanContext().spanId);
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<HelplineCaseView[]>('/api/cases?state=open')).find(
          (c) => c.residentId === home.residentId,
        ),
      { what: 'the case of the frame' },
    );
    expect(opened.traceId).toBe(traceId);
  });
});

import { headers } from '@nats-io/transport-node';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import {
  activeTraceparent,
  injectTrace,
  inSpan,
  mqttTraceContext,
  natsTraceContext,
  startTracing,
  type Tracing,
  traceIdOf,
  tracesExporterOf,
  tracingEnabled,
} from './tracing.ts';

const DEVICE_TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracesExporterOf', () => {
  it('is off unless the OTEL_* variables ask for an exporter', () => {
    expect(tracesExporterOf({})).toBeUndefined();
    expect(
      tracesExporterOf({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }),
    ).toBe(undefined);
    expect(tracesExporterOf({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBeUndefined();
    expect(tracesExporterOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe('otlp');
    expect(tracesExporterOf({ OTEL_TRACES_EXPORTER: 'console' })).toBe('console');
  });

  it('refuses what it cannot read, by variable name', () => {
    expect(() => tracesExporterOf({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(ConfigError);
    expect(() => tracesExporterOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });
});

describe('tracing off', () => {
  it('loads nothing and runs the work as it is', async () => {
    const tracing = await startTracing({ serviceName: 'test', env: {} });
    expect(tracing.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
    expect(await inSpan('test', 'work', {}, async () => activeTraceparent())).toBeUndefined();
    // The trace a message came with is still passed on as it was.
    const h = headers();
    injectTrace(h, DEVICE_TRACE);
    expect(h.get('traceparent')).toBe(DEVICE_TRACE);
  });
});

describe('tracing on', () => {
  let tracing: Tracing | undefined;
  afterEach(async () => {
    await tracing?.shutdown();
    tracing = undefined;
  });

  it('continues a device trace from MQTT user properties across NATS headers', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = await startTracing({ serviceName: 'test', exporter });
    const h = headers();
    await inSpan(
      'gateway',
      'store',
      { parent: mqttTraceContext({ traceparent: DEVICE_TRACE }) },
      async () => {
        injectTrace(h);
      },
    );
    await inSpan('triage', 'evaluate', { parent: natsTraceContext(h) }, async () => {});
    const [store, evaluate] = exporter.getFinishedSpans();
    expect(store?.spanContext().traceId).toBe(traceIdOf(DEVICE_TRACE));
    expect(store?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(evaluate?.spanContext().traceId).toBe(traceIdOf(DEVICE_TRACE));
    expect(evaluate?.parentSpanContext?.spanId).toBe(store?.spanContext().spanId);
    expect(h.get('traceparent')).toContain(store?.spanContext().spanId);
  });

  it('starts a new trace when the message carries none, and records a failure', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = await startTracing({ serviceName: 'test', exporter });
    await expect(
      inSpan('gateway', 'store', { parent: mqttTraceContext({}) }, async () => {
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    const [span] = exporter.getFinishedSpans();
    expect(span?.parentSpanContext).toBeUndefined();
    expect(span?.status.code).toBe(2);
    expect(span?.events[0]?.name).toBe('exception');
  });
});

describe('traceIdOf', () => {
  it('reads the trace id of a well-formed traceparent only', () => {
    expect(traceIdOf(DEVICE_TRACE)).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(traceIdOf('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeNull();
    expect(traceIdOf('garbage')).toBeNull();
    expect(traceIdOf(undefined)).toBeNull();
  });
});

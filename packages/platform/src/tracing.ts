import type { MsgHdrs } from '@nats-io/transport-node';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

export type { Context as TraceContext, MsgHdrs };
export { SpanKind };
/** The parent of a span that starts a trace (a DC-09 frame, a device message without one). */
export const ROOT_TRACE: Context = ROOT_CONTEXT;

/**
 * The standard variables that decide whether this process traces. Left unset, nothing is loaded:
 * unlike the specification's default exporter (`otlp`), a process nobody configured does not send
 * spans to a collector that is not there. Sampling (`OTEL_TRACES_SAMPLER`, `…_ARG`), the endpoint
 * and its headers are read by the SDK and the OTLP exporter themselves.
 */
const TracingEnv = z.object({
  OTEL_SDK_DISABLED: z
    .enum(['true', 'false', 'TRUE', 'FALSE', ''])
    .optional()
    .transform((v) => v?.toLowerCase() === 'true'),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none', '']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
});

export type TracesExporterKind = 'otlp' | 'console';

/** Which exporter the environment asks for, or `undefined` for none (tracing off). */
export function tracesExporterOf(
  env: NodeJS.ProcessEnv,
  service = 'tracing',
): TracesExporterKind | undefined {
  const parsed = TracingEnv.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      service,
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  }
  const e = parsed.data;
  if (e.OTEL_SDK_DISABLED || e.OTEL_TRACES_EXPORTER === 'none') return undefined;
  if (e.OTEL_TRACES_EXPORTER === 'otlp' || e.OTEL_TRACES_EXPORTER === 'console')
    return e.OTEL_TRACES_EXPORTER;
  return e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : undefined;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Exports every ended span now (tests and the benchmark read the exporter after it). */
  flush(): Promise<void>;
  /** Flushes and unregisters: the API's no-op tracer is in force again. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

/** Whether a tracer provider is registered: when not, the helpers below do nothing at all. */
let enabled = false;

export const tracingEnabled = (): boolean => enabled;

/**
 * Starts the OpenTelemetry Node SDK for this process if the `OTEL_*` variables ask for it (or an
 * exporter is passed, as tests and the benchmark do). Off, the SDK is never imported and spans
 * are not even started. One per process: the provider is the API's global.
 */
export async function startTracing(options: {
  serviceName: string;
  env?: NodeJS.ProcessEnv;
  /** Spans go here, one by one as they end, instead of to the exporter the environment names. */
  exporter?: SpanExporter;
}): Promise<Tracing> {
  const env = options.env ?? process.env;
  const kind = options.exporter ? undefined : tracesExporterOf(env, options.serviceName);
  if (!options.exporter && !kind) return OFF;
  if (enabled) throw new Error('tracing is already started in this process');
  const [{ NodeTracerProvider }, base, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  let processor: InstanceType<typeof base.SimpleSpanProcessor | typeof base.BatchSpanProcessor>;
  if (options.exporter) processor = new base.SimpleSpanProcessor(options.exporter);
  else if (kind === 'console') processor = new base.SimpleSpanProcessor(new base.ConsoleSpanExporter());
  else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processor = new base.BatchSpanProcessor(new OTLPTraceExporter());
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? options.serviceName }),
    spanProcessors: [processor],
  });
  // Also installs the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  enabled = true;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    async shutdown() {
      enabled = false;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const headerGetter: TextMapGetter<MsgHdrs> = {
  keys: (h) => h.keys(),
  get: (h, key) => h.get(key) || undefined,
};
const headerSetter: TextMapSetter<MsgHdrs> = { set: (h, key, value) => h.set(key, value) };

/** MQTT v5 user properties as mqtt.js gives them: a repeated property is an array. */
export type UserProperties = Record<string, string | string[]>;

const propertiesGetter: TextMapGetter<UserProperties> = {
  keys: (p) => Object.keys(p),
  get: (p, key) => p[key],
};

/** The trace a NATS message carries in its headers (`traceparent`), or none. */
export function natsTraceContext(h: MsgHdrs | undefined): Context {
  if (!enabled || !h) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, h, headerGetter);
}

/** The trace a device sent in its MQTT v5 user properties, or none. */
export function mqttTraceContext(properties: UserProperties | undefined): Context {
  if (!enabled || !properties) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, properties, propertiesGetter);
}

/** The trace of a stored `traceparent` (an event's or a case's), or none. */
export function traceparentContext(traceparent: string | undefined): Context {
  if (!enabled || !traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent }, propertiesGetter);
}

/** The active span's `traceparent`, to store or send on; `undefined` when not tracing. */
export function activeTraceparent(): string | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/**
 * Puts the active span's trace context into NATS headers. Not tracing, the `traceparent` the
 * message came with (if any) is copied as it was, so a collector further on still joins the hops.
 */
export function injectTrace(h: MsgHdrs, passOn?: string): void {
  if (enabled) propagation.inject(context.active(), h, headerSetter);
  else if (passOn) h.set('traceparent', passOn);
}

/** The 32-hex trace id of a `traceparent`, or null. */
export function traceIdOf(traceparent: string | undefined | null): string | null {
  const m = traceparent ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent) : null;
  return m?.[1] && !/^0+$/.test(m[1]) ? m[1] : null;
}

export interface SpanOptions {
  /** The trace this span continues; the active context when omitted. */
  readonly parent?: Context;
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
}

/**
 * Runs `work` inside a span named `name` of the `scope` tracer (the service): the span is active
 * while it runs, ends when it settles, and records a failure. Not tracing, it is `work()`.
 */
export function inSpan<T>(
  scope: string,
  name: string,
  options: SpanOptions,
  work: () => Promise<T>,
): Promise<T> {
  if (!enabled) return work();
  const parent = options.parent ?? context.active();
  return trace.getTracer(scope).startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
    async (span) => {
      try {
        return await work();
      } catch (err) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Records a span that has already happened (an offer the scheduler made, an operator's accept),
 * from `start` to `end` (epoch ms), under `parent`. Not tracing, nothing.
 */
export function recordSpan(
  scope: string,
  name: string,
  options: SpanOptions & { readonly start: number; readonly end: number },
): void {
  if (!enabled) return;
  const span = trace.getTracer(scope).startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      startTime: options.start,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    options.parent ?? context.active(),
  );
  span.end(options.end);
}

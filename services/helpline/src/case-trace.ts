import { recordSpan, SpanKind, traceparentContext, tracingEnabled } from '@telecare/platform';
import { SERVICE } from './ingest.ts';
import type { CaseStore } from './store/index.ts';

/**
 * Records a step a case went through (`offer`, `accept`) as a span of the trace its alert was
 * committed in, from `start` to `end` (epoch ms). Reads the case only when tracing is on.
 */
export async function traceCaseStep(
  store: Pick<CaseStore, 'get'>,
  caseId: string,
  name: 'offer' | 'accept',
  start: number,
  end: number,
): Promise<void> {
  if (!tracingEnabled()) return;
  const stored = await store.get(caseId);
  if (!stored?.traceparent) return;
  recordSpan(SERVICE, name, {
    parent: traceparentContext(stored.traceparent),
    kind: SpanKind.INTERNAL,
    start,
    end,
    attributes: { 'telecare.case.id': caseId },
  });
}

import { Counter, createMetrics, Gauge, Histogram } from '@telecare/platform';

export type HelplineMetrics = {
  readonly registry: ReturnType<typeof createMetrics>;
  readonly alertsIngested: Counter<'priority' | 'outcome'>;
  readonly duplicates: Counter;
  readonly cut: Counter;
  readonly refused: Counter<'reason'>;
  readonly securityEventsRead: Counter<'service' | 'outcome'>;
  readonly retried: Counter;
  readonly casesOpened: Counter<'priority'>;
  readonly casesJoined: Counter;
  readonly autoResolved: Counter<'outcome'>;
  readonly commitSeconds: Histogram;
  readonly answerSeconds: Histogram<'priority'>;
  readonly transitions: Counter<'action'>;
  readonly transitionsRefused: Counter<'action' | 'reason'>;
  readonly published: Counter;
  readonly streamClients: Gauge;
  readonly streamsRefused: Counter;
  readonly streamsStalled: Counter;
  readonly streamSnapshots: Counter;
  readonly timerEvents: Counter<'kind'>;
  readonly handovers: Counter<'outcome'>;
  readonly logins: Counter<'outcome'>;
  readonly revealsRefused: Counter<'reason'>;
  readonly contextReadsRefused: Counter;
  readonly queueNamesRefused: Counter;
  readonly notesRefused: Counter;
  readonly factsRefused: Counter;
  readonly requestsRefused: Counter;
  readonly caseInHandReadsRefused: Counter;
  readonly caseWritesRefused: Counter;
  readonly budgetFallbacks: Counter<'budget'>;
  readonly supervisorControlsRefused: Counter;
  readonly staffListRefused: Counter;
  readonly overviewRefused: Counter;
  readonly unmappedReads: Counter;
  readonly unmappedMessages: Counter;
};

/** One registry per service instance, so a restarted instance in the same process starts clean. */
export function createHelplineMetrics(registry = createMetrics('helpline')): HelplineMetrics {
  const registers = [registry];
  return {
    registry,
    alertsIngested: new Counter({
      name: 'helpline_alerts_ingested_total',
      help: 'Alerts committed to a case, by priority and what happened (opened, joined, closing, record, test)',
      labelNames: ['priority', 'outcome'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'helpline_alert_duplicates_total',
      help: 'Alerts already recorded (redelivery or republish); nothing changed',
      registers,
    }),
    cut: new Counter({
      name: 'helpline_alerts_cut_total',
      help: 'Alerts whose reason, evidence or thresholds were cut to the bounds a case keeps',
      registers,
    }),
    refused: new Counter({
      name: 'helpline_alerts_refused_total',
      help: 'Alert messages dead-lettered, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    retried: new Counter({
      name: 'helpline_alerts_retried_total',
      help: 'Alert messages left unacknowledged after a transient failure, to be redelivered',
      registers,
    }),
    casesOpened: new Counter({
      name: 'helpline_cases_opened_total',
      help: 'Cases opened (test-mode alerts excluded)',
      labelNames: ['priority'] as const,
      registers,
    }),
    casesJoined: new Counter({
      name: 'helpline_cases_joined_total',
      help: 'Alerts that joined an open case of the same resident',
      registers,
    }),
    autoResolved: new Counter({
      name: 'helpline_cases_auto_resolved_total',
      help: 'Cases resolved before anyone accepted them by a closing alert (a cancel in the pre-alarm window, a technical restore)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    commitSeconds: new Histogram({
      name: 'helpline_case_commit_seconds',
      help: 'Time to commit an alert to its case in PostgreSQL',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    answerSeconds: new Histogram({
      name: 'helpline_answer_seconds',
      help: 'Answer clock: from the alarm raised to the case first accepted, by priority',
      labelNames: ['priority'] as const,
      buckets: [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800],
      registers,
    }),
    transitions: new Counter({
      name: 'helpline_case_transitions_total',
      help: 'Operator actions applied, by action',
      labelNames: ['action'] as const,
      registers,
    }),
    transitionsRefused: new Counter({
      name: 'helpline_case_transitions_refused_total',
      help: 'Operator actions refused (invalid request or state), by action and reason',
      labelNames: ['action', 'reason'] as const,
      registers,
    }),
    published: new Counter({
      name: 'helpline_case_events_published_total',
      help: 'Case events confirmed stored in CASES',
      registers,
    }),
    streamClients: new Gauge({
      name: 'helpline_stream_clients',
      help: 'Open server-sent event streams',
      registers,
    }),
    streamsRefused: new Counter({
      name: 'helpline_streams_refused_total',
      help: 'Streams refused because their user already held STREAMS_PER_PRINCIPAL on this instance',
      registers,
    }),
    streamsStalled: new Counter({
      name: 'helpline_streams_stalled_total',
      help: 'Streams ended because their client stopped taking data (nothing sent drained for twice PRESENCE_TIMEOUT_S, or more than 32 MiB waiting)',
      registers,
    }),
    streamSnapshots: new Counter({
      name: 'helpline_stream_snapshots_total',
      help: 'Open-case snapshots read for new streams (one read serves every stream that waits for it)',
      registers,
    }),
    timerEvents: new Counter({
      name: 'helpline_timer_events_total',
      help: 'Case events from timers: offers, expired offers, call-backs due, escalations',
      labelNames: ['kind'] as const,
      registers,
    }),
    handovers: new Counter({
      name: 'helpline_overflow_handovers_total',
      help: 'Attempts to hand an unanswered P1 to the partner centre, by outcome (delivered, refused, withdrawn, not-configured, failed: tried again)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    logins: new Counter({
      name: 'helpline_logins_total',
      help: 'Console logins, by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    revealsRefused: new Counter({
      name: 'helpline_reveals_refused_total',
      help: 'Reveals refused: case (not open, or not held by the caller) or rate-limited',
      labelNames: ['reason'] as const,
      registers,
    }),
    contextReadsRefused: new Counter({
      name: 'helpline_context_reads_refused_total',
      help: "Reads of a resident's case, context or numbers to call refused: past CONTEXT_READS_PER_HOUR residents outside the reader's own cases",
      registers,
    }),
    queueNamesRefused: new Counter({
      name: 'helpline_queue_names_refused_total',
      help: 'Calls of GET /api/queue/names refused: past QUEUE_NAMES_PER_MINUTE by one person',
      registers,
    }),
    notesRefused: new Counter({
      name: 'helpline_notes_refused_total',
      help: "Notes, responders' answers and 999 call records refused: past NOTES_PER_MINUTE by one person",
      registers,
    }),
    factsRefused: new Counter({
      name: 'helpline_facts_refused_total',
      help: 'Facts recorded on cases refused: past FACTS_PER_MINUTE by one person',
      registers,
    }),
    requestsRefused: new Counter({
      name: 'helpline_requests_refused_total',
      help: 'Reads refused by this instance: past REQUESTS_PER_MINUTE by one person (reads of a case in their hand excepted)',
      registers,
    }),
    caseInHandReadsRefused: new Counter({
      name: 'helpline_case_in_hand_reads_refused_total',
      help: "Reads of a case in the reader's hand (held or offered) refused by this instance: past CASE_IN_HAND_READS_PER_MINUTE by one person",
      registers,
    }),
    caseWritesRefused: new Counter({
      name: 'helpline_case_writes_refused_total',
      help: 'Writes on cases refused by this instance: past CASE_WRITES_PER_MINUTE by one person',
      registers,
    }),
    budgetFallbacks: new Counter({
      name: 'helpline_request_budget_fallbacks_total',
      help: "Requests counted against a read or write budget in this instance's memory because PostgreSQL, where every instance counts them, did not answer in time, per budget (reads, in-hand, writes)",
      labelNames: ['budget'],
      registers,
    }),
    supervisorControlsRefused: new Counter({
      name: 'helpline_supervisor_controls_refused_total',
      help: 'Presences set and sign-outs of other people refused: past SUPERVISOR_CONTROLS_PER_HOUR by one person',
      registers,
    }),
    staffListRefused: new Counter({
      name: 'helpline_staff_list_refused_total',
      help: 'Calls of GET /api/users refused: past STAFF_LIST_PER_MINUTE by one person',
      registers,
    }),
    securityEventsRead: new Counter({
      name: 'helpline_security_events_read_total',
      help: "Other services' security events read from SECURITY, by service and outcome (stored, duplicate, capped)",
      labelNames: ['service', 'outcome'] as const,
      registers,
    }),
    overviewRefused: new Counter({
      name: 'helpline_overview_refused_total',
      help: 'Calls of GET /api/supervisor/overview refused: past OVERVIEW_PER_MINUTE by one person',
      registers,
    }),
    unmappedReads: new Counter({
      name: 'helpline_unmapped_reads_total',
      help: "Reads of EVENTS for the supervisor overview's unmapped codes (shared by the overviews asking at once)",
      registers,
    }),
    unmappedMessages: new Counter({
      name: 'helpline_unmapped_messages_read_total',
      help: "Messages read from EVENTS for the supervisor overview's unmapped codes",
      registers,
    }),
  };
}
